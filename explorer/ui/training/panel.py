"""The Training tab: the recipe form, Start/Pause/Stop, the run's curves and per-epoch views.

Over 400 lines because the tab coordinates the form, the driver, the run view and the runs
table, and each run state (starting, running, paused, failed, finished) changes all four.

The panel subscribes to the ``Session``: while no run is active the form follows the
explorer's model (``session.model_changed``); a run keeps its own model and config in
``session.training``, and the run label always names the run's model, whatever the
explorer shows meanwhile. Each epoch goes into ``session.training.record_epoch``; the
explorer's weights follow the run's newest epoch only while the explorer shows that run.

The worker, its event timer and its shutdown belong to ``RunDriver`` (ui/training/driver.py).
"""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QMessageBox, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

from explorer import settings
from explorer.errors import UserError
from explorer.session import Session, TrainingRun
from explorer.train import BatchMetrics, EpochMetrics, RunHistory, TrainConfig
from explorer.train.data import image_count, raw_folder
from explorer.ui.training.controls import RunControls
from explorer.ui.training.driver import RunDriver, status_line
from explorer.ui.training.form import TrainingForm
from explorer.ui.training.run_view import RunView, disconnect_all
from explorer.ui.training.runs import show_epoch_in_explorer
from explorer.ui.training.runs_table import RunsTable
from explorer.ui.training.time_machine import TimeMachineView

LOADING = "waiting for the first epoch…"


class TrainingPanel(QWidget):
    """Recipe form, run controls, live curves, confusion matrix, mistakes and past runs.

    Args:
        session: the explorer's session; the panel drives ``session.training``.
        parent: Qt parent.
        history: where runs are recorded and read back (default: the platform data folder).
        data_dir: folder holding ``FashionMNIST/raw`` (default: ``settings.data_dir()``).
        refresh_ms: how often the view drains the worker's events.
        in_process: train on a thread of this process instead of a child process (no
            start-up cost; the GUI thread then shares the interpreter lock with training).
        download: let torchvision download Fashion-MNIST when it is missing.

    Signals:
        running_changed(bool): a worker started, or it has ended for good.
        run_opened(str): "Open in explorer" showed this run's weights in the session (the
            window then shows the explorer).
    """

    running_changed = Signal(bool)
    run_opened = Signal(str)

    def __init__(
        self,
        session: Session,
        parent: QWidget | None = None,
        *,
        history: RunHistory | None = None,
        data_dir: str | None = None,
        refresh_ms: int = 100,
        in_process: bool = False,
        download: bool = True,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._history = history or RunHistory()
        self._follow = False  # switch the explorer to this run at its first epoch
        self.last_batch: BatchMetrics | None = None
        self.last_epoch: EpochMetrics | None = None

        self._form = TrainingForm()
        self._build()
        self._driver = RunDriver(session, self._history, refresh_ms=refresh_ms, in_process=in_process,
                                 download=download, parent=self)
        self.set_data_dir(data_dir)
        # Worker events arrive through the driver's signals, each to a bound method.
        self._driver.batch.connect(self._on_batch)
        self._driver.ended.connect(self._on_run_ended)
        self._driver.done.connect(self._on_worker_done)
        self._driver.drained.connect(self._view.curves.redraw)

        self._form.model_changed.connect(self._on_form_model_changed)
        self._form.notice.connect(self._on_notice)
        self._runs.overlay_toggled.connect(self._on_overlay_toggled)
        self._runs.current_changed.connect(self._on_current_run)
        self._runs.opened.connect(self.run_opened)
        self._runs.model.modelReset.connect(self._on_runs_reloaded)
        run = session.training
        self._disconnects = [
            session.model_changed.connect(self._on_explorer_model),
            run.changed.connect(self._on_run_changed),
            run.epoch_finished.connect(self._on_run_epoch),
        ]
        # A plain function holding only the disconnects: it must not keep the panel alive.
        self.destroyed.connect(functools.partial(disconnect_all, self._disconnects))
        if session.model_name is not None:
            self._form.set_model(session.model_name)
        self._on_run_changed(run)  # reads the table of runs too

    # ----- building ----------------------------------------------------------------------

    def _build(self) -> None:
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(2, 2, 2, 2)
        column.addWidget(self._form)
        self._controls = RunControls()
        self._controls.start_clicked.connect(self._on_start_clicked)
        self._controls.resume_clicked.connect(self.choose_checkpoint_and_resume)
        self._controls.pause_clicked.connect(self._on_pause_clicked)
        self._controls.stop_clicked.connect(self.stop)
        column.addWidget(self._controls)
        column.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(left.sizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        self._left = scroll

        self._view = RunView(self._session.training)
        self._runs = RunsTable(self._session, self._history, plots=self._view.curves)
        self._view.pages.addTab(self._runs, "Runs")
        self._time_machine = TimeMachineView(self._session, data_dir=self._data_folder)
        self.pages = QTabWidget(objectName="training_pages")
        self.pages.addTab(self._view, "Curves and runs")
        # The time machine's row of maps, kernels and top-5 beside its plots wants ~830 px:
        # scrolled, so the Training tab (and the window) still fit 1024 px.
        time_scroll = QScrollArea()
        time_scroll.setWidget(self._time_machine)
        time_scroll.setWidgetResizable(True)
        time_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.pages.addTab(time_scroll, "Time machine")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([scroll.minimumWidth(), 900])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self._reset_views()

    # ----- the form and the explorer -----------------------------------------------------

    @property
    def form(self) -> TrainingForm:
        return self._form

    @property
    def view(self) -> RunView:
        """Run label, curves, confusion matrix and misclassified images."""
        return self._view

    @property
    def runs(self) -> RunsTable:
        """The table of runs (sortable, renamable, overlays, exports)."""
        return self._runs

    @property
    def time_machine(self) -> TimeMachineView:
        """The epoch scrubber of the run chosen in the table, or of the run being trained."""
        return self._time_machine

    @property
    def training_model(self) -> str | None:
        """The model the next run trains (the form's)."""
        return self._form.training_model

    def config(self) -> TrainConfig:
        return self._form.config()

    def set_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form (its model included); the next Start trains it."""
        self._form.set_config(config)

    @property
    def data_dir(self) -> str | None:
        """The folder the next run reads Fashion-MNIST from (None: the settings' folder)."""
        return self._driver.data_dir

    def _data_folder(self) -> str | None:
        return self._driver.data_dir

    def set_data_dir(self, folder: str | None) -> None:
        """Read Fashion-MNIST from ``folder`` for the next run (None: the settings' folder);
        the form hears how many training images it holds (a file header)."""
        self._driver.data_dir = folder
        self._form.set_train_images(image_count(settings.data_dir(folder)))

    def _on_explorer_model(self, session: Session, change: str) -> None:
        # A run keeps its own model: the form follows the explorer only between runs.
        if change == "model" and not self._driver.running and session.model_name is not None:
            self._form.set_model(session.model_name)
            self._update_buttons()  # a model without a small form cannot be trained

    def _on_form_model_changed(self, _model: str) -> None:
        if not self._driver.running:
            self._reset_views()
            self._update_buttons()

    def _reset_views(self, title: str = "", epochs: int = 1) -> None:
        """Empty curves, confusion matrix, mistakes and notices (another model, or loading)."""
        self._view.reset(title, epochs)
        self._controls.reset(loading=bool(title))
        self.last_batch = self.last_epoch = None

    def _on_notice(self, text: str) -> None:
        self._session.notify(text)

    def _on_run_changed(self, run: TrainingRun) -> None:
        self._form.setEnabled(not run.active)
        if run.active:
            self._controls.set_paused(run.state == "paused")
        self._update_buttons()
        # A started run is listed at once (epoch 0, before its data has loaded), and its
        # row says what the run label and the close dialog say: running, paused or ended.
        self._runs.refresh()

    def _on_runs_reloaded(self) -> None:
        """No run this session yet: the run label says what the table below holds."""
        records = self._runs.past_runs()
        newest = max(records, key=lambda r: r.started) if records else None
        self._view.set_past_runs(len(records), self._runs.model.summary(newest) if newest else "")

    # ----- control -----------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """A run was started and its worker has not reported the end yet."""
        return self._driver.running

    @property
    def last_status(self) -> str | None:
        """How the last run ended: ``completed``, ``stopped`` or ``failed``."""
        return self._driver.last_status

    @property
    def engine_state(self) -> str:
        return self._driver.engine_state

    def _on_start_clicked(self) -> None:
        self.start()

    def start(self, resume: str | None = None) -> None:
        """Start a run with the form's config (ignored while one is running).

        Args:
            resume: a checkpoint to continue from; the run keeps the checkpoint's own
                options and trains up to the form's number of epochs (if more).
        """
        if self._driver.running:
            return
        stored = None
        try:
            if resume:
                from explorer.train.checkpoint import checkpoint_curves, load_checkpoint

                # Read here as well as in the worker: a bad file is refused before anything starts.
                stored = load_checkpoint(resume)
                kept = TrainConfig.from_dict(stored["config"])
                current = self._form.config() if self._form.training_model else kept
                self._form.set_config(kept.replace(epochs=max(current.epochs, kept.epochs), device=current.device))
            config = self._form.config()
        except UserError as exc:
            self._show_error(str(exc))
            return
        root = settings.data_dir(self._driver.data_dir)
        if not (raw_folder(root) / "train-images-idx3-ubyte").exists():
            self._session.notify(f"Fashion-MNIST not found in {raw_folder(root)}: trying to download it")
        self._reset_views(LOADING, config.epochs)
        if stored is not None:
            self._view.curves.show_past_epochs(checkpoint_curves(stored))
        # Started from the model the explorer shows: the explorer follows the run's epochs.
        shown = self._session.model_name
        self._follow = shown is not None and shown in (config.model, self._form.picked_model)
        self._driver.start(config, resume)
        self.running_changed.emit(True)
        self._session.notify(f"training {config.model} on {config.device}")

    def choose_checkpoint_and_resume(self) -> None:
        """Ask for a checkpoint file and continue training from it."""
        from PySide6.QtWidgets import QFileDialog

        folder = settings.user_data_dir() / "checkpoints"
        path, _ = QFileDialog.getOpenFileName(self, "Resume from checkpoint", str(folder), "Checkpoints (*.pt)")
        if path:
            self.start(resume=path)

    def pause(self) -> None:
        self._driver.pause()
        self._update_buttons()

    def resume(self) -> None:
        self._driver.resume()
        self._update_buttons()

    def stop(self) -> None:
        """Ask the run to stop after the current batch; the last checkpoint stays."""
        if self._driver.running:
            self._driver.stop()
            self._controls.set_progress_text("stopping…")

    def _on_pause_clicked(self) -> None:
        if self._driver.paused:
            self.resume()
        else:
            self.pause()

    def _update_buttons(self) -> None:
        self._controls.set_buttons(can_start=self._form.training_model is not None, running=self._driver.running,
                                   paused=self._driver.paused)

    def confirm_close(self, parent: QWidget | None = None) -> bool:
        """Ask before a window closes during a run; True when it may close (and stop it)."""
        run = self._session.training
        if not run.active:
            return True
        # What the runs table's row of this run says: its state and the epochs it finished.
        state = "paused" if run.state == "paused" else "training"
        if run.epoch:
            kept = (f"{run.epoch} epoch{'s' if run.epoch > 1 else ''} done. Closing stops the run; the "
                    f"checkpoint of epoch {run.epoch} stays, and Resume… continues it later.")
        else:
            kept = "no epoch finished yet. Closing stops the run; there is no checkpoint to resume yet."
        answer = QMessageBox.question(
            parent or self,
            "Stop training?",
            f"{run.model_name} is {state}: {kept} Close anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop a run for good (the window is closing) and wait for its worker.

        Returns:
            True when no worker is left running; False (reported in the log and the
            status bar) when it did not end within ``timeout_ms``.
        """
        return self._driver.shutdown(timeout_ms)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        disconnect_all(self._disconnects)
        self._view.close_view()
        self._time_machine.close_view()
        super().closeEvent(event)

    # ----- the run's events --------------------------------------------------------------

    def _on_batch(self, m: BatchMetrics) -> None:
        self.last_batch = m
        self._view.add_batch(m)
        self._controls.show_batch(m, paused=self._driver.paused)

    def _on_run_ended(self, status: str) -> None:
        if status == "failed":
            self._show_notice(self._driver.failure)  # the driver told the status bar its first line
            self._controls.set_progress_text("failed")
        else:
            self._controls.set_progress_text(f"{status}: %p%")

    def _on_worker_done(self) -> None:
        self._view.curves.redraw()
        self._view.clear_loading()
        self._controls.end_run()
        self._runs.refresh()
        self._update_buttons()
        self.running_changed.emit(False)

    def _on_run_epoch(self, run: TrainingRun, m: EpochMetrics) -> None:
        """Notices and the run list for an epoch; the explorer's weights if it shows the run."""
        self.last_epoch = m
        if m.overfitting:
            self._controls.show_notice(f"Epoch {m.epoch}: {m.overfitting}")
        else:
            self._controls.hide_notice()
        self._runs.refresh()
        follow, self._follow = self._follow, False
        show_epoch_in_explorer(self._session, run, m, follow=follow, picked=self._form.picked_model)

    # ----- notices and overlays ----------------------------------------------------------

    def _show_error(self, text: str) -> None:
        """An error in place, whole (wrapped, selectable), and its first line in the status bar."""
        self._show_notice(text)
        self._session.notify(status_line(text))

    def _show_notice(self, text: str) -> None:
        self._controls.show_notice(text)
        # Below the form, the notice may lie under the fold of a short window: scroll to it
        # once the label has its wrapped height.
        QTimer.singleShot(0, self, self._scroll_to_notice)

    def _scroll_to_notice(self) -> None:
        label = self._controls.notice_label
        if not label.isHidden():
            self._left.ensureWidgetVisible(label, 0, 4)

    def refresh_runs(self) -> None:
        """Reload the table of runs, keeping the selected overlays."""
        self._runs.refresh()

    def _on_current_run(self, record) -> None:
        if record is not None and record.checkpoint:
            self._time_machine.show_run(record.checkpoint, record.run_id, record.name or record.run_id)

    def _on_overlay_toggled(self, run_id: str, ticked: bool) -> None:
        if not ticked:
            self._view.curves.remove_overlay(run_id)
            return
        try:
            record = self._history.load(run_id)
        except (OSError, ValueError) as exc:
            self._session.notify(f"cannot read run {run_id}: {exc}")
            return
        self._view.curves.add_overlay(run_id, record.curves.epoch, record.curves.test_acc,
                                      f"{record.model} {record.config.get('optimizer')} lr {record.config.get('lr')}")
