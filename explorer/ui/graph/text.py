"""How the graph's items write text: fonts made once, and how much a node writes at a zoom.

Qt's 40,000-chip demo draws less as the level of detail drops; here a node never drops
its name, it only drops the detail around it (issue 11: labels stay readable at any zoom).
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

# How much text a node writes depends on how big it is on screen, never on zoom alone:
# from LOD_DETAIL up the title and its subtitles (7.5 pt subtitles are then >= 8 px tall);
# below it the short name only, in a font grown to stay readable (at least
# SHORT_NAME_MIN_PX on screen) as long as it fits the box; below a box of
# MIN_LABEL_BOX_PX on screen there is no room for a letter (the minimap, a far zoom).
LOD_DETAIL = 0.8
SHORT_NAME_MIN_PX = 10.0
MIN_LABEL_BOX_PX = 7.0
# Edges' arrow heads, frames' titles and glyph texts: below this they are noise.
LOD_TEXT = 0.4
LOD_EDGE_LABEL = 0.85


def lod(painter: QPainter) -> float:
    """The painter's level of detail: how many screen pixels one scene unit takes."""
    return QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())


# Paint runs for every visible item on every repaint: fonts and their metrics are made
# once per (base font, size, weight), not per call.
_FONTS: dict[tuple[str, float, bool], tuple[QFont, QFontMetricsF]] = {}
_PIXEL_FONTS: dict[tuple[str, int], tuple[QFont, QFontMetricsF]] = {}


def font(base: QFont, size: float, bold: bool = False) -> tuple[QFont, QFontMetricsF]:
    key = (base.key(), size, bold)
    found = _FONTS.get(key)
    if found is None:
        made = QFont(base)
        made.setPointSizeF(size)
        made.setBold(bold)
        found = _FONTS[key] = (made, QFontMetricsF(made))
    return found


def pixel_font(base: QFont, pixels: int) -> tuple[QFont, QFontMetricsF]:
    """A font ``pixels`` scene units tall (the short names' font, sized per zoom step)."""
    key = (base.key(), pixels)
    found = _PIXEL_FONTS.get(key)
    if found is None:
        made = QFont(base)
        made.setPixelSize(pixels)
        found = _PIXEL_FONTS[key] = (made, QFontMetricsF(made))
    return found


def short_name_pixels(level: float, box_height: float) -> int:
    """Scene-unit pixel size of a node's short name at zoom ``level``: SHORT_NAME_MIN_PX on
    screen, at least the detailed title's size, and at most what the box holds.

    Quantised to whole steps of 2 so elided texts are cached per step, not per wheel tick.
    """
    wanted = max(12.0, SHORT_NAME_MIN_PX / max(level, 1e-3))
    return int(min(wanted, box_height * 0.5)) // 2 * 2 or 2


# A name's trailing index ("3a" of inception3a, "1" of denseblock1): what tells the blocks
# of one kind apart, so a name too wide for its box keeps it whole.
_INDEXED = re.compile(r"^(.*[^\W\d])(\d+[a-z]?)$")


def elide_name(name: str, metrics: QFontMetricsF, width: float) -> str:
    """``name`` as it fits ``width``: whole if it can be, else its word shortened and its
    index kept ("incep…3a", where Qt's middle elision gives "inc…n3a"); names without an
    index lose their middle."""
    if metrics.horizontalAdvance(name) <= width:
        return name
    found = _INDEXED.match(name)
    if found:
        head, index = found.groups()
        room = width - metrics.horizontalAdvance(index)
        if room >= metrics.horizontalAdvance(head[0] + "…"):
            return metrics.elidedText(head, Qt.TextElideMode.ElideRight, room) + index
    return metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width)
