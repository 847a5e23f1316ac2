"""The Architecture tab's layout: the graph over its layer details, beside the feature maps."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QWidget


def explore_page(graph_panel, feature_panel, graph_view: QWidget | None = None) -> QWidget:
    """The graph beside the feature maps, so the highlighted node and its maps are seen
    together; the layer details (a short table and the paper's note) sit under the graph
    instead of in a column of their own, which leaves the graph its width.

    ``graph_view`` is what shows the graph panel (the panel with the metric overlay's bar
    above it); the panel itself when not given."""
    graph_column = QSplitter(Qt.Orientation.Vertical)
    graph_column.addWidget(graph_view or graph_panel)
    graph_column.addWidget(graph_panel.details_widget)
    graph_panel.details_widget.setMaximumWidth(16777215)
    graph_column.setStretchFactor(0, 3)
    graph_column.setStretchFactor(1, 1)
    graph_column.setSizes([700, 160])  # the graph first: the details scroll
    explore = QSplitter(Qt.Orientation.Horizontal)
    explore.addWidget(graph_column)
    # The maps scroll rather than forcing their height and width on the window, which so
    # holds from 1024x700. About as wide as the panel needs (its notice and image row), so
    # in practice only the height scrolls; a constant, as the panel's own minimum changes
    # with what it shows.
    feature_scroll = QScrollArea()
    feature_scroll.setObjectName("feature-scroll")
    feature_scroll.setWidget(feature_panel)
    feature_scroll.setWidgetResizable(True)
    feature_scroll.setFrameShape(QFrame.Shape.NoFrame)
    feature_scroll.setMinimumWidth(440)
    explore.addWidget(feature_scroll)
    explore.setStretchFactor(0, 1)
    explore.setStretchFactor(1, 1)
    explore.setSizes([580, 600])
    return explore
