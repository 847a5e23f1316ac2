"""The integrated window: it appears before torch loads, fills the picker, draws a model,
wires graph <-> feature maps, persists the theme and survives bad input."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from explorer.settings import Settings
from explorer.ui.main_window import MainWindow


def test_window_module_does_not_import_torch():
    """The window is built before torch is imported: its module must not import it."""
    code = "import sys, explorer.ui.main_window, explorer.app; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings(), initial_model="lenet_small")
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.model_shown, timeout=120_000):
        pass
    yield win
    win.close()


def test_window_loads_zoo_and_shows_model(window, qtbot):
    assert window.current_model == "lenet_small"
    assert window.picker._items.keys() >= {"resnet50", "googlenet", "densenet121", "mobilenet_v1"}
    assert window._device_label.text().startswith("Device: ")
    assert "LeNet" in window.windowTitle()
    qtbot.waitUntil(lambda: window.feature_panel.stepper is not None, timeout=60_000)


def test_graph_click_runs_feature_maps_to_node(window, qtbot):
    qtbot.waitUntil(lambda: window.feature_panel.stepper is not None, timeout=60_000)
    qtbot.waitUntil(lambda: window.feature_panel.current_image is not None, timeout=60_000)
    nodes = [record.name for record in window.feature_panel.stepper.nodes]
    target = nodes[len(nodes) // 2]
    window.graph_panel.node_selected.emit(target)
    qtbot.waitUntil(lambda: window.feature_panel.current_node == target, timeout=60_000)


def test_picking_another_model(window, qtbot):
    with qtbot.waitSignal(window.model_shown, timeout=120_000):
        window.picker.model_chosen.emit("resnet18_small")
    assert window.current_model == "resnet18_small"
    assert Settings().get("last_model") == "resnet18_small"


def test_unknown_model_is_a_status_message(window):
    window.open_model("no_such_net")
    assert "unknown model" in window.statusBar().currentMessage()
    assert window.current_model == "lenet_small"


def test_theme_choice_persists(window):
    window.set_theme("dark")
    assert Settings().get("theme") == "dark"
    window.set_theme("light")
    assert Settings().get("theme") == "light"


def test_bad_weights_file_keeps_app_working(window, qtbot, tmp_path):
    qtbot.waitUntil(lambda: window.feature_panel.stepper is not None, timeout=60_000)
    model_before = window.feature_panel.stepper.model
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    window.load_weights_file(str(bad))
    qtbot.waitUntil(lambda: "weights.pt" in window.statusBar().currentMessage()
                    and not window.statusBar().currentMessage().startswith("Loading"), timeout=30_000)
    message = window.statusBar().currentMessage()
    assert message.startswith("lenet_small: ") and "\n" not in message
    assert window.feature_panel.stepper.model is model_before


def test_weights_file_loads_off_the_gui_thread(window, qtbot, tmp_path):
    import torch

    from explorer.models import get_model

    source = get_model("lenet_small")
    path = tmp_path / "trained.pt"
    torch.save(source.state_dict(), path)
    window.load_weights_file(str(path))
    qtbot.waitUntil(lambda: window.feature_panel.stepper is not None
                    and torch.equal(next(window.feature_panel.stepper.model.parameters()).cpu(),
                                    next(source.parameters())), timeout=60_000)
    assert "loaded weights from trained.pt" in window.statusBar().currentMessage()


def test_drop_on_window_goes_to_feature_panel(window, qtbot, tmp_path):
    from PIL import Image

    path = tmp_path / "drop.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = mock.MagicMock(spec=QDropEvent)
    event.mimeData.return_value = mime
    window.dropEvent(event)
    qtbot.waitUntil(
        lambda: window.feature_panel.current_image is not None
        and "drop.png" in str(window.feature_panel.current_image.source),
        timeout=30_000,
    )


def test_trained_weights_switch_view_to_the_trained_small_form(window, qtbot):
    """Training a reference model trains its small form; the epoch's weights must show."""
    from explorer.models import get_model

    from explorer.session import WeightsChoice

    window.open_model("resnet18")
    trained = get_model("resnet18_small").eval()
    weights = WeightsChoice("run", path="run.pt", run_id="run", epoch=1)
    window.session.set_model("resnet18_small", weights)
    window.session.set_module("resnet18_small", weights, trained)
    assert window.current_model == "resnet18_small"
    qtbot.waitUntil(lambda: window.feature_panel.stepper is not None
                    and window.feature_panel.stepper.model is trained, timeout=60_000)


def test_data_folder_choice_reaches_both_panels(window, fashion_root):
    window.set_data_folder(str(fashion_root))
    assert Settings().get("data_dir") == str(fashion_root)
    assert window.training_panel.data_dir == str(fashion_root)
    assert window.feature_panel.fashion_button.isEnabled()
    assert "Fashion-MNIST found" in window.statusBar().currentMessage()


def test_missing_data_folder_is_explained(window, tmp_path):
    window.set_data_folder(str(tmp_path))
    assert "no Fashion-MNIST" in window.statusBar().currentMessage()
    assert not window.feature_panel.fashion_button.isEnabled()


def test_layer_details_follow_the_stepped_node(window, qtbot):
    qtbot.waitUntil(lambda: window.feature_panel.current_node is not None, timeout=60_000)
    node = window.feature_panel.current_node
    module = window.graph_panel.graph.graph.nodes[node].get("module_path") or node
    qtbot.waitUntil(lambda: module in window.graph_panel.details_widget.text(), timeout=10_000)


def test_screenshot_command(tmp_path):
    """`cnn-explorer --model NAME --screenshot FILE.png` renders the window and exits 0;
    an unknown model exits 1 at once with the one-line reason."""
    from PIL import Image

    out = tmp_path / "shot.png"
    ok = subprocess.run([sys.executable, "-m", "explorer", "--model", "lenet_small", "--screenshot", str(out)],
                        capture_output=True, text=True, timeout=240)
    assert ok.returncode == 0, ok.stderr[-2000:]
    with Image.open(out) as image:
        assert image.width >= 1000 and image.height >= 600
        assert len(image.convert("L").getcolors(maxcolors=256) or []) > 50  # drawn, not blank
    bad = subprocess.run([sys.executable, "-m", "explorer", "--model", "no_such_net", "--screenshot", str(out)],
                         capture_output=True, text=True, timeout=240)
    assert bad.returncode == 1
    assert "unknown model 'no_such_net'" in bad.stderr


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
