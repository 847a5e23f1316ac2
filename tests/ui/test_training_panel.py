"""The Training tab driven through Qt: runs end to end, a run keeps its model while the
explorer moves, weights follow only the run the explorer shows, pause/stop, closing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QMessageBox, QProgressBar, QPushButton
from torch import nn

from explorer.session import Session
from explorer.train import RunHistory, TrainConfig, load_checkpoint
from explorer.ui.training.panel import TrainingPanel


@pytest.fixture
def session():
    return Session()


def make_panel(qtbot, tmp_path, root, session, model="lenet_small", **kwargs):
    widget = TrainingPanel(session, history=RunHistory(tmp_path / "runs"), data_dir=str(root), refresh_ms=20,
                           **kwargs)
    qtbot.addWidget(widget)
    if model:
        session.set_model(model)
    return widget


@pytest.fixture
def panel(qtbot, tmp_path, tiny_fashion_root, session):
    """A panel training on a thread (no child start-up); the process path has its own tests."""
    torch.set_num_threads(1)
    widget = make_panel(qtbot, tmp_path, tiny_fashion_root, session, in_process=True)
    yield widget
    widget.shutdown(timeout_ms=10_000)


@pytest.fixture
def process_panel(qtbot, tmp_path, tiny_fashion_root, session):
    """A panel as the window makes it: training in a child process."""
    widget = make_panel(qtbot, tmp_path, tiny_fashion_root, session)
    yield widget
    widget.shutdown(timeout_ms=10_000)


def button(panel, name) -> QPushButton:
    found = panel.findChild(QPushButton, name)
    assert found is not None, name
    return found


def text_of(panel, name) -> str:
    return panel.findChild(QLabel, name).text()


def click(qtbot, panel, name):
    qtbot.mouseClick(button(panel, name), Qt.MouseButton.LeftButton)


def small_run(panel, **changes):
    values = dict(model="lenet_small", epochs=1, batch_size=32, lr=3e-3, optimizer="adam", device="cpu",
                  width_mult=0.5)
    values.update(changes)
    panel.set_config(TrainConfig(**values))


def run_to_end(qtbot, panel, timeout=60_000):
    with qtbot.waitSignal(panel.running_changed, timeout=timeout, check_params_cb=lambda running: not running):
        click(qtbot, panel, "start")


def test_a_run_updates_the_views_and_the_explorer_follows_it(process_panel, session, qtbot):
    panel = process_panel
    small_run(panel, epochs=2)
    run_to_end(qtbot, panel)
    assert panel.last_status == "completed"
    curves = panel.view.curves
    x, _ = curves.series("loss")
    assert len(x) == 2 * panel.last_batch.batches and x[-1] == pytest.approx(2.0)
    assert curves.series("test")[0] == [1.0, 2.0]
    assert panel.view.confusion.matrix().sum() == 200  # the tiny set's test images
    assert panel.view.mistakes.count == len(panel.last_epoch.misclassified.predicted)
    assert panel.runs.run_ids() == [session.training.run_id]  # the finished run is listed
    assert button(panel, "start").isEnabled() and not button(panel, "stop").isEnabled()
    run = session.training
    assert run.state == "finished" and run.epoch == 2 and run.model_name == "lenet_small"
    assert text_of(panel, "run_label").startswith("Last run: Model lenet_small · finished · epoch 2/2")
    # Started from the model the explorer shows: the explorer shows the run's newest epoch.
    weights = session.weights
    assert (weights.kind, weights.run_id, weights.epoch) == ("run", run.run_id, 2)
    assert weights.test_accuracy == pytest.approx(panel.last_epoch.test_acc)
    assert Path(weights.path).is_file() and load_checkpoint(weights.path)["epoch"] == 2
    assert isinstance(session.module, nn.Module) and not session.module.training
    assert next(session.module.parameters()).device.type == "cpu"


def test_a_run_keeps_its_model_and_config_while_the_explorer_moves(panel, session, qtbot):
    """The issue's first bug: clicking AlexNet mid-run relabelled the LeNet run and gave
    the form AlexNet's dropout."""
    small_run(panel, epochs=200, batch_size=8)
    dropout = panel.findChild(QCheckBox, "dropout_on")
    assert not dropout.isChecked()  # LeNet-small's builder default: no dropout
    click(qtbot, panel, "start")
    qtbot.waitUntil(lambda: panel.last_batch is not None, timeout=30_000)
    started = session.training.config
    session.set_model("alexnet_small")
    assert session.training.model_name == "lenet_small"
    assert text_of(panel, "run_label").startswith("Model lenet_small · running")
    assert text_of(panel, "form_model").startswith("lenet_small")
    assert not dropout.isChecked() and panel.config() == started
    assert not panel.form.isEnabled()  # the run's recipe is shown, not edited
    with qtbot.waitSignal(panel.running_changed, timeout=30_000):
        click(qtbot, panel, "stop")
    assert session.training.state == "stopped"
    assert text_of(panel, "run_label").startswith("Last run: Model lenet_small · stopped")
    # The explorer kept its own model and weights; the stopped run replaced nothing.
    assert session.model_name == "alexnet_small" and session.weights is None
    # Idle again: the form follows the explorer, and nothing of LeNet's run stays on view.
    session.set_model("vgg11")
    assert panel.training_model == "vgg11_small"
    assert panel.view.curves.series("loss") == ([], [])
    assert panel.view.confusion.matrix() is None and panel.view.mistakes.count == 0


def test_model_change_resets_the_views_of_a_finished_run(panel, session, qtbot):
    small_run(panel)
    run_to_end(qtbot, panel)
    assert panel.view.confusion.matrix() is not None and panel.view.curves.series("test")[0] == [1.0]
    session.set_model("alexnet_small")
    assert panel.training_model == "alexnet_small"
    assert panel.findChild(QCheckBox, "dropout_on").isChecked()  # AlexNet-small's default recipe
    assert panel.view.curves.series("test") == ([], []) and panel.view.curves.series("loss") == ([], [])
    assert panel.view.confusion.matrix() is None and panel.view.mistakes.count == 0
    assert "after the first epoch" in panel.view.confusion.title


def test_a_stopped_new_run_keeps_the_good_weights_in_view(panel, session, qtbot):
    small_run(panel)
    run_to_end(qtbot, panel)
    good = session.weights
    assert good.kind == "run" and good.epoch == 1
    small_run(panel, epochs=200, batch_size=8)
    click(qtbot, panel, "start")
    qtbot.waitUntil(lambda: panel.last_batch is not None, timeout=30_000)
    assert panel.view.confusion.matrix() is None  # loading: empty views, not the last run's
    assert "waiting for the first epoch" in panel.view.confusion.title
    with qtbot.waitSignal(panel.running_changed, timeout=30_000):
        click(qtbot, panel, "stop")
    assert session.training.state == "stopped" and session.weights == good


def test_open_a_past_run_in_the_explorer(panel, session, qtbot):
    small_run(panel)
    run_to_end(qtbot, panel)
    run_id = session.training.run_id
    session.set_model("alexnet_small")
    panel.view.pages.setCurrentWidget(panel.runs)
    table = panel.runs.table
    assert panel.runs.run_ids() == [run_id] and not button(panel, "open_run").isEnabled()
    cell = table.visualRect(table.model().index(0, 2)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert table.model().index(0, 2).data() == "finished"
    click(qtbot, panel, "open_run")
    assert session.model_name == "lenet_small"
    weights = session.weights
    assert (weights.kind, weights.run_id, weights.epoch) == ("run", run_id, 1)
    assert load_checkpoint(weights.path)["run_id"] == run_id


def test_pause_resume_stop(panel, session, qtbot):
    small_run(panel, epochs=200, batch_size=8)
    click(qtbot, panel, "start")
    qtbot.waitUntil(lambda: panel.last_batch is not None, timeout=30_000)
    click(qtbot, panel, "pause")
    assert button(panel, "pause").text() == "Resume"
    qtbot.waitUntil(lambda: session.training.state == "paused", timeout=10_000)
    assert "(paused)" in panel.findChild(QProgressBar, "progress").format()
    assert "paused" in text_of(panel, "run_label")
    seen = panel.last_batch.images_seen
    qtbot.wait(100)
    assert panel.last_batch.images_seen == seen  # no batch while paused
    click(qtbot, panel, "pause")  # now reads "Resume"
    qtbot.waitUntil(lambda: panel.last_batch.images_seen > seen, timeout=10_000)
    assert session.training.state == "running"
    with qtbot.waitSignal(panel.running_changed, timeout=10_000):
        click(qtbot, panel, "stop")
    assert panel.last_status == "stopped" and not panel.is_running and not session.training.active


def test_closing_mid_training_stops_cleanly_with_checkpoint_intact(process_panel, session, qtbot):
    panel = process_panel
    small_run(panel, epochs=200, batch_size=16)
    click(qtbot, panel, "start")
    qtbot.waitUntil(lambda: panel.last_epoch is not None, timeout=30_000)
    assert panel.shutdown(timeout_ms=10_000)
    assert panel.last_status == "stopped" and session.training.state == "stopped"
    state = load_checkpoint(session.training.checkpoint)
    assert state["epoch"] >= 1 and state["model_name"] == "lenet_small"


def test_closing_asks_only_during_a_run(panel, session, qtbot, monkeypatch):
    asked = []

    def answer(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert panel.confirm_close(None) and not asked
    small_run(panel, epochs=200, batch_size=8)
    click(qtbot, panel, "start")
    assert not panel.confirm_close(None)
    assert len(asked) == 1 and "lenet_small is training" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.StandardButton.Yes)
    assert panel.confirm_close(None)
    assert panel.shutdown(timeout_ms=10_000) and not session.training.active


def test_missing_data_is_reported_and_panel_keeps_working(qtbot, tmp_path, session):
    (tmp_path / "empty").mkdir()  # a folder without the set (a missing folder is its own error)
    widget = make_panel(qtbot, tmp_path, tmp_path / "empty", session, download=False, in_process=True)
    messages = []
    session.message.connect(messages.append)
    run_to_end(qtbot, widget, timeout=30_000)
    assert widget.last_status == "failed" and session.training.state == "failed"
    assert any("Fashion-MNIST not found" in m and "empty/FashionMNIST/raw" in m for m in messages)
    assert "Fashion-MNIST not found" in text_of(widget, "notice")
    assert button(widget, "start").isEnabled()


def test_model_without_small_form_disables_start(qtbot, tmp_path, session):
    widget = make_panel(qtbot, tmp_path, tmp_path, session, model=None)
    messages = []
    session.message.connect(messages.append)
    session.set_model("no_such_model")
    assert any("unknown model" in m for m in messages)
    assert "cannot be trained here" in text_of(widget, "form_model")
    assert not button(widget, "start").isEnabled()


def test_picking_reference_model_trains_its_small_form_with_its_options(qtbot, tmp_path, session):
    from PySide6.QtWidgets import QDoubleSpinBox

    widget = make_panel(qtbot, tmp_path, tmp_path, session, model="resnet18")
    assert widget.training_model == "resnet18_small"
    assert text_of(widget, "form_model") == "resnet18_small  (small form of resnet18)"
    assert widget.findChild(QDoubleSpinBox, "width_mult").isEnabled()
    assert not widget.findChild(QCheckBox, "batch_norm").isEnabled()
    session.set_model("lenet")
    assert widget.config().width_mult is None and widget.config().batch_norm is None


def test_past_runs_overlay(panel, qtbot):
    small_run(panel)
    run_to_end(qtbot, panel)
    panel.runs.table.selectRow(0)
    curves = panel.view.curves
    assert len(curves.overlays) == 1
    assert curves.overlay_points(curves.overlays[0]) == [1.0]
    panel.runs.table.clearSelection()
    assert not curves.overlays


def test_resume_continues_a_checkpoint_and_refuses_a_bad_one(panel, session, qtbot, tmp_path):
    small_run(panel)
    run_to_end(qtbot, panel)
    checkpoint = session.training.checkpoint
    panel.set_config(panel.config().replace(epochs=2))
    with qtbot.waitSignal(panel.running_changed, timeout=60_000, check_params_cb=lambda running: not running):
        panel.start(resume=checkpoint)
    assert panel.last_status == "completed" and panel.last_epoch.epoch == 2
    assert panel.view.curves.series("test")[0] == [1.0, 2.0]  # the earlier epoch is shown too
    assert load_checkpoint(checkpoint)["epoch"] == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    messages = []
    session.message.connect(messages.append)
    panel.start(resume=str(bad))
    assert any("corrupt" in m for m in messages) and not panel.is_running


def test_a_deleted_panel_leaves_no_callbacks_on_the_session(qtbot, tmp_path, session):
    import shiboken6

    widget = TrainingPanel(session, history=RunHistory(tmp_path / "runs"))
    assert len(session.model_changed) == 1 and len(session.training.changed) == 3
    shiboken6.delete(widget)
    assert len(session.model_changed) == 0 and len(session.training.changed) == 0
    session.set_model("alexnet_small")  # would call into a deleted widget
