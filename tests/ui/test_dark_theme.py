"""Both themes reach what the walk found unthemed: secondary text is readable on the window
in light and dark (contrast at least 4.5, WCAG AA, measured on the pixels drawn), and the
minimap repaints in the theme and the overlay's colours as the main view does."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from PySide6.QtCore import QPoint, QPointF
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QLabel, QWidget
from torch import nn

from explorer.session import Session
from explorer.ui.theme import apply_theme, category_color

from .contrast import AA, contrast


def drawn_contrast(window: QWidget, label: QLabel) -> float:
    """Contrast of ``label``'s text as drawn in ``window``: its most contrasting pixel
    against the background around it (the commonest colour of its area)."""
    image: QImage = window.grab().toImage()
    top_left = label.mapTo(window, QPoint(0, 0))
    pixels = [image.pixelColor(top_left.x() + x, top_left.y() + y)
              for x in range(label.width()) for y in range(label.height())]
    background = QColor(Counter(p.rgb() for p in pixels).most_common(1)[0][0])
    return max(contrast(p, background) for p in pixels)


@pytest.fixture
def theme(qapp):
    """``theme(name)`` gives the application that theme; light again afterwards."""
    yield lambda name: apply_theme(qapp, name)
    apply_theme(qapp, "light")


@pytest.mark.parametrize("name", ["light", "dark"])
def test_secondary_text_is_readable_in_both_themes(qtbot, theme, name):
    from explorer.models import get_model_info, list_models
    from explorer.ui.graph.overlay import OverlayBar
    from explorer.ui.model_picker import ModelPicker

    theme(name)
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_models([get_model_info(n) for n in list_models()])
    picker.resize(300, 500)
    picker.show()
    status = picker._status
    assert "models in" in status.text()
    assert drawn_contrast(picker, status) >= AA, name

    bar = OverlayBar()
    qtbot.addWidget(bar)
    bar.show_range(None, "log scale · grey: 0")
    bar.resize(600, 30)
    bar.show()
    assert drawn_contrast(bar, bar.note) >= AA, name


class _Blocks(nn.Module):
    """Three residual blocks: a graph of a few nodes, traced in milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.layer1 = nn.Sequential(*(BasicBlock(8, 8) for _ in range(3)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layer1(self.stem(x))), 1))


@pytest.fixture
def panel(qtbot):
    from explorer.ui.graph.panel import GraphPanel

    widget = GraphPanel(Session())
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    with qtbot.waitSignal(widget.graph_ready, timeout=30_000):
        widget.show_module(_Blocks(), (1, 1, 28, 28), "blocks")
    yield widget
    widget.stop()


def _fill(view, item) -> QColor:
    """The colour ``view`` draws inside ``item``, left of its text."""
    box = item.sceneBoundingRect()
    at = view.mapFromScene(QPointF(box.left() + box.width() * 0.2, box.center().y()))
    return view.viewport().grab().toImage().pixelColor(at)


def test_minimap_follows_the_theme_and_the_overlay_colours(qtbot, panel):
    stem = panel.scene.nodes["stem"]
    light = category_color("conv", "light")
    # Both views have drawn (and cached) the node in the light theme.
    assert _fill(panel.view, stem) == light and _fill(panel.minimap, stem) == light
    panel.set_theme("dark")
    dark = category_color("conv", "dark")
    assert _fill(panel.view, stem) == dark  # the main view repaints first, as on screen
    assert _fill(panel.minimap, stem) == dark
    tint = QColor(200, 30, 30)
    panel.scene.set_node_tints({"stem": (tint, "")})
    assert _fill(panel.view, stem) == tint and _fill(panel.minimap, stem) == tint
    panel.scene.set_node_tints({})
    assert _fill(panel.view, stem) == dark and _fill(panel.minimap, stem) == dark
