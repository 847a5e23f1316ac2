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
# A name too wide for its box first shrinks, down to SHORT_NAME_FLOOR_PX on screen, and
# only then loses letters (issue 19: "×22 Bottleneck" whole rather than "×22 …neck").
LOD_DETAIL = 0.8
SHORT_NAME_MIN_PX = 10.0
SHORT_NAME_FLOOR_PX = 5.5
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


def fit_name(name: str, base: QFont, pixels: int, level: float, width: float) -> tuple[int, str]:
    """(font pixel size, text) for ``name`` in ``width`` scene units at zoom ``level``,
    starting from ``pixels``: the name whole in a smaller font as long as that stays
    SHORT_NAME_FLOOR_PX tall on screen, else at that size with letters cut (``elide_name``)."""
    floor = min(pixels, int(SHORT_NAME_FLOOR_PX / max(level, 1e-3)) + 1)
    metrics = pixel_font(base, pixels)[1]
    wide = metrics.horizontalAdvance(name)
    if wide > width:
        size = max(floor, int(pixels * width / wide))
        while size > floor and pixel_font(base, size)[1].horizontalAdvance(name) > width:
            size -= 1  # glyph widths do not scale exactly with the size
        pixels = size
        metrics = pixel_font(base, pixels)[1]
    return pixels, elide_name(name, metrics, width)


# The parts of a name: words and numbers after ".", "_" or " " ("conv1_gpu1.conv" is
# "conv1", "_gpu1", ".conv"); a repeat's " #2" stays with the part it numbers.
_PARTS = re.compile(r"[._ ]?[^._ ]+(?: #\d+)?")
# A word and the index that ends it ("denselayer" and "1", "inception" and "3a").
_INDEXED = re.compile(r"^(.*[^\W\d])(\d+[a-z]?)$")


def elide_name(name: str, metrics: QFontMetricsF, width: float) -> str:
    """``name`` as it fits ``width``, keeping the tail that tells it from its neighbours.

    In order, the first that fits:

    - the whole name;
    - its leading parts replaced by "…", down to the last part that holds a number
      and a word: the lane, index or number that differs stays whole ("…gpu1.conv" for
      AlexNet's lanes, which read "conv…conv" before; "…5b" for Mixed_5b; a bare "3" leans
      on its word, so "features.3" and "layer1.0" keep both);
    - that part's word losing its start, its end and index kept ("…layer1": DenseNet's
      "dense…1" could have been a dense block or a dense layer);
    - a leading count kept whole and the word after it cut at its end ("×22 Bottle…");
    - without any number, the name's middle cut.
    """
    def fits(text: str) -> bool:
        return metrics.horizontalAdvance(text) <= width

    if fits(name):
        return name
    parts = _PARTS.findall(name)
    numbered = [i for i, p in enumerate(parts) if any(c.isdigit() for c in p)]
    if "".join(parts) != name or not numbered:
        return metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width)
    key = numbered[-1]
    while key > 0 and not any(c.isalpha() for c in parts[key].split(" #")[0]):
        key -= 1  # "3" of features.3 says nothing without "features"
    for start in range(1, key + 1):
        tail = "…" + "".join(parts[start:]).lstrip("._ ")
        if fits(tail):
            return tail
    lead = "…" if key else ""
    head, rest = parts[key].lstrip("._ "), "".join(parts[key + 1:])
    room = width - metrics.horizontalAdvance(lead + rest)
    found = _INDEXED.match(head.split(" #")[0])
    if found:
        word, index = found.groups()
        index = head[len(word):]  # with a repeat's " #2"
        room -= metrics.horizontalAdvance(index)
        cut = metrics.elidedText(word, Qt.TextElideMode.ElideLeft, room) if room > 0 else ""
        text = (lead + (cut or "…")).replace("……", "…") + index + rest  # at least "…1.dropout"
        if fits(text):
            return text
    elif not any(c.isalpha() for c in head) and rest:  # a count: "×22 Bottleneck"
        room = width - metrics.horizontalAdvance(lead + head)
        if room >= metrics.horizontalAdvance(rest[:2] + "…"):
            return lead + head + metrics.elidedText(rest, Qt.TextElideMode.ElideRight, room)
    return metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width)
