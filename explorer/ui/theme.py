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
from PySide6.QtWidgets import QApplication

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


def apply_theme(app: QApplication, name: str) -> None:
    """Give the whole application the theme's palette (Fusion style, which follows it)."""
    pal = palette(name)
    app.setStyle("Fusion")
    app.setPalette(pal)
