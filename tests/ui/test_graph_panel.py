"""The graph panel as a view of the session: async preparation, clicks that set the
session's node, expand/collapse, search, export through the CLI's renderer, themes."""

from __future__ import annotations

import json
import re

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from torch import nn

from explorer.session import Session
from explorer.ui.graph.panel import GraphPanel
from explorer.ui.theme import category_color, load_theme


class SmallResNet(nn.Module):
    """Two residual blocks: small enough to trace in milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.pool(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        x = self.conv(x)
        if x.mean() > 0:
            x = -x
        return self.head(x.flatten(1))


@pytest.fixture
def panel(qtbot):
    widget = GraphPanel(Session())
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    return widget


def _show(qtbot, panel, module=None, shape=(1, 1, 28, 28), name="small"):
    with qtbot.waitSignal(panel.graph_ready, timeout=30000) as blocker:
        panel.show_module(module or SmallResNet(), shape, name)
    return blocker.args[0]


def _wait_settled(qtbot, panel):
    qtbot.waitUntil(lambda: panel._populating is None and not panel.progress.isVisible(), timeout=30000)


def test_show_module_populates_scene_and_selection_shows_details(qtbot, panel):
    graph = _show(qtbot, panel)
    assert graph.name == "small"
    assert set(panel.scene.nodes) == set(panel.view_graph.order)
    assert "m:layer1.0" in panel.scene.nodes and "m:layer1.1" in panel.scene.nodes
    _click(qtbot, panel, "stem")
    assert panel.session.node == "stem"
    text = panel.details_widget.text()
    assert "Conv2d" in text and "receptive field" in text and "3 px" in text
    _click(qtbot, panel, "m:layer1.0")
    assert panel.session.node == "layer1_0_relu_1"  # a block stands for its output node
    assert "From the paper" in panel.details_widget.text()


def _click(qtbot, panel, unit):
    item = panel.scene.nodes[unit]
    panel.view.centerOn(item)
    point = panel.view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_the_session_node_is_highlighted(qtbot, panel):
    _show(qtbot, panel)
    panel.session.set_node("layer1_1_conv2")
    assert panel.scene.nodes["m:layer1.1"].highlighted


def test_double_click_expands_and_collapses_a_block(qtbot, panel):
    _show(qtbot, panel)
    item = panel.scene.nodes["m:layer1.0"]
    point = panel.view.mapFromScene(item.sceneBoundingRect().center())
    panel.view.centerOn(item)
    point = panel.view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: "layer1_0_conv1" in panel.scene.nodes, timeout=30000)
    assert "m:layer1.0" not in panel.scene.nodes
    assert "layer1.0" in panel.scene.frames
    residual = [e for e in panel.scene.edges if e.kind == "residual"]
    assert residual and residual[0].target == "add"
    panel.toggle_unit("layer1_0_conv1")  # a layer inside an open block closes that block
    qtbot.waitUntil(lambda: "m:layer1.0" in panel.scene.nodes, timeout=30000)
    panel.expand_all()
    qtbot.waitUntil(lambda: "layer1_1_conv2" in panel.scene.nodes, timeout=30000)
    assert len(panel.scene.nodes) == len(panel.graph.order)
    panel.collapse_all()
    qtbot.waitUntil(lambda: "m:layer1.1" in panel.scene.nodes, timeout=30000)


def test_search_jumps_between_hits(qtbot, panel):
    _show(qtbot, panel)
    qtbot.keyClicks(panel.search_edit, "batchnorm")
    hits = panel._hits
    # every matching layer is a hit; closed blocks stand in for the layers they hold
    assert hits == [("m:layer1.0", "layer1_0_bn1"), ("m:layer1.0", "layer1_0_bn2"),
                    ("m:layer1.1", "layer1_1_bn1"), ("m:layer1.1", "layer1_1_bn2")]
    assert all(panel.scene.nodes[u].search_hit for u, _ in hits)
    assert not panel.scene.nodes["stem"].search_hit
    qtbot.keyClick(panel.search_edit, Qt.Key.Key_Return)
    assert panel.scene.selected_unit() == "m:layer1.0" and panel.hits_label.text() == "1/4"
    assert "layer1.0.bn1" in panel.details_widget.text()
    qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
    assert panel.scene.selected_unit() == "m:layer1.1" and panel.hits_label.text() == "3/4"
    qtbot.mouseClick(panel.prev_button, Qt.MouseButton.LeftButton)
    assert panel.hits_label.text() == "2/4"
    panel.search_edit.clear()
    qtbot.keyClicks(panel.search_edit, "no such layer")
    assert panel.hits_label.text() == "no match"
    qtbot.keyClick(panel, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert panel.search_edit.hasFocus()


def test_zoom_and_pan_keys(qtbot, panel):
    _show(qtbot, panel)
    panel.view.setFocus()
    zoom = panel.view.zoom()
    qtbot.keyClick(panel.view, Qt.Key.Key_Plus)
    assert panel.view.zoom() == pytest.approx(zoom * 1.25)
    qtbot.keyClick(panel.view, Qt.Key.Key_Minus)
    assert panel.view.zoom() == pytest.approx(zoom)
    for _ in range(4):  # zoomed in, the graph no longer fits, so there is room to pan
        qtbot.keyClick(panel.view, Qt.Key.Key_Plus)
    centre = panel.view.mapToScene(panel.view.viewport().rect().center())
    qtbot.keyClick(panel.view, Qt.Key.Key_Down)
    moved = panel.view.mapToScene(panel.view.viewport().rect().center())
    assert moved.y() > centre.y()


def test_highlight_marks_the_closed_block_holding_a_node(qtbot, panel):
    _show(qtbot, panel)
    panel.highlight_node("layer1_1_conv2")
    assert panel.scene.nodes["m:layer1.1"].highlighted
    panel.highlight_node("fc")
    assert panel.scene.nodes["fc"].highlighted and not panel.scene.nodes["m:layer1.1"].highlighted
    panel.highlight_node(None)
    assert not any(item.highlighted for item in panel.scene.nodes.values())


def test_export_writes_the_whole_graph_as_vector_text_without_marks(qtbot, panel, tmp_path,
                                                                     monkeypatch):
    _show(qtbot, panel)
    panel.view.zoom_by(4.0)  # only part of the graph on screen: the file still has all of it
    _click(qtbot, panel, "stem")  # a selection and a stepper mark that must not be exported
    panel.highlight_node("fc")
    saved: list[str] = []
    panel.exported.connect(saved.append)
    offered = {}

    def dialog(_parent, _title, default, filters, selected):
        offered.update(default=default, filters=filters.split(";;"), selected=selected)
        return str(tmp_path / "view"), offered["filters"][0]  # no suffix typed: the filter's

    monkeypatch.setattr("explorer.ui.graph.panel.QFileDialog.getSaveFileName", dialog)
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    assert offered["default"].endswith("small.svg")  # the model's name, not graph.png
    assert [f.split(" (")[-1] for f in offered["filters"]] == ["*.svg)", "*.png)", "*.png)", "*.png)",
                                                               "*.json)"]
    svg = (tmp_path / "view.svg").read_text()
    assert saved == [str(tmp_path / "view.svg")]
    assert "<image" not in svg  # vector, not the items' cached bitmaps
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    for unit, item in panel.scene.nodes.items():
        assert item.short_name() in texts, unit
    selected = load_theme("light")["graph"]["selected"].lower()
    highlight = load_theme("light")["graph"]["highlight"].lower()
    assert selected not in svg.lower() and highlight not in svg.lower()


def test_export_png_scale_json_and_bad_names(qtbot, panel, tmp_path):
    _show(qtbot, panel)
    one = panel.export_to(tmp_path / "one.png")
    two = panel.export_to(tmp_path / "two.png", scale=2.0)
    assert QImage(str(two)).width() == 2 * QImage(str(one)).width()
    data = json.loads(panel.export_to(tmp_path / "g.json").read_text())
    assert {n["id"] for n in data["nodes"]} == set(panel.scene.nodes)
    assert panel.export_to(tmp_path / "g.bmp") is None
    assert panel.banner.isVisible() and ".svg, .png or .json" in panel.banner.text()


def test_theme_switch_changes_colours(qtbot, panel):
    _show(qtbot, panel)
    light = panel.grab().toImage()
    panel.set_theme("dark")
    assert panel.scene.backgroundBrush().color() == QColor(load_theme("dark")["graph"]["background"])
    dark = panel.grab().toImage()
    corner = QPoint(20, dark.height() - 20)
    assert dark.pixelColor(corner).lightness() < light.pixelColor(corner).lightness()
    assert category_color("conv", "dark") != category_color("conv", "light")
    from explorer.errors import UserError

    with pytest.raises(UserError, match="unknown theme"):
        panel.set_theme("purple")


def test_untraceable_module_shows_fallback_and_warning(qtbot, panel):
    graph = _show(qtbot, panel, Branchy(), name="branchy")
    assert not graph.traced
    assert panel.banner.isVisible() and "if x.mean() > 0" in panel.banner.text()
    assert {"conv", "head"} <= set(panel.scene.nodes)


def test_show_model_runs_in_the_subprocess(qtbot, panel, monkeypatch):
    import os

    from PySide6.QtCore import QProcess

    import explorer.graph
    import explorer.graph.named
    import explorer.graph.service
    import explorer.graph.stored
    import explorer.graph.trace
    from explorer.graph import default_state, expand, prepare_view
    from explorer.graph.named import build_named_graph

    # What the core builds for the model in this process: the panel must show the same.
    expected = build_named_graph("torchvision.resnet18")
    state = default_state(expected)
    closed_view, _ = prepare_view(expected, state)
    open_view, _ = prepare_view(expected, expand(state, "layer4.1"))
    assert "m:layer4.1" in closed_view.order and "layer4_1_conv1" in open_view.order

    # From here on nothing in this process may trace or lay out a named graph.
    traced_here = []

    def refuse(*args, **kwargs):
        traced_here.append(args)
        raise AssertionError("a graph was built in the window's process")

    monkeypatch.setattr(explorer.graph.service.GraphService, "handle", refuse)
    monkeypatch.setattr(explorer.graph.stored, "named_graph", refuse)
    monkeypatch.setattr(explorer.graph.named, "build_named_graph", refuse)
    monkeypatch.setattr(explorer.graph.trace, "build_graph", refuse)
    monkeypatch.setattr(explorer.graph, "build_graph", refuse)
    replies = []
    panel.client.replied.connect(replies.append)

    with qtbot.waitSignal(panel.graph_ready, timeout=120000) as blocker:
        panel.show_model("torchvision.resnet18")
    graph = blocker.args[0]
    assert graph.name == "torchvision.resnet18"
    assert graph.order == expected.order and set(graph.graph.edges) == set(expected.graph.edges)
    assert set(panel.scene.nodes) == set(closed_view.order)

    # It came over the pipe of a separate `python -m explorer.graph.service` process.
    process = panel.client._process
    assert process is not None and process.state() == QProcess.ProcessState.Running
    assert process.arguments()[:2] == ["-m", "explorer.graph.service"]
    assert process.processId() > 0 and process.processId() != os.getpid()
    opened = [r for r in replies if r.get("ok") and "graph" in r]
    assert [r["graph"]["name"] for r in opened] == ["torchvision.resnet18"]

    panel.toggle_unit("m:layer4.1")
    qtbot.waitUntil(lambda: set(panel.scene.nodes) == set(open_view.order), timeout=60000)
    # The new view was laid out by the service as well (a reply without a graph).
    assert any(r.get("ok") and "graph" not in r and "view" in r for r in replies)
    with qtbot.waitSignal(panel.failed, timeout=60000) as blocker:
        panel.show_model("torchvision.nonexistent")
    assert blocker.args == ["unknown torchvision model 'nonexistent'"]
    assert replies[-1] == {"id": replies[-1]["id"], "ok": False, "error": "unknown torchvision model 'nonexistent'"}
    assert panel.banner.isVisible()
    assert traced_here == []


def test_scene_population_yields_after_each_time_budget_and_completes(qtbot):
    from explorer.graph import build_graph, expanded_state, prepare_view
    from explorer.ui.graph.scene import GraphScene

    graph = build_graph(SmallResNet(), (1, 1, 28, 28))
    view, layout = prepare_view(graph, expanded_state(graph))
    scene = GraphScene()
    total = len(view.order) + view.graph.number_of_edges()
    # no time allowed: a step after every item, so the window could run between any two
    counts = list(scene.populate_steps(view, layout, budget_s=0.0))
    assert counts == list(range(1, total + 1)) + [total]
    assert set(scene.nodes) == set(view.order)
    assert len(scene.edges) == view.graph.number_of_edges()
    # plenty of time: steps only every ``chunk`` items
    assert list(scene.populate_steps(view, layout, chunk=10, budget_s=60.0)) == \
        list(range(10, total + 1, 10)) + [total]
    assert set(scene.nodes) == set(view.order)


def test_a_graph_that_was_traced_again_says_so_in_the_status(qtbot, panel):
    """The graph service's notice (a saved graph was stale or damaged and traced again)
    reaches the user as a session message."""
    from explorer.graph.service import GraphService

    reply = GraphService().handle({"id": 41, "op": "open", "name": "lenet_small", "kwargs": {}, "state": None})
    reply["notice"] = "the saved graph of lenet_small could not be used (stale); traced it again"
    messages = []
    panel.session.message.connect(messages.append)
    panel.source._request_id = 41
    panel.source._on_reply(reply)
    assert messages == [reply["notice"]]


class Repeats(nn.Module):
    """``n`` identical residual blocks in a row (ResNet-50's longest run is 5)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.layer1 = nn.Sequential(*(BasicBlock(8, 8) for _ in range(n)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layer1(self.stem(x))), 1))


def test_fold_runs_says_why_when_nothing_folds(qtbot, panel):
    _show(qtbot, panel, Repeats(5), name="five")
    assert not panel.fold_button.isEnabled()
    assert panel.fold_button.toolTip() == ("Nothing to fold: the longest run of identical blocks is 5 "
                                           "(layer1.0 … layer1.4); runs of 6 or more fold")
    panel.expand_all()
    _wait_settled(qtbot, panel)
    assert not panel.fold_button.isEnabled()
    assert "every block is open" in panel.fold_button.toolTip()
    _show(qtbot, panel, nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), name="layers")
    assert not panel.fold_button.isEnabled() and "no blocks" in panel.fold_button.toolTip()
    # Where a run folds the button is there and does what it says.
    _show(qtbot, panel, Repeats(7), name="seven")
    assert panel.fold_button.isEnabled() and panel.fold_button.isChecked()
    assert panel.fold_button.toolTip().startswith("Fold runs of 6 or more identical blocks")
    assert any(unit.startswith("fold:") for unit in panel.scene.nodes)
    qtbot.mouseClick(panel.fold_button, Qt.MouseButton.LeftButton)
    _wait_settled(qtbot, panel)
    assert not any(unit.startswith("fold:") for unit in panel.scene.nodes)
    assert "m:layer1.6" in panel.scene.nodes


def test_the_graph_follows_the_loaded_models_structure_and_is_kept_for_other_weights(qtbot):
    """A run trained at width 0.5 showed the default widths in the graph beside its real
    maps: the graph is asked for by structure (model and builder options)."""
    from explorer.loading import LoadedModel
    from explorer.models import get_model
    from explorer.session import WeightsChoice

    session = Session()
    panel = GraphPanel(session)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()

    def conv1_channels() -> int:
        return panel.graph.node("conv1")["shape"][1]

    run = WeightsChoice("run", path="run.pt", run_id="r", epoch=1)
    with qtbot.waitSignal(panel.graph_ready, timeout=60_000):
        session.set_model("lenet_small", run)
    default = conv1_channels()
    with qtbot.waitSignal(panel.graph_ready, timeout=60_000):
        session.deliver(LoadedModel.of("lenet_small", run, get_model("lenet_small", width_mult=0.5),
                                       options={"width_mult": 0.5}))
    assert conv1_channels() == default // 2
    graph = panel.graph
    other = WeightsChoice("run", path="run2.pt", run_id="r2", epoch=1)
    session.set_weights(other)  # other weights of the same network: the graph stays
    session.deliver(LoadedModel.of("lenet_small", other, get_model("lenet_small", width_mult=0.5),
                                   options={"width_mult": 0.5}))
    qtbot.wait(200)
    assert panel.graph is graph
