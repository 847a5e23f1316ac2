"""Block glyphs: each closed block shows the pattern it hides, from the graph data."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtGui import QColor
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock

from explorer.graph.collapse import default_state, expand, make_view
from explorer.graph.layout import layout_view
from explorer.graph.trace import build_graph
from explorer.ui.graph import items as gi
from explorer.ui.graph.glyphs import GLYPH_NAMES
from explorer.ui.graph.scene import GraphScene, frame_title_rows, render_scene


class _Inception(nn.Module):
    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(c, 2, 1)
        self.b2 = nn.Sequential(nn.Conv2d(c, 2, 1), nn.Conv2d(2, 2, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(c, 2, 1), nn.Conv2d(2, 2, 5, padding=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 2, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class _DenseLayer(nn.Module):
    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, k, 3, padding=1)

    def forward(self, feats):
        return self.conv(torch.cat(feats, 1))


class _DenseBlock(nn.Module):
    def __init__(self, c: int = 4, k: int = 3, n: int = 3) -> None:
        super().__init__()
        for i in range(n):  # direct children, as in torchvision's _DenseBlock
            self.add_module(f"layer{i}", _DenseLayer(c + i * k, k))

    def forward(self, x):
        feats = [x]
        for layer in self.children():
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.res = BasicBlock(4, 4)
        self.proj = BasicBlock(4, 8, stride=2, downsample=nn.Sequential(
            nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8)))
        self.mb_skip = InvertedResidual(8, 8, 1, 2)
        self.mb_down = InvertedResidual(8, 4, 2, 2)
        self.inception = _Inception(4)
        self.dense = _DenseBlock(8, 3, 3)

    def forward(self, x):
        x = self.mb_down(self.mb_skip(self.proj(self.res(self.stem(x)))))
        return self.dense(self.inception(x))


@pytest.fixture(scope="module")
def graph():
    return build_graph(_Net().eval(), (1, 1, 16, 16), name="glyphs")


def _scene(qtbot, graph, state, theme="light"):
    view = make_view(graph, state)
    scene = GraphScene(theme)
    scene.populate(view, layout_view(view))
    return scene


def test_each_block_kind_gets_its_glyph(qtbot, graph):
    scene = _scene(qtbot, graph, default_state(graph, fold=False))
    kinds = {item.attrs["module_path"]: item.glyph_kind() for item in scene.nodes.values()
             if item.attrs.get("unit") == "block"}
    assert kinds["res"] == gi.GLYPH_SKIP
    assert kinds["proj"] == gi.GLYPH_PROJECTION
    assert kinds["mb_skip"] == gi.GLYPH_SKIP
    assert kinds["mb_down"] == ""  # stride 2 and a channel change: no shortcut, no arc
    assert kinds["inception"] == gi.GLYPH_BRANCHES
    assert kinds["dense"] == gi.GLYPH_DENSE
    by_path = {item.attrs["module_path"]: item for item in scene.nodes.values()}
    assert by_path["inception"].attrs["branches"] == 4
    assert by_path["dense"].attrs["dense_layers"] == 3
    assert by_path["dense"].attrs["growth"] == 3
    for path in ("res", "proj", "mb_skip", "inception", "dense"):
        item = by_path[path]
        assert not item.glyph.path().isEmpty()
        # the glyph is inside what the item says it paints (caching relies on it)
        assert item.boundingRect().contains(item.glyph.bounds().adjusted(2, 2, -2, -2))
    assert by_path["mb_down"].glyph is None
    # a projection shortcut is labelled on the arc; an identity one is not
    assert [t for _, t in by_path["proj"].glyph.texts] == ["1×1"]
    assert by_path["res"].glyph.texts == []
    # the skip arc reaches past the block's right side, beside what it skips
    assert by_path["res"].glyph.lines.boundingRect().right() > by_path["res"]._rect.right()


def test_glyph_branch_count_and_dense_layer(qtbot, graph):
    scene = _scene(qtbot, graph, expand(default_state(graph, fold=False), "dense"))
    layers = [i for i in scene.nodes.values() if i.attrs.get("module_path", "").startswith("dense.layer")
              and i.attrs.get("unit") == "block"]
    assert layers and all(i.glyph_kind() == gi.GLYPH_DENSE_INPUT for i in layers)
    assert [i.attrs["dense_inputs"] for i in layers] == [1, 2, 3]


def test_layers_and_folds_get_no_glyph():
    assert gi.glyph_kind({"unit": "node", "pattern": "residual"}) == ""
    assert gi.glyph_kind({"unit": "fold", "pattern": "residual", "shortcut": "identity"}) == ""
    assert gi.glyph_kind({"unit": "block"}) == ""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_glyphs_render_in_both_themes(qtbot, graph, theme, tmp_path):
    scene = _scene(qtbot, graph, default_state(graph, fold=False), theme)
    out = render_scene(scene, tmp_path / "g.png")
    assert out.stat().st_size > 0


def _near(a: QColor, b: QColor, tolerance: int = 4) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.getRgb()[:3], b.getRgb()[:3]))


def test_the_legend_shows_each_glyph_drawn_with_the_graphs_own_pens(qtbot):
    """The skip arc and the 1×1 projection badge (and the other glyphs) have a legend row
    each, drawn by the function the nodes draw with, in the theme's glyph colour."""
    from explorer.session import Session
    from explorer.ui.graph.panel import GraphPanel

    panel = GraphPanel(Session())
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    with qtbot.waitSignal(panel.graph_ready, timeout=30_000):
        panel.show_module(_Net(), (1, 1, 16, 16), "glyphs")
    legend = panel.legend
    drawn = {item.glyph_kind() for item in panel.scene.nodes.values()} - {""}
    assert set(legend.glyph_kinds) == drawn >= {gi.GLYPH_SKIP, gi.GLYPH_PROJECTION}
    assert GLYPH_NAMES[gi.GLYPH_SKIP] == "identity shortcut"
    assert "1×1" in GLYPH_NAMES[gi.GLYPH_PROJECTION]
    for theme in ("light", "dark"):
        panel.set_theme(theme)
        image = legend.grab().toImage()
        for kind in legend.glyph_kinds:
            colour = gi.glyph_pens(kind, theme)[2]  # what NodeItem paints the glyph with
            box = legend.glyph_rect(kind).toRect()
            assert legend.rect().contains(box), kind
            hits = sum(_near(image.pixelColor(x, y), colour)
                       for x in range(box.left(), box.right()) for y in range(box.top(), box.bottom()))
            assert hits >= 20, (theme, kind, hits)
    # Without glyphs in the view (every layer shown) the legend has no glyph rows.
    with qtbot.waitSignal(panel.graph_ready, timeout=30_000):
        panel.show_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), (1, 1, 8, 8), "plain")
    assert legend.glyph_kinds == [] and legend.glyph_rect(gi.GLYPH_SKIP).isEmpty()
    panel.stop()


def test_nested_frame_titles_take_separate_rows():
    frames = [("a", "a · Block", (0.0, 0.0, 200.0, 300.0)),
              ("a.b", "a.b · Layer", (10.0, 0.0, 180.0, 100.0)),
              ("a.c", "a.c · Layer", (10.0, 150.0, 180.0, 100.0)),
              ("z", "z · Stage", (400.0, 0.0, 100.0, 100.0))]
    assert frame_title_rows(frames) == {"a": 0, "a.b": 1, "a.c": 0, "z": 0}
