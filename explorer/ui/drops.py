"""Files dropped anywhere on the window reach the widget that opens them.

A ``QGraphicsView`` (the graph, its minimap, every pyqtgraph chart) takes each drag for its
scene, and a scene whose items take none refuses the drop: a file dropped on the graph or on
a chart showed the "no entry" cursor and was ignored. None of the app's views takes drops
of its own, so each passes them on; Qt then offers the drag to the widgets around the view:
the feature-map panel for images, the window for model files.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGraphicsView


def pass_drops_on(view: QGraphicsView) -> None:
    """Let drags over ``view`` go to the widgets that hold it."""
    view.setAcceptDrops(False)
    view.viewport().setAcceptDrops(False)
