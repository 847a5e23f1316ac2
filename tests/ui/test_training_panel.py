"""The training panel: a run end to end, pause/resume/stop, closing mid-run, errors, overlays."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt
from torch import nn

from explorer.train import RunHistory, TrainConfig, load_checkpoint
from explorer.ui.training_panel import TrainingPanel


def make_panel(qtbot, tmp_path, root, **kwargs):
    widget = TrainingPanel(history=RunHistory(tmp_path / "runs"), data_dir=str(root), refresh_ms=20, **kwargs)
    qtbot.addWidget(widget)
    widget.set_model_name("lenet_small")
    return widget


@pytest.fixture
def panel(qtbot, tmp_path, tiny_fashion_root):
    """A panel training on a thread (no child start-up); the process path has its own tests."""
    torch.set_num_threads(1)
    widget = make_panel(qtbot, tmp_path, tiny_fashion_root, in_process=True)
    yield widget
    widget.shutdown(timeout_ms=10_000)


@pytest.fixture
def process_panel(qtbot, tmp_path, tiny_fashion_root):
    """A panel as the window makes it: training in a child process."""
    widget = make_panel(qtbot, tmp_path, tiny_fashion_root)
    yield widget
    widget.shutdown(timeout_ms=10_000)


def small_run(panel, **changes):
    values = dict(model="lenet_small", epochs=1, batch_size=32, lr=3e-3, optimizer="adam", device="cpu",
                  width_mult=0.5)
    values.update(changes)
    panel.set_config(TrainConfig(**values))


def test_a_run_updates_curves_views_and_weights(process_panel, qtbot):
    panel = process_panel
    small_run(panel, epochs=2)
    updates = []
    panel.weights_updated.connect(lambda name, model: updates.append((name, model)))
    with qtbot.waitSignal(panel.running_changed, timeout=60_000, check_params_cb=lambda running: not running):
        panel.start()
    assert panel.last_status == "completed"
    assert [name for name, _ in updates] == ["lenet_small", "lenet_small"]
    model = updates[-1][1]
    assert isinstance(model, nn.Module) and not model.training
    assert next(model.parameters()).device.type == "cpu"
    x, y = panel._loss_raw.getData()
    assert len(x) == 2 * panel.last_batch.batches and x[-1] == pytest.approx(2.0)
    assert list(panel._acc_test.getData()[0]) == [1.0, 2.0]
    assert panel._confusion.matrix().sum() == 200  # the tiny set's test images
    assert panel._mistakes.count == len(panel.last_epoch.misclassified.predicted)
    assert panel._runs.count() == 1  # the finished run is listed for comparison
    assert panel._start_button.isEnabled() and not panel._stop_button.isEnabled()


def test_pause_resume_stop(panel, qtbot):
    small_run(panel, epochs=200, batch_size=8)
    panel.start()
    qtbot.waitUntil(lambda: panel.last_batch is not None, timeout=30_000)
    panel.pause()
    assert panel._pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: panel.engine_state == "paused", timeout=10_000)
    assert "(paused)" in panel._progress.format()
    seen = panel.last_batch.images_seen
    panel._on_refresh()
    assert panel.last_batch.images_seen == seen and panel.engine_state == "paused"  # no batch while paused
    panel.resume()
    qtbot.waitUntil(lambda: panel.last_batch.images_seen > seen, timeout=10_000)
    with qtbot.waitSignal(panel.running_changed, timeout=10_000):
        panel.stop()
    assert panel.last_status == "stopped" and not panel.is_running


def test_closing_mid_training_stops_cleanly_with_checkpoint_intact(process_panel, qtbot):
    panel = process_panel
    small_run(panel, epochs=200, batch_size=16)
    panel.start()
    qtbot.waitUntil(lambda: panel.last_epoch is not None, timeout=30_000)
    worker = panel._worker
    panel.shutdown(timeout_ms=10_000)
    assert not worker.running and panel.last_status == "stopped"
    state = load_checkpoint(worker.checkpoint_path)
    assert state["epoch"] >= 1 and state["model_name"] == "lenet_small"


def test_missing_data_is_reported_and_panel_keeps_working(qtbot, tmp_path):
    widget = make_panel(qtbot, tmp_path, tmp_path / "empty", download=False, in_process=True)
    messages = []
    widget.message.connect(messages.append)
    with qtbot.waitSignal(widget.running_changed, timeout=30_000, check_params_cb=lambda running: not running):
        widget.start()
    assert widget.last_status == "failed"
    assert any("Fashion-MNIST not found" in m and "empty/FashionMNIST/raw" in m for m in messages)
    assert widget._start_button.isEnabled()


def test_model_without_small_form_disables_start(qtbot, tmp_path):
    widget = TrainingPanel(history=RunHistory(tmp_path / "runs"))
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.message) as blocker:
        widget.set_model_name("no_such_model")
    assert "unknown model" in blocker.args[0]
    assert not widget._start_button.isEnabled()


def test_picking_reference_model_trains_its_small_form_with_its_options(qtbot, tmp_path):
    widget = TrainingPanel(history=RunHistory(tmp_path / "runs"))
    qtbot.addWidget(widget)
    widget.set_model_name("resnet18")
    assert widget.training_model == "resnet18_small"
    assert widget._width.isEnabled() and not widget._batch_norm.isEnabled()
    widget.set_model_name("lenet")
    assert widget.config().width_mult is None and widget.config().batch_norm is None


def test_textbook_preset_fills_the_form(panel):
    panel._preset.setCurrentText("textbook-lenet")
    config = panel.config()
    assert (config.model, config.optimizer, config.lr, config.batch_size, config.epochs) == ("lenet", "sgd", 0.9, 256, 10)
    assert config.momentum == 0.0 and config.init == "xavier" and not config.normalize


def test_past_runs_overlay(panel, qtbot):
    small_run(panel)
    with qtbot.waitSignal(panel.running_changed, timeout=60_000, check_params_cb=lambda running: not running):
        panel.start()
    item = panel._runs.item(0)
    item.setCheckState(Qt.CheckState.Checked)
    assert len(panel._overlays) == 1
    curve = next(iter(panel._overlays.values()))
    assert list(curve.getData()[0]) == [1.0]
    item.setCheckState(Qt.CheckState.Unchecked)
    assert not panel._overlays


def test_resume_continues_a_checkpoint_and_refuses_a_bad_one(panel, qtbot, tmp_path):
    small_run(panel)
    with qtbot.waitSignal(panel.running_changed, timeout=60_000, check_params_cb=lambda running: not running):
        panel.start()
    checkpoint = panel._worker.checkpoint_path
    panel.set_config(panel.config().replace(epochs=2))
    with qtbot.waitSignal(panel.running_changed, timeout=60_000, check_params_cb=lambda running: not running):
        panel.start(resume=checkpoint)
    assert panel.last_status == "completed" and panel.last_epoch.epoch == 2
    assert list(panel._acc_test.getData()[0]) == [1.0, 2.0]  # the earlier epoch is shown too
    assert load_checkpoint(checkpoint)["epoch"] == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    with qtbot.waitSignal(panel.message) as blocker:
        panel.start(resume=str(bad))
    assert "corrupt" in blocker.args[0] and not panel.is_running
