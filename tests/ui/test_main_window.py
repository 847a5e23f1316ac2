"""The integrated window, driven through its widgets: it appears before torch loads, fills
the picker, and every view follows the one session: another model resets every view and
never shows the old one, weights are a choice that each model keeps across switches and
relaunches, bad input changes nothing."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import pytest
import torch
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QDropEvent

from explorer.loading import LoadedModel
from explorer.session import WeightsChoice
from explorer.settings import Settings
from explorer.ui.main_window import MainWindow


def test_window_module_does_not_import_torch():
    """The window is built before torch is imported: its module must not import it."""
    code = "import sys, explorer.ui.main_window, explorer.app; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def open_window(qtbot, model: str = "lenet_small") -> MainWindow:
    win = MainWindow(Settings(), initial_model=model)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.model_shown, timeout=120_000):
        pass
    settle(qtbot, win)
    return win


def settle(qtbot, win: MainWindow) -> None:
    """Wait until the maps show the session's module for the session's model."""
    qtbot.waitUntil(lambda: win.session.module is not None and win.feature_panel.settled
                    and win.feature_panel.view_state.model_name == win.session.model_name,
                    timeout=60_000)


def pick(qtbot, win: MainWindow, name: str) -> None:
    """Click ``name`` in the model picker."""
    rect = win.picker.row_rect(name)
    qtbot.mouseClick(win.picker.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def choose_weights(qtbot, win: MainWindow, wanted: WeightsChoice) -> None:
    """Step through the weights selector with the arrow keys until ``wanted`` is chosen."""
    selector = win.feature_panel.weights_selector
    target = selector.choices.index(wanted)  # the choices head the list, in this order
    while selector.combo.currentIndex() != target:
        key = Qt.Key.Key_Down if selector.combo.currentIndex() < target else Qt.Key.Key_Up
        qtbot.keyClick(selector.combo, key)
        qtbot.waitUntil(lambda: win.session.module is not None, timeout=60_000)
    assert win.session.weights == wanted


def menu_action(win: MainWindow, text: str):
    for menu_action_ in win.menuBar().actions():
        for action in menu_action_.menu().actions():
            if action.text() == text:
                return action
    raise AssertionError(f"no menu entry {text!r}")


def first_weight(win: MainWindow) -> torch.Tensor:
    return next(win.session.module.parameters()).detach().clone()


@pytest.fixture
def window(qtbot, qt_warnings):
    win = open_window(qtbot)
    yield win
    win.close()


def test_window_loads_zoo_and_shows_model(window, qtbot):
    assert window.current_model == "lenet_small"
    assert set(window.picker.names) >= {"resnet50", "googlenet", "densenet121", "mobilenet_v1"}
    assert window._device_label.text().startswith("Device: ")
    assert "LeNet" in window.windowTitle()
    assert window.feature_panel.stepper is not None
    assert window.feature_panel.weights_selector.combo.currentText().startswith("Fashion-MNIST, shipped: test 0.")


def test_graph_click_runs_feature_maps_to_node(window, qtbot):
    graph = window.graph_panel
    unit = [u for u in graph.scene.nodes if graph.view_graph.graph.nodes[u].get("unit") == "node"][4]
    item = graph.scene.nodes[unit]
    graph.view.centerOn(item)
    qtbot.mouseClick(graph.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=graph.view.mapFromScene(item.sceneBoundingRect().center()))
    assert window.session.node == unit
    qtbot.waitUntil(lambda: window.feature_panel.current_node == unit, timeout=60_000)
    assert graph.scene.nodes[unit].highlighted


def test_another_model_resets_every_view_and_never_shows_the_old_one(window, qtbot, hover):
    panel = window.feature_panel
    mosaic = panel.view_state.mosaic
    x, y = mosaic.channel_origin(0)
    hover(panel.maps.pane.viewport(), panel.maps.pane.widget_pos_of_pixel(x + 1.5, y + 1.5))
    assert panel.maps.hover_label.text().startswith("channel 0 at (1, 1) = ")
    old_nodes = {r.name for r in panel.stepper.nodes}

    pick(qtbot, window, "alexnet_small")
    # At once: the new name everywhere, nothing of the old model on screen.
    assert window.session.model_name == "alexnet_small" == panel.model_label.text()
    assert panel.view_state is None and panel.maps.hover_label.text() == ""
    assert panel.maps.pane.item.image is None and panel.predictions_box.top5_table.item(0, 0) is None
    assert panel.node_label.text().startswith("Loading alexnet_small")
    assert window.graph_panel.graph is None and not window.graph_panel.scene.nodes
    with qtbot.waitSignal(window.model_shown, timeout=120_000) as shown:
        pass
    assert shown.args == ["alexnet_small"] and window.graph_panel.graph.name == "alexnet_small"
    settle(qtbot, window)
    assert panel.view_state.model_name == "alexnet_small"
    assert {r.name for r in panel.stepper.nodes} != old_nodes
    assert window.session.node in window.graph_panel.graph.graph
    assert Settings().get("last_model") == "alexnet_small"
    assert "AlexNet" in window.windowTitle()


def test_one_model_click_fires_at_most_three_session_events(window, qtbot):
    """A click says "another model", then "loaded", then the maps' first node: every view
    learns from those (the status line reads the loaded model's notice)."""
    session = window.session
    seen: list[str] = []
    session.model_changed.connect(lambda _s, change: seen.append(f"model:{change}"))
    for name in ("image_changed", "node_changed", "device_changed", "knockouts_changed"):
        getattr(session, name).connect(lambda _s, n=name: seen.append(n))
    session.message.connect(lambda _text: seen.append("message"))
    pick(qtbot, window, "alexnet_small")
    with qtbot.waitSignal(window.model_shown, timeout=120_000):
        pass
    settle(qtbot, window)
    qtbot.wait(200)  # anything late would arrive now
    assert seen == ["model:model", "model:loaded", "node_changed"]
    assert window.statusBar().currentMessage() == session.loaded.notice


def test_a_knockout_shows_in_the_maps_the_top5_and_the_graph_and_one_click_restores(window, qtbot):
    """Switching off layer2.0's shortcut dropped the pane's accuracy while the main top-5,
    the maps and the graph still showed the intact network: now every view shows it."""
    pick(qtbot, window, "resnet18_small")
    with qtbot.waitSignal(window.model_shown, timeout=120_000):
        pass
    settle(qtbot, window)
    panel, session = window.feature_panel, window.session
    panel.show_node("layer3.0.conv1")
    qtbot.waitUntil(lambda: panel.settled and panel.view_state.record.title == "layer3.0.conv1", timeout=60_000)
    node, intact_top, intact_maps = panel.current_node, panel.predictions.top, panel.view_state.channels.copy()
    assert not panel.knockout_badge.isVisible()

    session.set_knockouts(("layer2.0:shortcut",))
    qtbot.waitUntil(lambda: panel.settled and panel.view_state.facts.knockouts == ("layer2.0:shortcut",),
                    timeout=60_000)
    assert panel.predictions.top != intact_top
    assert panel.predictions_box.top5_table.item(0, 0).text() == panel.predictions.top[0].name
    assert not (panel.view_state.channels == intact_maps).all()
    assert panel.current_node == node  # the node stays
    assert panel.knockout_badge.isVisible() and panel.knockout_badge.label.text() == "1 knockout"
    marked = [item for item in window.graph_panel.scene.nodes.values()
              if item.knocked_out or item.knockout_badge]
    assert marked, "the graph marks the knocked-out shortcut"

    qtbot.mouseClick(panel.knockout_badge.restore, Qt.MouseButton.LeftButton)
    assert session.knockouts == ()
    qtbot.waitUntil(lambda: panel.settled and panel.view_state.facts.knockouts == (), timeout=60_000)
    assert panel.predictions.top == intact_top and (panel.view_state.channels == intact_maps).all()
    assert not panel.knockout_badge.isVisible()
    assert not any(item.knocked_out or item.knockout_badge for item in window.graph_panel.scene.nodes.values())


def test_run_weights_come_back_after_switching_and_relaunching(window, qtbot, tmp_path):
    from explorer.models import get_model
    from explorer.train import RunHistory, RunRecord, save_checkpoint

    torch.manual_seed(5)
    trained = get_model("lenet_small")
    checkpoint = save_checkpoint(tmp_path / "run.pt", model_name="lenet_small", config={}, epoch=3,
                                 model_state=trained.state_dict())
    RunHistory().save(RunRecord(run_id="2026-run", model="lenet_small", config={}, status="stopped",
                                curves={"epoch": [1, 2, 3]}, final={"test_acc": 0.83},
                                checkpoint=str(checkpoint)))
    run = WeightsChoice("run", path=str(checkpoint), run_id="2026-run", epoch=3, test_accuracy=0.83)
    window.feature_panel.weights_selector.refresh()
    choose_weights(qtbot, window, run)
    settle(qtbot, window)
    assert window.session.weights == run
    assert window.feature_panel.weights_selector.combo.currentText() == "2026-run, epoch 3: test 0.830"
    assert window.feature_panel.predictions_box.note.text() == ""  # no "untrained" warning
    assert torch.equal(first_weight(window), next(trained.parameters()))

    pick(qtbot, window, "resnet101_small")  # ships no trained weights: random, said so
    settle(qtbot, window)
    assert window.feature_panel.predictions_box.note.text().startswith("untrained weights")
    pick(qtbot, window, "lenet_small")
    settle(qtbot, window)
    assert window.session.weights == run and torch.equal(first_weight(window), next(trained.parameters()))
    window.close()

    again = open_window(qtbot, "lenet_small")
    assert again.session.weights == run
    assert torch.equal(first_weight(again), next(trained.parameters()))
    again.close()


def test_random_weights_keep_their_seed_until_rerolled(window, qtbot):
    seed = window.session.weights.seed
    before = first_weight(window)
    pick(qtbot, window, "alexnet_small")
    settle(qtbot, window)
    pick(qtbot, window, "lenet_small")
    settle(qtbot, window)
    assert window.session.weights.seed == seed and torch.equal(first_weight(window), before)

    combo = window.feature_panel.weights_selector.combo
    qtbot.keyClick(combo, Qt.Key.Key_End)  # "New random seed", the last entry
    qtbot.waitUntil(lambda: window.session.weights.seed != seed, timeout=10_000)
    settle(qtbot, window)
    rerolled = window.session.weights
    assert not torch.equal(first_weight(window), before)
    pick(qtbot, window, "alexnet_small")
    settle(qtbot, window)
    pick(qtbot, window, "lenet_small")
    settle(qtbot, window)
    assert window.session.weights == rerolled


def test_shipped_weights_are_the_default_of_a_small_form(qtbot, qt_warnings, monkeypatch):
    entry = type("Entry", (), {"test_accuracy": 0.912})()
    monkeypatch.setattr("explorer.models.shipped.shipped_entry",
                        lambda name: entry if name == "lenet_small" else None)
    monkeypatch.setattr("explorer.models.shipped.load_shipped", lambda model, name: model)
    win = open_window(qtbot)
    assert win.session.weights == WeightsChoice("shipped", test_accuracy=0.912)
    assert win.feature_panel.weights_selector.combo.currentText() == "Fashion-MNIST, shipped: test 0.912"
    assert win.feature_panel.predictions_box.note.text() == ""
    win.close()


def test_reference_model_without_imagenet_says_so_once_and_offers_the_small_form(
        window, qtbot, monkeypatch):
    monkeypatch.setattr("explorer.models.weights._reachable", lambda url, timeout: False)
    pick(qtbot, window, "resnet18")
    settle(qtbot, window)
    notice = window.feature_panel.notice
    assert window.session.weights.kind == "random"
    assert notice.isVisible() and "random weights" in notice.text.text()
    assert "its ImageNet weights are not available here" in notice.text.text()
    assert "available offline" in window.statusBar().currentMessage()
    qtbot.mouseClick(notice.open_button, Qt.MouseButton.LeftButton)
    assert window.session.model_name == "resnet18_small" and not notice.isVisible()
    settle(qtbot, window)
    pick(qtbot, window, "resnet18")
    settle(qtbot, window)
    assert not notice.isVisible()  # once per model


def test_a_reference_model_torchvision_has_no_weights_for_is_not_said_to_miss_them(window, qtbot):
    pick(qtbot, window, "lenet5")
    settle(qtbot, window)
    notice = window.feature_panel.notice
    assert notice.isVisible() and "torchvision publishes no ImageNet weights" in notice.text.text()
    assert "not available here" not in notice.text.text()


def test_a_training_run_does_not_touch_the_explorer(window, qtbot):
    weights, module = window.session.weights, window.session.module
    from explorer.models import get_model
    from explorer.train import EpochMetrics, Misclassified

    run = window.session.training
    run.start("lenet_small", config=None, run_id="r")
    metrics = EpochMetrics(
        epoch=1, epochs=3, train_loss=2.0, train_acc=0.2, val_loss=None, val_acc=None, test_loss=2.0,
        test_acc=0.2, lr=0.01, images_per_s=100.0, elapsed_s=1.0, confusion=[[0] * 10 for _ in range(10)],
        misclassified=Misclassified(images=torch.zeros(0, 28, 28, dtype=torch.uint8), predicted=[], true=[], indices=[]),
        overfitting=None, checkpoint="/nowhere/r.pt", model=get_model("lenet_small"))
    run.record_epoch(1, metrics, checkpoint="/nowhere/r.pt")
    run.set_state("stopped")
    assert window.session.weights == weights and window.session.module is module


def test_unknown_model_is_a_status_message(window):
    window.open_model("no_such_net")
    assert "unknown model" in window.statusBar().currentMessage()
    assert window.current_model == "lenet_small"


def test_theme_choice_persists(window):
    menu_action(window, "Dark theme").trigger()
    assert Settings().get("theme") == "dark"
    menu_action(window, "Light theme").trigger()
    assert Settings().get("theme") == "light"


def test_bad_weights_file_keeps_the_weights_shown(window, qtbot, tmp_path):
    weights, before = window.session.weights, first_weight(window)
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    window.load_weights_file(str(bad))
    qtbot.waitUntil(lambda: "cannot use file weights.pt" in window.statusBar().currentMessage(), timeout=30_000)
    settle(qtbot, window)
    message = window.statusBar().currentMessage()
    assert message.startswith("lenet_small: ") and "\n" not in message
    assert window.session.weights == weights and torch.equal(first_weight(window), before)


def test_weights_that_do_not_fit_are_said_whole_in_place(window, qtbot, tmp_path):
    """The status bar cut the reason off ("…unexpected bn1.bias, bn1.num_batches_tracked,
    bn1.runni"): the maps panel says it whole, where the user looks, until other weights load."""
    from explorer.models import get_model

    other = tmp_path / "resnet.pt"
    torch.save(get_model("resnet18_small").state_dict(), other)
    window.load_weights_file(str(other))
    notice = window.feature_panel.load_notice
    qtbot.waitUntil(lambda: notice.isVisible(), timeout=30_000)
    text = notice.text()
    assert text == window.session.loaded.notice and notice.wordWrap()
    assert "resnet.pt does not fit this model: missing " in text and "unexpected bn1.bias" in text
    assert text.endswith(f"keeping {window.session.weights.label()}")
    window.session.set_weights(WeightsChoice("random", seed=3))
    qtbot.waitUntil(lambda: not notice.isVisible(), timeout=30_000)


def test_weights_file_loads_off_the_gui_thread(window, qtbot, tmp_path):
    from explorer.models import get_model

    source = get_model("lenet_small")
    path = tmp_path / "trained.pt"
    torch.save(source.state_dict(), path)
    window.load_weights_file(str(path))
    qtbot.waitUntil(lambda: window.session.module is not None
                    and torch.equal(first_weight(window), next(source.parameters())), timeout=60_000)
    assert window.feature_panel.weights_selector.combo.currentText() == "file trained.pt"


def test_drop_on_window_goes_to_feature_panel(window, qtbot, tmp_path):
    from PIL import Image

    path = tmp_path / "drop.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = mock.MagicMock(spec=QDropEvent)
    event.mimeData.return_value = mime
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source == "drop.png",
                    timeout=30_000)
    assert window.feature_panel.image_source.sample_combo.currentIndex() == -1


def test_trained_weights_switch_view_to_the_trained_small_form(window, qtbot):
    """Training a reference model trains its small form; the epoch's weights must show."""
    from explorer.models import get_model
    from explorer.session import WeightsChoice

    window.open_model("resnet18")
    trained = get_model("resnet18_small").eval()
    weights = WeightsChoice("run", path="run.pt", run_id="run", epoch=1)
    window.session.set_model("resnet18_small", weights)
    window.session.deliver(LoadedModel.of("resnet18_small", weights, trained))
    assert window.current_model == "resnet18_small"
    qtbot.waitUntil(lambda: window.feature_panel.stepper is not None
                    and window.feature_panel.stepper.model is trained, timeout=60_000)


def test_data_folder_choice_reaches_both_panels(window, fashion_root):
    window.set_data_folder(str(fashion_root))
    assert Settings().get("data_dir") == str(fashion_root)
    assert window.training_panel.data_dir == str(fashion_root)
    assert window.feature_panel.image_source.fashion_button.isEnabled()
    assert "Fashion-MNIST found" in window.statusBar().currentMessage()


def test_missing_data_folder_is_explained(window, tmp_path):
    window.set_data_folder(str(tmp_path))
    assert "no Fashion-MNIST" in window.statusBar().currentMessage()
    assert not window.feature_panel.image_source.fashion_button.isEnabled()


def test_layer_details_follow_the_stepped_node(window, qtbot):
    qtbot.keyClick(window.feature_panel, Qt.Key.Key_Right)
    settle(qtbot, window)
    node = window.feature_panel.current_node
    module = window.graph_panel.graph.graph.nodes[node].get("module_path") or node
    qtbot.waitUntil(lambda: module in window.graph_panel.details_widget.text(), timeout=10_000)


def test_left_and_right_step_the_maps_wherever_the_focus_is_on_the_explore_page(window, qtbot):
    """The walk found the arrow keys doing nothing until the maps panel had the focus."""
    from PySide6.QtWidgets import QApplication

    panel = window.feature_panel
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)

    def index() -> int:
        settle(qtbot, window)
        return panel.view_state.record.index

    start = index()
    for widget, key, expected in ((window.graph_panel.view, Qt.Key.Key_Right, start + 1),
                                  (window.picker.tree, Qt.Key.Key_Left, start),
                                  (window.feature_panel.steps.play_button, Qt.Key.Key_Right, start + 1)):
        widget.setFocus()
        qtbot.keyClick(widget, key)
        assert index() == expected, widget
    search = window.graph_panel.search_edit  # a text field keeps its keys: the cursor moves
    search.setFocus()
    search.setText("conv")
    qtbot.keyClick(search, Qt.Key.Key_Left)
    assert search.cursorPosition() == 3 and index() == start + 1
    search.clear()
    panel.step_first()
    window.graph_panel.view.setFocus()
    qtbot.keyClick(window.graph_panel.view, Qt.Key.Key_Left)  # the first node stays the first
    assert index() == 0
    window._tabs.setCurrentWidget(window.training_panel)  # other pages keep their own keys
    qtbot.keyClick(window.training_panel, Qt.Key.Key_Right)
    assert index() == 0
    window._show_feature_maps()
    qtbot.keyClick(window.graph_panel.view, Qt.Key.Key_Right)
    assert index() == 1


def test_export_is_the_cli_file_and_the_status_bar_says_where(window, tmp_path, monkeypatch):
    from explorer.cli import main as cli_main

    out = tmp_path / "window" / "lenet_small.svg"
    out.parent.mkdir()
    offered = {}

    def dialog(_parent, _title, default, *_args):
        offered["default"] = default
        return str(out), ""

    monkeypatch.setattr("explorer.ui.main_window.QFileDialog.getSaveFileName", dialog)
    menu_action(window, "&Export graph…").trigger()
    assert offered["default"].endswith("lenet_small.svg")
    assert f"graph saved to {out}" in window.statusBar().currentMessage()
    cli_out = tmp_path / "cli" / "lenet_small.svg"
    cli_out.parent.mkdir()
    assert cli_main(["graph", "lenet_small", "--out", str(cli_out)]) == 0
    assert out.read_bytes() == cli_out.read_bytes()  # one renderer


def test_window_holds_from_1024x700_and_dark_reaches_the_plots(window, qtbot):
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    hint = window.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 700, hint
    window.set_theme("dark", remember=False)
    views = [w for w in QApplication.instance().allWidgets() if isinstance(w, pg.GraphicsView)]
    assert views
    for view in views:  # plots, histogram, mosaic, kernels: none stays white
        assert view.backgroundBrush().color().lightness() < 80, type(view).__name__
    assert "indicator:unchecked" in QApplication.instance().styleSheet()
    window.set_theme("light", remember=False)
    assert all(v.backgroundBrush().color().lightness() > 200 for v in views)
    assert QApplication.instance().styleSheet() == ""


def test_side_by_side_with_the_difference_on_holds_1024x700(window, qtbot):
    """The walk found ticking Difference raising the window's minimum width to 1,231 px."""
    from PySide6.QtCore import QSize
    from PySide6.QtWidgets import QApplication

    window.resize(1024, 700)
    window._show_side_by_side()
    view = window.side_by_side
    qtbot.waitUntil(lambda: bool(view.pairs) and not view.busy, timeout=120_000)
    view.go_to(len(view.pairs) - 1)  # the classifier: the same shape on both sides
    view.diff_check.setChecked(True)
    assert view.diff_view.isVisible()
    for stage in [*range(len(view.pairs)), len(view.pairs) - 1]:  # bars and mosaics, with the difference
        view.go_to(stage)
        QApplication.processEvents()
        hint, minimum = window.minimumSizeHint(), window.minimumSize()
        assert hint.width() <= 1024 and hint.height() <= 700, (view.pairs[stage][0][0], hint)
        assert minimum.width() <= 1024 and minimum.height() <= 700, (view.pairs[stage][0][0], minimum)
        assert window.size() == QSize(1024, 700)
    assert view.diff_view.isVisible() and view.diff_view.showing_bars
    for output in (view.panes["A"].output, view.panes["B"].output, view.diff_view):
        assert output.showing_bars and output.chart.fits()  # labels, title and axis inside the pane

def test_left_to_right_is_a_view_option(window, qtbot):
    panel = window.graph_panel
    menu_action(window, "Graph &left to right").trigger()
    qtbot.waitUntil(lambda: panel.layout_data is not None and panel.layout_data.direction == "LR"
                    and panel._populating is None, timeout=60_000)
    assert panel.scene.sceneRect().width() > panel.scene.sceneRect().height()


def test_screenshot_command(tmp_path):
    """`cnn-explorer --model NAME --screenshot FILE.png` renders the window and exits 0;
    an unknown model exits 1 at once with the one-line reason."""
    from PIL import Image

    out = tmp_path / "shot.png"
    ok = subprocess.run([sys.executable, "-m", "explorer", "--model", "lenet_small", "--window-size",
                         "1024x700", "--screenshot", str(out)], capture_output=True, text=True, timeout=240)
    assert ok.returncode == 0, ok.stderr[-2000:]
    with Image.open(out) as image:
        assert image.size == (1024, 700)  # the smallest size the window holds
        assert len(image.convert("L").getcolors(maxcolors=256) or []) > 50  # drawn, not blank
    bad = subprocess.run([sys.executable, "-m", "explorer", "--model", "no_such_net", "--screenshot", str(out)],
                         capture_output=True, text=True, timeout=240)
    assert bad.returncode == 1
    assert "unknown model 'no_such_net'" in bad.stderr
    size = subprocess.run([sys.executable, "-m", "explorer", "--window-size", "wide", "--screenshot", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert size.returncode == 2 and "'wide' is not WIDTHxHEIGHT" in size.stderr


def test_closing_during_a_run_asks_first(window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from explorer.train import TrainConfig

    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args: asked.append(args[2]) or answers.pop(0))
    window.session.training.start("lenet_small", TrainConfig())
    assert not window.close() and window.isVisible()  # "No": the window and the run stay
    assert "lenet_small is training" in asked[0]
    assert window.close() and not window.isVisible()
    window.session.training.set_state("stopped")  # no worker here to end it


def test_open_in_explorer_shows_the_explorer_with_the_runs_model_and_weights(window, qtbot, tmp_path):
    """The walk: "Open in explorer" in the runs table left the window on the Training tab."""
    from PySide6.QtWidgets import QPushButton

    from explorer.models import get_model
    from explorer.train import RunHistory, RunRecord, save_checkpoint

    checkpoint = save_checkpoint(tmp_path / "run.pt", model_name="lenet_small", config={}, epoch=2,
                                 model_state=get_model("lenet_small").state_dict())
    RunHistory().save(RunRecord(run_id="2026-open", model="lenet_small", config={}, status="completed",
                                curves={"epoch": [1, 2], "test_acc": [0.7, 0.8]}, final={"test_acc": 0.8},
                                checkpoint=str(checkpoint)))
    pick(qtbot, window, "alexnet_small")
    settle(qtbot, window)
    tabs = window._tabs
    panel = window.training_panel
    tabs.setCurrentWidget(panel)
    panel.refresh_runs()
    panel.view.pages.setCurrentWidget(panel.runs)
    table = panel.runs.table
    row = panel.runs.row_of("2026-open")
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualRect(table.model().index(row, 1)).center())
    qtbot.mouseClick(panel.findChild(QPushButton, "open_run"), Qt.MouseButton.LeftButton)
    assert tabs.currentIndex() == 0 and tabs.tabText(0) == "Architecture"
    assert window.feature_panel.isVisible() and not panel.isVisible()
    assert window.session.model_name == "lenet_small"
    weights = window.session.weights
    assert (weights.kind, weights.run_id, weights.epoch) == ("run", "2026-open", 2)
    settle(qtbot, window)


def test_the_model_list_and_graph_come_before_torch_has_loaded(qtbot, qt_warnings, monkeypatch):
    """The picker fills from the registry snapshot in the constructor and the graph is drawn
    from its snapshot while the core loads; a model chosen meanwhile shows its graph at once
    and is the one opened once the core has loaded."""
    from explorer.models import list_models
    from explorer.ui import main_window

    started = []

    def start_without_torch(loader):
        # What the loader thread does before it imports torch: the graph view's modules.
        started.append(loader)
        loader.graph_view_loaded.emit()

    monkeypatch.setattr(main_window._CoreLoader, "start", start_without_torch)
    win = MainWindow(Settings(), initial_model="lenet_small")
    qtbot.addWidget(win)
    win.show()
    assert win.picker.names == list_models()
    assert win.feature_panel is None  # the core has not loaded: nothing here waits for it
    assert win.findChild(main_window.QLabel, "core-loading").text() == "Loading PyTorch for the live feature maps…"
    # The graph panel draws from the snapshot: no torch.
    qtbot.waitUntil(lambda: win.graph_panel is not None and win.graph_panel.graph is not None
                    and win.graph_panel.graph.name == "lenet_small", timeout=60_000)
    pick(qtbot, win, "resnet18_small")
    assert "Opening resnet18_small once PyTorch has loaded" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: win.graph_panel.graph is not None and win.graph_panel.graph.name == "resnet18_small",
                    timeout=60_000)
    started[0].run()  # the loader's work, on this thread
    with qtbot.waitSignal(win.model_shown, timeout=120_000):
        pass
    assert win.current_model == "resnet18_small"
    settle(qtbot, win)
    assert win.findChild(main_window.QLabel, "core-loading") is None or not win.findChild(
        main_window.QLabel, "core-loading").isVisible()
    win.close()


@pytest.mark.parametrize("size", [(1440, 900), (1024, 700)])
def test_a_first_launch_opens_the_trained_small_form_with_its_maps_and_top5_in_view(qtbot, qt_warnings, size):
    from PySide6.QtCore import QPoint, QRect

    win = MainWindow(Settings())  # nothing remembered: the first launch
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    with qtbot.waitSignal(win.model_shown, timeout=120_000):
        pass
    settle(qtbot, win)
    assert win.current_model == "resnet18_small"
    panel = win.feature_panel
    assert panel.weights_selector.combo.currentText().startswith("Fashion-MNIST, shipped: test 0.")
    qtbot.waitUntil(lambda: panel.view_state is not None and panel.view_state.mosaic is not None, timeout=60_000)
    assert panel.view_state.model_name == "resnet18_small" and win.session.image is not None
    table = panel.predictions_box.top5_table
    qtbot.waitUntil(lambda: table.item(0, 0) is not None, timeout=60_000)
    scroll = panel.parentWidget().parentWidget()  # the explore page's scroll area
    viewport = scroll.viewport()
    shown = QRect(table.mapTo(viewport, QPoint(0, 0)), table.size())
    assert viewport.rect().contains(shown), (shown, viewport.rect())
    win.close()


def test_a_concatenated_units_source_is_highlighted_in_the_graph(window, qtbot):
    """The Unit page's source button shows the source unit's arithmetic and the graph marks
    the source node, while the maps stay at the concatenation."""
    pick(qtbot, window, "googlenet_small")
    with qtbot.waitSignal(window.model_shown, timeout=120_000):
        pass
    settle(qtbot, window)
    panel = window.feature_panel
    panel.show_node("inception3a (cat)")
    qtbot.waitUntil(lambda: panel.settled and panel.view_state.record.title == "inception3a (cat)", timeout=60_000)
    cat = panel.current_node
    panel.unit_view.explain(40, (2, 2))
    detail = panel.unit_view.result.detail
    source = panel.stepper.nodes[detail.source_index].name
    qtbot.mouseClick(panel.unit_view.source_button, Qt.MouseButton.LeftButton)
    assert panel.unit_view.result.node == detail.source  # the source's own arithmetic
    assert window.graph_panel._highlight_node == source != cat
    assert window.graph_panel.view_graph.unit_of.get(source) is not None  # a node the graph draws
    assert panel.current_node == cat and window.session.node == cat
