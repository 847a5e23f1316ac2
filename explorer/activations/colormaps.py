"""Colour maps as 256-entry RGBA lookup tables, without matplotlib or Qt.

The anchors are 17 evenly spaced samples of each published map, linearly interpolated:
viridis and inferno (CC0, Smith and van der Walt), and a cool-warm diverging map after
Moreland's endpoints for signed values. The same tables colour the GUI mosaic and the PNG
that ``cnn-explorer inspect --out`` writes, so both look alike.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_ANCHORS: dict[str, list[tuple[int, int, int]]] = {
    "viridis": [
        (68, 1, 84), (72, 24, 106), (71, 45, 123), (66, 64, 134), (59, 82, 139),
        (51, 99, 141), (44, 114, 142), (38, 130, 142), (33, 145, 140), (31, 159, 136),
        (39, 173, 129), (61, 188, 116), (92, 200, 99), (129, 211, 77), (170, 220, 50),
        (213, 226, 26), (253, 231, 37),
    ],
    "inferno": [
        (0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110),
        (138, 34, 106), (163, 44, 97), (188, 55, 84), (208, 69, 69), (227, 89, 51),
        (241, 113, 31), (249, 140, 10), (252, 170, 15), (249, 201, 50), (242, 232, 101),
        (252, 255, 164),
    ],
    "gray": [(0, 0, 0), (255, 255, 255)],
    # Diverging: blue below zero, light grey at zero, red above (symmetric scale).
    "coolwarm": [
        (59, 76, 192), (98, 130, 234), (141, 176, 254), (184, 208, 249), (221, 221, 221),
        (245, 196, 173), (244, 154, 123), (222, 96, 77), (180, 4, 38),
    ],
}

#: Names offered in the GUI and the CLI, the default first.
COLORMAPS: tuple[str, ...] = tuple(_ANCHORS)
#: Maps meant for signed data: scaled symmetrically so that zero sits in the middle.
DIVERGING: frozenset[str] = frozenset({"coolwarm"})


@lru_cache(maxsize=None)
def lookup_table(name: str) -> np.ndarray:
    """A (256, 4) uint8 RGBA table for colour map ``name``.

    Raises:
        KeyError: unknown colour map (callers offer only ``COLORMAPS``).
    """
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(anchors))
    samples = np.linspace(0.0, 1.0, 256)
    table = np.empty((256, 4), dtype=np.uint8)
    for channel in range(3):
        table[:, channel] = np.rint(np.interp(samples, positions, anchors[:, channel]))
    table[:, 3] = 255
    table.setflags(write=False)
    return table
