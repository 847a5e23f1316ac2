"""Light and dark themes from resources/theme/*.json: the app palette and the graph's colours.

The graph is data; colour is style: nodes carry a category, and only this module turns a
category (or block type) into a colour.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from explorer.errors import UserError

THEMES = ("light", "dark")


def _resources() -> Path:
    try:
        from explorer.resources import resource_path
    except ImportError:
        return Path(__file__).resolve().parents[2] / "resources"
    return Path(resource_path("theme")).parent


@functools.lru_cache(maxsize=None)
def load_theme(name: str) -> dict[str, Any]:
    """The theme's JSON document.

    Raises:
        UserError: no theme of that name, or its file is unreadable.
    """
    if name not in THEMES:
        raise UserError(f"unknown theme {name!r}; choose {' or '.join(THEMES)}")
    path = _resources() / "theme" / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read theme file {path}: {exc}") from None


def color(value: str) -> QColor:
    """``#rrggbb`` or ``#rrggbbaa`` (CSS order, unlike Qt's ``#aarrggbb``)."""
    if len(value) == 9 and value.startswith("#"):
        c = QColor(value[:7])
        c.setAlpha(int(value[7:], 16))
        return c
    return QColor(value)


def category_color(category: str, theme: str, block_type: str | None = None) -> QColor:
    """Fill colour of a node of ``category`` (a closed block: of its ``block_type``)."""
    data = load_theme(theme)
    if block_type and block_type in data["blocks"]:
        return color(data["blocks"][block_type])
    return color(data["categories"].get(category, data["categories"]["other"]))


def graph_color(key: str, theme: str) -> QColor:
    return color(load_theme(theme)["graph"][key])


def edge_style(kind: str, theme: str) -> dict[str, Any]:
    edges = load_theme(theme)["edges"]
    return edges.get(kind, edges["plain"])


# Secondary text (counts, notes, "loading…" lines): the palette's placeholder colour, which
# each theme keeps readable on its window colour (contrast at least 4.5, WCAG AA).
SECONDARY_ROLE = QPalette.ColorRole.PlaceholderText


def secondary(widget: QWidget) -> QWidget:
    """Write ``widget``'s text (a label's) in the theme's secondary colour.

    A palette role, not a style sheet colour: it follows every later theme change, and
    ``palette(mid)`` (a frame shade, not a text colour) was nearly invisible on dark.
    """
    widget.setForegroundRole(SECONDARY_ROLE)
    return widget


def palette(name: str) -> QPalette:
    pal = QPalette()
    for role_name, value in load_theme(name)["palette"].items():
        role = getattr(QPalette.ColorRole, role_name)
        c = color(value)
        pal.setColor(QPalette.ColorGroup.All, role, c)
        if role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                    QPalette.ColorRole.ButtonText):
            dim = QColor(c)
            dim.setAlpha(110)
            pal.setColor(QPalette.ColorGroup.Disabled, role, dim)
    return pal


# Fusion outlines an unchecked box in the window colour darkened: on a dark window that is
# black on black. Only the unchecked state is restyled; checked boxes keep Fusion's tick.
_UNCHECKED_QSS = (
    "QCheckBox::indicator:unchecked, QAbstractItemView::indicator:unchecked,"
    " QGroupBox::indicator:unchecked {{ border: 1px solid {border}; border-radius: 2px;"
    " background: {base}; width: 12px; height: 12px; }}"
)


def apply_theme(app: QApplication, name: str) -> None:
    """Give the whole application the theme: palette (Fusion style, which follows it),
    visible unchecked boxes, and every plot, mosaic and kernel view (see style_plots)."""
    pal = palette(name)
    app.setStyle("Fusion")
    app.setPalette(pal)
    data = load_theme(name)
    app.setStyleSheet(_UNCHECKED_QSS.format(border=data["graph"]["node_border"],
                                            base=data["palette"]["Base"]) if name == "dark" else "")
    style_plots(app, name)


def style_plots(app: QApplication, name: str) -> None:
    """Colour pyqtgraph's views from the theme: plots on the base colour with axes, titles
    and legends in the text colour; image panes (mosaic, kernels) on the window colour.

    pyqtgraph paints its own background, which the palette does not reach; this is the one
    place that sets it, for views made from now on (config options) and those that exist.
    """
    import pyqtgraph as pg

    pal = palette(name)
    base = pal.color(QPalette.ColorRole.Base)
    window = pal.color(QPalette.ColorRole.Window)
    text = pal.color(QPalette.ColorRole.WindowText)
    pg.setConfigOptions(background=base, foreground=text)
    for widget in app.allWidgets():
        if not isinstance(widget, pg.GraphicsView):
            continue
        plots = _plot_items(widget)
        widget.setBackground(base if plots else window)
        for plot in plots:
            for side in ("left", "bottom", "right", "top"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
                if axis.labelText:
                    axis.setLabel(axis.labelText, axis.labelUnits, color=text.name())
            if plot.titleLabel.text:
                plot.setTitle(_plain(plot.titleLabel.text), color=text.name())
            legend = plot.legend
            if legend is not None:
                legend.setLabelTextColor(text)
                fill = QColor(base)
                fill.setAlpha(200)
                legend.setBrush(fill)


def _plot_items(view) -> list:
    import pyqtgraph as pg

    if isinstance(view, pg.PlotWidget):
        return [view.getPlotItem()]
    layout = getattr(view, "ci", None)
    return [item for item in getattr(layout, "items", {}) if isinstance(item, pg.PlotItem)]


def _plain(html: str) -> str:
    """A title's text without the colour span a view may have wrapped it in."""
    import re

    return re.sub(r"<[^>]+>", "", html)
