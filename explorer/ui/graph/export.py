"""One renderer for the graph, serving both the window's Export… and ``cnn-explorer graph``.

A file is drawn from the view and its layout on a fresh scene, never from the scene on
screen: so the whole graph is written (not the viewport), with the theme's colours (and a
metric overlay's, when the nodes are coloured by one) and none of the window's marks
(selection, stepper highlight, search hits); without an overlay the window's file is the
CLI's file byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.errors import UserError
from explorer.graph.collapse import ViewGraph
from explorer.graph.layout import Layout
from explorer.graph.model_graph import ModelGraph

if TYPE_CHECKING:
    from PySide6.QtGui import QColor

SUFFIXES = (".svg", ".png", ".json")
PNG_SCALES = (1.0, 2.0, 4.0)

# The save dialog's choices: (filter text, suffix, PNG scale). The PNG scale is chosen
# with the filter, so saving is one dialog and not two.
FILE_CHOICES = (
    ("SVG drawing, vector with text (*.svg)", ".svg", 1.0),
    *((f"PNG image ×{s:g} (*.png)", ".png", s) for s in PNG_SCALES),
    ("JSON graph data (*.json)", ".json", 1.0),
)


def export_view(graph: ModelGraph, view: ViewGraph, layout: Layout, path: str | Path, *,
                theme: str = "light", scale: float = 1.0, tints: dict[str, QColor] | None = None) -> Path:
    """Write what is drawn for ``view`` to an SVG, PNG (at ``scale``) or JSON file.

    The file is drawn whole in memory and written atomically (a full disk leaves the
    previous file intact and no partial one), never into the app's own folders.
    ``tints``: the fill of units a metric overlay colours ("Colour by"), as on screen.

    Raises:
        UserError: the suffix is not .svg, .png or .json, the path is refused
            (``exports.check_export_path``), or the file cannot be written.
    """
    from explorer.exports import check_export_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"cannot export to {path.name}: use a .svg, .png or .json file name")
    path = check_export_path(path)
    if suffix == ".json":
        from explorer.graph.export import view_document, write_json

        write_json(view_document(graph, view, layout), path)
        return path
    from explorer.ui.graph.scene import GraphScene, render_scene

    scene = GraphScene(theme)
    try:
        scene.populate(view, layout)
        if tints:
            scene.set_node_tints({unit: (colour, "") for unit, colour in tints.items()})
        return render_scene(scene, path, scale=scale)
    finally:
        scene.clear_items()
        scene.deleteLater()


def export_offscreen(graph: ModelGraph, view: ViewGraph, layout: Layout, path: str | Path, *,
                     theme: str = "light", scale: float = 1.0) -> Path:
    """:func:`export_view` outside the window (``cnn-explorer graph --out FILE.svg``): starts
    an off-screen Qt application when none runs. The CLI hands this to the graph command."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["cnn-explorer"])  # noqa: F841 (kept alive while drawing)
    return export_view(graph, view, layout, path, theme=theme, scale=scale)


def choice_for_filter(selected_filter: str, path: str) -> tuple[str, float]:
    """The path (with the chosen filter's suffix when it has none) and the PNG scale."""
    for text, suffix, scale in FILE_CHOICES:
        if text == selected_filter:
            if not Path(path).suffix:
                path += suffix
            return path, scale if Path(path).suffix.lower() == ".png" else 1.0
    return path, 1.0
