"""The Training tab driven through Qt: runs end to end, a run keeps its model while the
explorer moves, weights follow only the run the explorer shows, pause/stop, closing."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QMessageBox, QProgressBar, QPushButton
from torch import nn

from explorer.session import Session
from explorer.train import RunHistory, TrainConfig, load_checkpoint
from explorer.train.runner import WorkerDone, WorkerFailed
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


# ----- the walk's findings (issue 19), with a worker the test scripts ----------------------


class ScriptedWorker:
    """Stands in for TrainingProcess: hands the panel the events a test queues (``send``)."""

    made: ClassVar[list[ScriptedWorker]] = []  # every one the panel made, newest last

    def __init__(self, config, **_options):
        self.config = config
        self.paused = False
        self.running = True
        self._events: list = []
        ScriptedWorker.made.append(self)

    def send(self, *events):
        self._events.extend(events)

    def start(self):
        pass

    def drain(self):
        events, self._events = self._events, []
        return events

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def stop(self):
        pass

    def join(self, timeout_s=None):
        return True

    def kill(self):
        self.running = False


@pytest.fixture
def scripted_panel(qtbot, tmp_path, session, monkeypatch):
    """A shown panel whose runs are a ScriptedWorker's events (no training)."""
    from explorer.ui.training import driver as training_driver

    monkeypatch.setattr(training_driver, "TrainingProcess", ScriptedWorker)
    ScriptedWorker.made = []
    widget = make_panel(qtbot, tmp_path, tmp_path, session)
    widget.resize(1024, 640)
    widget.show()
    widget.view.pages.setCurrentWidget(widget.runs)
    yield widget
    for worker in ScriptedWorker.made:
        worker.send(WorkerDone())
    widget.shutdown(timeout_ms=1000)


def table_row(panel, row: int = 0) -> dict[str, str]:
    from explorer.ui.training.runs_model import COLUMNS

    model = panel.runs.table.model()
    return {title: model.index(row, column).data() for column, (title, _key) in enumerate(COLUMNS)}


def asked_on_close(panel, monkeypatch) -> str | None:
    """The close dialog's text (answered No), or None when closing does not ask."""
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _parent, _title, text, *args: asked.append(text) or QMessageBox.StandardButton.No)
    closes = panel.confirm_close(None)
    assert closes == (not asked)
    return asked[0] if asked else None


def test_a_started_run_is_listed_at_once_and_the_close_dialog_agrees_with_the_table(
        scripted_panel, session, qtbot, monkeypatch, tmp_path):
    """The walk: a run was missing from the table until its first epoch ended, while the
    close dialog said one was training (and the other way round)."""
    from explorer.train import RunRecord
    from explorer.train.events import RunStarted, StateChanged

    panel = scripted_panel
    small_run(panel, epochs=3)
    assert panel.runs.run_ids() == [] and asked_on_close(panel, monkeypatch) is None
    click(qtbot, panel, "start")
    # At once, before the worker has loaded anything: listed, running, no epoch finished.
    assert len(panel.runs.run_ids()) == 1
    row = table_row(panel)
    assert (row["Model"], row["Status"], row["Epochs"]) == ("lenet_small", "running", "0")
    text = asked_on_close(panel, monkeypatch)
    assert text.startswith("lenet_small is training: no epoch finished yet")
    # The worker has written the run's record and says so: the row is that record, still at epoch 0.
    worker = ScriptedWorker.made[-1]
    config = session.training.config
    RunHistory(tmp_path / "runs").save(RunRecord(run_id="run-a", model="lenet_small", config=config.to_dict(),
                                                 status="running", started="2026-01-01T10:00:00"))
    worker.send(RunStarted(run_id="run-a", config=config, checkpoint=None, sizes={}, device="cpu", start_epoch=0))
    qtbot.waitUntil(lambda: session.training.run_id == "run-a", timeout=5_000)
    assert panel.runs.run_ids() == ["run-a"]
    row = table_row(panel)
    assert (row["Status"], row["Epochs"]) == ("running", "0")
    worker.send(StateChanged("paused"))
    qtbot.waitUntil(lambda: session.training.state == "paused", timeout=5_000)
    assert table_row(panel)["Status"] == "paused"
    assert asked_on_close(panel, monkeypatch).startswith("lenet_small is paused: no epoch finished yet")
    # Failed before its first epoch (its record says so): still listed, as the run label
    # names it, as failed; closing does not ask.
    RunHistory(tmp_path / "runs").save(RunRecord(run_id="run-a", model="lenet_small", config=config.to_dict(),
                                                 status="failed", started="2026-01-01T10:00:00", message="no data"))
    with qtbot.waitSignal(panel.running_changed, timeout=5_000):
        worker.send(WorkerFailed("no data"), WorkerDone())
    assert panel.runs.run_ids() == ["run-a"]
    row = table_row(panel)
    assert (row["Status"], row["Epochs"]) == ("failed", "0")
    assert "run run-a" in text_of(panel, "run_label") and "failed" in text_of(panel, "run_label")
    assert asked_on_close(panel, monkeypatch) is None


def test_a_run_another_process_trains_is_not_said_to_be_this_windows(scripted_panel, tmp_path, monkeypatch):
    """A record whose checkpoint another process holds reads "running elsewhere": closing
    this window does not ask about it, and the table does not say it runs here."""
    from explorer.train import RunRecord
    from explorer.train.checkpoint import CheckpointLock

    panel = scripted_panel
    checkpoint = tmp_path / "other.pt"
    lock = CheckpointLock(checkpoint).acquire()  # as the other process holds it
    try:
        RunHistory(tmp_path / "runs").save(RunRecord(
            run_id="run-other", model="lenet_small", config={}, status="running", started="2026-01-01T10:00:00",
            curves={"epoch": [1], "test_acc": [0.5]}, checkpoint=str(checkpoint)))
        panel.refresh_runs()
        assert table_row(panel)["Status"] == "running elsewhere"
        assert asked_on_close(panel, monkeypatch) is None
    finally:
        lock.release()


def test_past_runs_are_named_above_the_table_after_a_relaunch(qtbot, tmp_path, session):
    """The walk: "No run yet" sat above a table of runs after a relaunch."""
    from explorer.train import RunRecord

    history = RunHistory(tmp_path / "runs")
    history.save(RunRecord(run_id="run-1", model="lenet_small", config={"optimizer": "adam"}, status="completed",
                           started="2026-01-01T10:00:00", curves={"epoch": [1, 2], "test_acc": [0.7, 0.81]},
                           final={"test_acc": 0.81, "epochs": 2}))
    history.save(RunRecord(run_id="run-2", model="alexnet_small", config={"optimizer": "sgd"}, status="stopped",
                           started="2026-01-02T10:00:00", curves={"epoch": [1], "test_acc": [0.62]},
                           final={"test_acc": 0.62, "epochs": 1}, name="my try"))
    widget = TrainingPanel(session, history=history)
    qtbot.addWidget(widget)
    label = text_of(widget, "run_label")
    assert "No run yet" not in label
    assert label == ("No run this session; 2 past runs in the Runs tab below "
                     "(newest: my try (alexnet_small), stopped, 1 epoch, test accuracy 0.620).")
    assert sorted(widget.runs.run_ids()) == ["run-1", "run-2"]
    # With no past runs the label still invites the first one.
    empty = TrainingPanel(Session(), history=RunHistory(tmp_path / "none"))
    qtbot.addWidget(empty)
    assert text_of(empty, "run_label") == "No run yet: choose a recipe and press Start."


def test_open_in_explorer_says_so(panel, session, qtbot):
    """The table's "Open in explorer" tells the window (run_opened), which shows the explorer."""
    small_run(panel)
    run_to_end(qtbot, panel)
    run_id = session.training.run_id
    session.set_model("alexnet_small")
    panel.runs.table.selectRow(0)
    with qtbot.waitSignal(panel.run_opened, timeout=1_000) as opened:
        click(qtbot, panel, "open_run")
    assert opened.args == [run_id] and session.model_name == "lenet_small"


LONG_ERROR = ("checkpoint /home/someone/.local/share/cnn-explorer/checkpoints/20260101-101010-resnet18_small-ab12.pt "
              "does not fit this model: missing conv1.weight, fc.bias, fc.weight and 3 more; unexpected bn1.bias, "
              "bn1.num_batches_tracked, bn1.running_mean, bn1.running_var, layer1.0.conv1.weight and 57 more\n"
              "Traceback-like second line <with markup-looking text> & an ampersand")


def assert_shown_whole(qtbot, panel, message: str) -> None:
    """The notice under the buttons holds ``message`` whole, wrapped in the tab, selectable,
    scrolled into view."""
    label = panel.findChild(QLabel, "notice")
    assert label.text() == message
    assert label.wordWrap() and label.textFormat() == Qt.TextFormat.PlainText
    assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert label.isVisible()
    # Nothing is cut once laid out: tall enough for every wrapped line, no wider than the
    # column, and inside what the column's scroll area shows.
    left = panel._left.viewport()

    def whole_in_view() -> bool:
        top_left, bottom_right = label.mapTo(left, label.rect().topLeft()), label.mapTo(left, label.rect().bottomRight())
        return (label.height() >= label.heightForWidth(label.width()) and top_left.y() >= 0
                and bottom_right.y() < left.height() and bottom_right.x() < left.width())

    qtbot.waitUntil(whole_in_view, timeout=2_000)


@pytest.mark.parametrize("when", ["start", "run"])
def test_a_failed_start_or_run_shows_its_whole_message_in_the_tab(scripted_panel, session, qtbot, when):
    """The walk: errors were only in the status bar, cut off."""
    from explorer.train.events import RunStarted

    panel = scripted_panel
    messages = []
    session.message.connect(messages.append)
    small_run(panel)
    click(qtbot, panel, "start")
    worker = ScriptedWorker.made[-1]
    if when == "run":
        worker.send(RunStarted(run_id="run-b", config=session.training.config, checkpoint=None, sizes={},
                               device="cpu", start_epoch=0))
        panel.resize(1024, 420)  # a short window: the notice lies below the fold until scrolled to
    with qtbot.waitSignal(panel.running_changed, timeout=5_000):
        worker.send(WorkerFailed(LONG_ERROR), WorkerDone())
    assert_shown_whole(qtbot, panel, LONG_ERROR)
    # The status bar keeps one line: the first, marked as going on.
    first = LONG_ERROR.splitlines()[0]
    assert f"{first} …" in messages and not any("\n" in m for m in messages)


def test_a_bad_checkpoint_to_resume_shows_its_whole_message_in_the_tab(scripted_panel, session, qtbot, tmp_path,
                                                                      monkeypatch):
    from explorer.errors import UserError
    from explorer.train import checkpoint as checkpoints

    panel = scripted_panel
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    panel.start(resume=str(bad))  # the real refusal, short
    assert not panel.is_running and "bad.pt is not a PyTorch checkpoint" in text_of(panel, "notice")
    one_line = LONG_ERROR.splitlines()[0]

    def refuse(path):
        raise UserError(one_line)

    monkeypatch.setattr(checkpoints, "load_checkpoint", refuse)
    messages = []
    session.message.connect(messages.append)
    panel.start(resume=str(bad))
    assert not panel.is_running
    assert_shown_whole(qtbot, panel, one_line)
    assert messages == [one_line]  # the status bar's line: it was one line already
