"""Issue 19 in the window: one name per node (the graph's details and search, the maps'
header), the details following the stepped node, and short names that keep the part that
tells a node from its neighbours at the sizes a fitted graph is drawn at."""

from __future__ import annotations

import re
from functools import cache

import pytest
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFont, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication

from explorer.graph import build_named_graph, default_state, expand, expanded_state, prepare_view
from explorer.models import get_model, get_model_info
from explorer.session import Session, WeightsChoice
from explorer.ui.graph.panel import GraphPanel
from explorer.ui.graph.scene import GraphScene

RANDOM = WeightsChoice("random", seed=1)
# Where a fitted graph is drawn: the graph view of a 1440x900 window, and of a 1024x700 one.
VIEWPORTS = ((400, 590), (300, 450))
FX_ID = re.compile(r"\b(?:add_\d+|layer\d_\d_\w+)\b")  # fx's names in resnet18_small


@cache
def _graph(name: str):
    return build_named_graph(name)


def _scene(name: str, state) -> GraphScene:
    graph = _graph(name)
    view, layout = prepare_view(graph, state(graph))
    scene = GraphScene()
    scene.populate(view, layout)
    return scene


def _fit(scene: GraphScene, viewport: tuple[int, int]) -> float:
    """The zoom at which the whole scene fits ``viewport`` (what Fit does)."""
    rect = scene.sceneRect()
    return min((viewport[0] - 2) / rect.width(), (viewport[1] - 2) / rect.height())


def _shown(scene: GraphScene, lod: float) -> dict[str, str]:
    """Short name -> what its node writes at zoom ``lod`` (the names painted, see paint)."""
    base = QFont(QApplication.font())
    out = {}
    for item in scene.nodes.values():
        found = item.shown_name(base, lod)
        if found is not None:
            out[item.short_name()] = found[1]
    return out


@pytest.fixture
def panel(qtbot):
    widget = GraphPanel(Session())
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    with qtbot.waitSignal(widget.graph_ready, timeout=60_000):
        widget.show_module(get_model("resnet18_small"), get_model_info("resnet18_small").input_shape,
                           "resnet18_small")
    qtbot.waitUntil(lambda: widget._populating is None and not widget.progress.isVisible(), timeout=30_000)
    return widget


def _node(panel: GraphPanel, title: str) -> str:
    found = panel.graph.find_node(title)
    assert found is not None, title
    return found


# ---------------------------------------------------------------- one name everywhere

def test_search_and_details_name_nodes_by_module_path_never_by_fx_name(qtbot, panel):
    qtbot.keyClicks(panel.search_edit, "layer2.0.downsample")
    hits = panel._hits
    titles = [panel.graph.node(n)["title"] for _, n in hits]
    assert titles == ["layer2.0.downsample.0", "layer2.0.downsample.1"]
    qtbot.keyClick(panel.search_edit, Qt.Key.Key_Return)
    text = panel.details_widget.text()
    assert text.startswith("layer2.0\n") and "layer2.0.downsample.0 (Conv2d" in text
    assert not FX_ID.search(text), text
    panel.expand_all()
    qtbot.waitUntil(lambda: _node(panel, "layer1.0 (add)") in panel.scene.nodes, timeout=30_000)
    item = panel.scene.nodes[_node(panel, "layer1.0 (add)")]
    assert item.short_name() == "add" and item.toolTip().startswith("layer1.0 (add)\n")
    panel.scene.clearSelection()
    item.setSelected(True)
    text = panel.details_widget.text()
    assert text.startswith("layer1.0 (add)\n") and "node id" not in text and not FX_ID.search(text), text
    panel.search_edit.clear()
    qtbot.keyClicks(panel.search_edit, "add_1")  # fx's names are not searched: nothing shows them
    assert panel.hits_label.text() == "no match"


def test_the_maps_header_names_the_node_as_the_graph_does(feature_panel, tmp_path):
    panel = feature_panel("resnet18_small", RANDOM, tmp_path / "no-data", node="add")
    record = panel.view_state.record
    assert record.title == "layer1.0 (add)" == _graph("resnet18_small").node("add")["title"]
    assert panel.node_label.text().startswith(f"{record.index + 1}/{len(panel.stepper)}   layer1.0 (add)  ·  ")
    assert not FX_ID.search(panel.node_label.toolTip().replace("layer1.0 (add)", ""))


# ------------------------------------------------------- details follow the stepped node

def test_the_details_and_the_selection_follow_the_session_node(qtbot, panel):
    session = panel.session
    session.set_node(_node(panel, "layer1.0.conv2"))  # inside a closed block: the block
    assert panel.scene.selected_unit() == "m:layer1.0"
    text = panel.details_widget.text()
    assert text.startswith("layer1.0\n") and "stepped to\nlayer1.0.conv2 (Conv2d" in text
    session.set_node(_node(panel, "fc"))  # a layer drawn on its own
    assert panel.scene.selected_unit() == _node(panel, "fc") == session.node  # the block's output did not win
    assert panel.details_widget.text().startswith("fc\n")
    item = panel.scene.nodes["m:layer2.0"]  # a click of the user's own still sets the node
    panel.scene.clearSelection()
    item.setSelected(True)
    assert session.node == _node(panel, "layer2.0.relu2") and panel.scene.selected_unit() == "m:layer2.0"
    assert "stepped to" not in panel.details_widget.text()


def test_stepping_in_the_window_moves_the_graph_selection_and_details(qtbot, qt_warnings):
    from explorer.settings import Settings
    from explorer.ui.main_window import MainWindow

    win = MainWindow(Settings(), initial_model="resnet18_small")
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.model_shown, timeout=120_000):
        pass
    maps, graph = win.feature_panel, win.graph_panel

    def settled() -> bool:
        return (win.session.module is not None and maps.settled and graph.graph is not None
                and graph._populating is None)

    qtbot.waitUntil(settled, timeout=60_000)
    for step in (lambda: qtbot.keyClick(maps, Qt.Key.Key_Right),
                 lambda: qtbot.mouseClick(maps.steps.forward_button, Qt.MouseButton.LeftButton),
                 lambda: qtbot.keyClick(graph.view, Qt.Key.Key_Right),
                 lambda: qtbot.mouseClick(maps.steps.back_button, Qt.MouseButton.LeftButton)):
        before = maps.current_node
        step()
        qtbot.waitUntil(lambda before=before: settled() and maps.current_node != before, timeout=60_000)
        node = maps.current_node
        unit = graph.view_graph.unit_of[node]
        assert graph.scene.selected_unit() == unit
        title = graph.graph.node(node)["title"]
        assert maps.view_state.record.title == title and title in maps.node_label.text()
        text = graph.details_widget.text()
        heading = graph.view_graph.graph.nodes[unit]["title"]
        assert text.startswith(heading + "\n") and (unit == node or title in text), text
    win.close()


# ---------------------------------------------------------------- short names

@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_alexnets_two_lanes_keep_their_lane(qtbot, viewport):
    scene = _scene("alexnet_split", default_state)
    shown = _shown(scene, _fit(scene, viewport))
    for stage in ("conv1", "conv2", "conv5", "fc6"):
        layer = "fc" if stage == "fc6" else "conv"
        one, two = shown[f"{stage}_gpu1.{layer}"], shown[f"{stage}_gpu2.{layer}"]
        assert one != two and "gpu1" in one and "gpu2" in two, (one, two)  # was "conv…conv" twice
        assert one.endswith(f"gpu1.{layer}")


def test_resnet101s_folded_run_keeps_its_count_and_its_block(qtbot):
    scene = _scene("resnet101", default_state)
    wide, narrow = (_shown(scene, _fit(scene, viewport))["×22 Bottleneck"] for viewport in VIEWPORTS)
    assert wide == "×22 Bottleneck"  # whole, in a smaller font (was "×22 …neck")
    assert narrow.startswith("×22 Bottle")  # narrower still: the count whole, the word's start


def test_densenets_layers_and_blocks_keep_what_tells_them_apart(qtbot):
    scene = _scene("densenet121", lambda g: expand(default_state(g), "features.denseblock1"))
    fitted = [_fit(scene, viewport) for viewport in VIEWPORTS]
    for lod in (*fitted, 0.15, 0.2, 0.25):
        shown = _shown(scene, lod)
        names = {k: v for k, v in shown.items() if k.startswith("dense")}
        assert len(names) == 9 and len(set(names.values())) == 9, (lod, names)  # was "dense…1"
        for name, text in names.items():
            kind, number = re.fullmatch(r"dense(layer|block)(\d)", name).groups()
            assert text.endswith(f"{kind[1:]}{number}"), (lod, name, text)


def test_a_name_cut_far_out_is_whole_again_at_fit(qtbot, tmp_path):
    # The window painted DenseNet's blocks once while small ("…eblock1"); at Fit the name
    # fits in a smaller font, but the cut text came back from the per-size cache.
    scene = _scene("densenet121", default_state)
    for item in scene.nodes.values():
        item.setCacheMode(item.CacheMode.NoCache)  # paint, not cached pixmaps, into the SVG
    far = _texts_at(scene, 0.2, tmp_path)
    assert "denseblock1" not in far and any(t.endswith("block1") for t in far)
    # the same font size (the box bounds it below 0.38), more room to shrink
    assert {"denseblock1", "denseblock4"} <= set(_texts_at(scene, 0.3, tmp_path))


def test_googlenet_expanded_at_fit_names_its_inception_modules(qtbot, tmp_path):
    scene = _scene("googlenet", expanded_state)
    lod = _fit(scene, VIEWPORTS[0])
    base = QFont(QApplication.font())
    assert not _shown(scene, lod)  # the layers are a few pixels tall: no room for a letter ...
    captions = {path: c.caption(base, lod) for path, c in scene.captions.items()}
    inception = {p: found for p, found in captions.items() if p.startswith("inception")}
    assert len(inception) == 9 and all(found is not None for found in inception.values())
    assert {found[2] for found in inception.values()} == {p for p in inception}  # ... the modules' names
    assert all(found[1] * lod >= 9.5 for found in inception.values())  # 10 px on screen
    texts = _texts_at(scene, lod, tmp_path)
    assert {"inception3a", "inception4e", "inception5b"} <= set(texts)
    # nearer, the layers write their own names and the captions give way
    assert all(c.caption(base, 0.5) is None for c in scene.captions.values())
    assert _shown(scene, 0.5)


def _texts_at(scene: GraphScene, lod: float, tmp_path) -> list[str]:
    """The texts the scene draws when painted at zoom ``lod`` (through an SVG painter)."""
    rect = scene.sceneRect()
    out = tmp_path / f"at_{lod}.svg"
    generator = QSvgGenerator()
    generator.setFileName(str(out))
    generator.setSize(QSize(int(rect.width() * lod) + 1, int(rect.height() * lod) + 1))
    painter = QPainter(generator)
    scene.render(painter, QRectF(0, 0, rect.width() * lod, rect.height() * lod), rect)
    painter.end()
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", out.read_text()) if t.strip()]
