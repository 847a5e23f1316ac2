"""The training panel: pick a recipe, press Start, watch the curves move.

The engine runs in a ``TrainingProcess`` (or, with ``in_process``, on a
``TrainingWorker`` thread); a timer on the GUI thread drains its events ten times per
second and updates the view. The curves are created once and fed with ``setData``, with
the axes cached and the y ranges moved only when the data leaves them, so a refresh
repaints little more than the curves; the confusion matrix and the misclassified grid are
repainted after each epoch, and a CPU copy of the model goes out through
``weights_updated`` so the graph and feature-map views can show the learned weights.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGraphicsItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.errors import UserError
from explorer.train import (
    PRESET_DESCRIPTIONS,
    PRESETS,
    BatchMetrics,
    EpochMetrics,
    RunFinished,
    RunHistory,
    StateChanged,
    TrainConfig,
    Trainer,
)
from explorer.train.config import DEVICES, OPTIMIZERS, SCHEDULES
from explorer.train.engine import format_duration
from explorer.ui.training_views import ConfusionMatrixView, MisclassifiedGrid
from explorer.train.runner import TrainingProcess, TrainingWorker, WorkerDone, WorkerFailed

CUSTOM = "custom"
OVERLAY_COLORS = ("#8c564b", "#9467bd", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
# Weight of the newest batch in the smoothed loss curve (an exponential moving average).
SMOOTHING = 0.05


class TrainingPanel(QWidget):
    """Presets, hyperparameters, Start/Pause/Stop, progress, live curves, per-epoch views.

    Args:
        parent: Qt parent.
        history: where runs are recorded and read back (default: the platform data folder).
        data_dir: folder holding ``FashionMNIST/raw`` (default: ``settings.data_dir()``).
        refresh_ms: how often the view drains the worker's events.
        in_process: train on a thread of this process instead of a child process (no
            start-up cost; the GUI thread then shares the interpreter lock with training).
        download: let torchvision download Fashion-MNIST when it is missing.

    Signals:
        weights_updated(str, object): after each epoch, the trained model's name and a CPU
            copy of the model in eval mode.
        message(str): one-line notices and errors for the status bar.
        running_changed(bool): a run started or ended.
        epoch_finished(object): the EpochMetrics of each epoch.
    """

    weights_updated = Signal(str, object)
    message = Signal(str)
    running_changed = Signal(bool)
    epoch_finished = Signal(object)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        history: RunHistory | None = None,
        data_dir: str | None = None,
        refresh_ms: int = 100,
        in_process: bool = False,
        download: bool = True,
    ) -> None:
        super().__init__(parent)
        self._history = history or RunHistory()
        self._data_dir = data_dir
        self._in_process = in_process
        self._download = download
        self._running = False
        self._picked_name: str | None = None
        self._train_model: str | None = None
        self._worker: TrainingWorker | None = None
        self._overlays: dict[str, pg.PlotDataItem] = {}
        self._y_tops: dict[int, float] = {}
        self._reset_series()

        self._build_form()
        self._build_plots()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._form_scroll)
        splitter.addWidget(self._right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([self._form_scroll.minimumWidth(), 900])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self._timer = QTimer(self)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self._on_refresh)
        self._apply_options_for_model()
        self._update_buttons()
        self.refresh_runs()

    # ------------------------------------------------------------------ building

    def _build_form(self) -> None:
        form_widget = QWidget()
        outer = QVBoxLayout(form_widget)
        outer.setContentsMargins(2, 2, 2, 2)

        recipe = QGroupBox("Recipe")
        form = QFormLayout(recipe)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._model_label = QLabel("no model picked")
        self._model_label.setWordWrap(True)
        form.addRow("Model", self._model_label)

        self._preset = QComboBox()
        self._preset.addItem(CUSTOM)
        for name in PRESETS:
            self._preset.addItem(name)
            self._preset.setItemData(self._preset.count() - 1, PRESET_DESCRIPTIONS.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self._preset.currentTextChanged.connect(self._on_preset_chosen)
        form.addRow("Preset", self._preset)

        defaults = TrainConfig()
        self._optimizer = QComboBox()
        self._optimizer.addItems(OPTIMIZERS)
        self._optimizer.setCurrentText(defaults.optimizer)
        self._momentum = self._double(0.0, 0.999, defaults.momentum, 2, 0.05)
        form.addRow("Optimizer", self._pair(self._optimizer, QLabel("momentum"), self._momentum))

        self._lr = self._double(1e-5, 10.0, defaults.lr, 5, 0.001)
        self._schedule = QComboBox()
        self._schedule.addItems(SCHEDULES)
        form.addRow("Learning rate", self._pair(self._lr, self._schedule))

        self._weight_decay = self._double(0.0, 0.1, defaults.weight_decay, 5, 1e-4)
        form.addRow("Weight decay", self._weight_decay)

        self._batch_size = QSpinBox()
        self._batch_size.setRange(1, 8192)
        self._batch_size.setValue(defaults.batch_size)
        self._epochs = QSpinBox()
        self._epochs.setRange(1, 1000)
        self._epochs.setValue(defaults.epochs)
        form.addRow("Batch size", self._pair(self._batch_size, QLabel("epochs"), self._epochs))

        self._width = self._double(0.125, 4.0, 1.0, 3, 0.125)
        form.addRow("Width ×", self._width)

        self._dropout_on = QCheckBox("on")
        self._dropout = self._double(0.0, 0.95, 0.5, 2, 0.05)
        self._dropout_on.toggled.connect(self._dropout.setEnabled)
        form.addRow("Dropout", self._pair(self._dropout_on, self._dropout))

        self._batch_norm = QCheckBox("on")
        form.addRow("Batch norm", self._batch_norm)

        self._resize = QSpinBox()
        self._resize.setRange(0, 512)
        self._resize.setSpecialValueText("model's own")
        self._resize.setSuffix(" px")
        form.addRow("Input resize", self._resize)

        self._augment = QCheckBox("flip + shift")
        self._shift = QSpinBox()
        self._shift.setRange(1, 8)
        self._shift.setValue(defaults.shift)
        self._shift.setSuffix(" px")
        form.addRow("Augmentation", self._pair(self._augment, self._shift))

        self._aux_weight = self._double(0.0, 1.0, defaults.aux_weight, 2, 0.05)
        self._aux_weight.setToolTip("weight of the auxiliary classifiers' losses (GoogLeNet paper: 0.3)")
        form.addRow("Aux loss weight", self._aux_weight)

        self._xavier = QCheckBox("Xavier init")
        self._normalize = QCheckBox("normalise input")
        self._normalize.setChecked(defaults.normalize)
        form.addRow("Start", self._pair(self._xavier, self._normalize))

        self._seed = QSpinBox()
        self._seed.setRange(0, 2**31 - 1)
        self._subset = QSpinBox()
        self._subset.setRange(0, 60000)
        self._subset.setSingleStep(1000)
        self._subset.setSpecialValueText("all")
        form.addRow("Seed", self._pair(self._seed, QLabel("images"), self._subset))

        self._device = QComboBox()
        self._device.addItems(DEVICES)
        self._amp = QCheckBox("bf16")
        self._amp.setToolTip("bf16 autocast (CUDA only)")
        self._channels_last = QCheckBox("channels last")
        self._channels_last.setToolTip(
            "channels-last memory format on CUDA; the CPU always uses it (measured faster)"
        )
        form.addRow("Device", self._pair(self._device, self._amp, self._channels_last))
        outer.addWidget(recipe)

        buttons = QHBoxLayout()
        self._start_button = QPushButton("Start")
        self._pause_button = QPushButton("Pause")
        self._stop_button = QPushButton("Stop")
        self._resume_button = QPushButton("Resume…")
        self._resume_button.setToolTip("continue a run from one of its checkpoints")
        self._start_button.clicked.connect(lambda: self.start())
        self._resume_button.clicked.connect(self.choose_checkpoint_and_resume)
        self._pause_button.clicked.connect(self._on_pause_clicked)
        self._stop_button.clicked.connect(self.stop)
        for button in (self._start_button, self._resume_button, self._pause_button, self._stop_button):
            buttons.addWidget(button)
        outer.addLayout(buttons)

        self._progress = QProgressBar()
        self._progress.setRange(0, 1000)
        self._progress.setValue(0)
        self._progress.setFormat("idle")
        self._progress.setTextVisible(True)
        outer.addWidget(self._progress)
        self._speed_label = QLabel(" ")
        outer.addWidget(self._speed_label)
        self._notice = QLabel("")
        self._notice.setWordWrap(True)
        self._notice.setStyleSheet("color: #c0392b;")
        self._notice.hide()
        outer.addWidget(self._notice)

        runs = QGroupBox("Past runs (tick to overlay test accuracy)")
        runs_layout = QVBoxLayout(runs)
        self._runs = QListWidget()
        self._runs.setMinimumHeight(120)
        self._runs.itemChanged.connect(self._on_run_toggled)
        runs_layout.addWidget(self._runs)
        outer.addWidget(runs, 1)

        self._form_scroll = QScrollArea()
        self._form_scroll.setWidgetResizable(True)
        self._form_scroll.setWidget(form_widget)
        self._form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scrollbar = self._form_scroll.verticalScrollBar().sizeHint().width()
        self._form_scroll.setMinimumWidth(form_widget.sizeHint().width() + scrollbar + 4)

    @staticmethod
    def _double(low: float, high: float, value: float, decimals: int, step: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(low, high)
        box.setDecimals(decimals)
        box.setSingleStep(step)
        box.setValue(value)
        return box

    @staticmethod
    def _pair(*widgets: QWidget) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            row.addWidget(widget)
        return holder

    def _build_plots(self) -> None:
        self._right = QSplitter(Qt.Orientation.Vertical)
        base = self.palette().color(QPalette.ColorRole.Base)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        self._plots = pg.GraphicsLayoutWidget()
        self._plots.setBackground(base)
        self._plots.setMinimumHeight(220)

        def plot(title: str, left: str) -> pg.PlotItem:
            item = self._plots.addPlot(title=f"<span style='color:{text.name()}'>{title}</span>")
            item.showGrid(x=True, y=True, alpha=0.25)
            item.setLabel("bottom", "epoch")
            item.setLabel("left", left)
            for axis in ("left", "bottom"):
                item.getAxis(axis).setPen(text)
                item.getAxis(axis).setTextPen(text)
                # An axis draws its grid across the whole plot: replaying that on every
                # repaint was most of a redraw (11 ms of 13 here). Cached as a pixmap it
                # is redrawn only when its range changes, which _fit_y keeps rare.
                item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            return item

        self._loss_plot = plot("Batch loss", "loss")
        # Per-batch curves repaint several times a second: no antialiasing and no finite
        # checks keep each repaint short on the GUI thread.
        self._loss_raw = self._loss_plot.plot(pen=pg.mkPen(QColor(150, 150, 150, 120), width=1), antialias=False,
                                              skipFiniteCheck=True)
        self._loss_smooth = self._loss_plot.plot(pen=pg.mkPen("#1f77b4", width=2), skipFiniteCheck=True)

        self._acc_plot = plot("Accuracy per epoch", "accuracy")
        # Bottom right: accuracy climbs towards 1, so a legend at the top hides the curves.
        legend = self._acc_plot.addLegend(offset=(-10, -10), labelTextColor=text)
        legend.setBrush(pg.mkBrush(base))
        self._acc_train = self._acc_plot.plot(pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=6,
                                              symbolBrush="#1f77b4", name="train")
        self._acc_val = self._acc_plot.plot(pen=pg.mkPen("#2ca02c", width=2), symbol="s", symbolSize=6,
                                            symbolBrush="#2ca02c", name="validation")
        self._acc_test = self._acc_plot.plot(pen=pg.mkPen("#d62728", width=2), symbol="t", symbolSize=7,
                                             symbolBrush="#d62728", name="test")
        self._acc_plot.setYRange(0, 1)

        self._lr_plot = plot("Learning rate", "lr")
        self._lr_curve = self._lr_plot.plot(pen=pg.mkPen("#ff7f0e", width=2), skipFiniteCheck=True)
        self._right.addWidget(self._plots)

        bottom = QSplitter(Qt.Orientation.Horizontal)
        self._confusion = ConfusionMatrixView()
        self._mistakes = MisclassifiedGrid()
        bottom.addWidget(self._confusion)
        bottom.addWidget(self._mistakes)
        self._right.addWidget(bottom)
        self._right.setSizes([380, 360])

    # ------------------------------------------------------------------ model

    def set_model_name(self, name: str) -> None:
        """Train ``name``'s small form (or ``name`` itself if it takes Fashion-MNIST)."""
        from explorer.train import training_model_name

        self._picked_name = name
        try:
            self._train_model = training_model_name(name)
        except UserError as exc:
            self._train_model = None
            self._model_label.setText(f"{name}: cannot be trained here ({exc})")
            self.message.emit(str(exc))
        else:
            self._model_label.setText(
                self._train_model if self._train_model == name else f"{self._train_model}  (small form of {name})"
            )
        self._apply_options_for_model()
        self._update_buttons()

    def set_data_dir(self, folder: str | None) -> None:
        """Read Fashion-MNIST from ``folder`` for the next run (None: the settings' folder)."""
        self._data_dir = folder

    @property
    def training_model(self) -> str | None:
        return self._train_model

    def _apply_options_for_model(self) -> None:
        """Enable the builder options the model takes, set to the builder's defaults."""
        options: dict[str, Any] = {}
        aux_heads = 0
        if self._train_model is not None:
            from explorer.models import get_model_info
            from explorer.train import builder_options

            info = get_model_info(self._train_model)
            aux_heads = getattr(info, "aux_heads", 0)
            params = inspect.signature(info.builder).parameters
            options = {opt: params[opt].default if opt in params else None for opt in builder_options(self._train_model)}
        self._width.setEnabled("width_mult" in options)
        if isinstance(options.get("width_mult"), (int, float)):
            self._width.setValue(float(options["width_mult"]))
        self._dropout_on.setEnabled("dropout" in options)
        dropout_default = options.get("dropout")
        self._dropout_on.setChecked(isinstance(dropout_default, (int, float)) and dropout_default > 0)
        if isinstance(dropout_default, (int, float)) and dropout_default > 0:
            self._dropout.setValue(float(dropout_default))
        self._dropout.setEnabled(self._dropout_on.isEnabled() and self._dropout_on.isChecked())
        self._batch_norm.setEnabled("batch_norm" in options)
        self._batch_norm.setChecked(bool(options.get("batch_norm")) if "batch_norm" in options else False)
        self._aux_weight.setEnabled(aux_heads > 0)
        self._builder_options = set(options)

    # ------------------------------------------------------------------ config

    def config(self) -> TrainConfig:
        """The run the form describes (validated)."""
        if self._train_model is None:
            raise UserError("pick a model to train first")
        opts = self._builder_options
        return TrainConfig(
            model=self._train_model,
            epochs=self._epochs.value(),
            batch_size=self._batch_size.value(),
            lr=self._lr.value(),
            optimizer=self._optimizer.currentText(),
            momentum=self._momentum.value(),
            weight_decay=self._weight_decay.value(),
            schedule=self._schedule.currentText(),
            width_mult=self._width.value() if "width_mult" in opts else None,
            dropout=(self._dropout.value() if self._dropout_on.isChecked() else 0.0) if "dropout" in opts else None,
            batch_norm=self._batch_norm.isChecked() if "batch_norm" in opts else None,
            resize=self._resize.value() or None,
            augment=self._augment.isChecked(),
            shift=self._shift.value(),
            aux_weight=self._aux_weight.value(),
            normalize=self._normalize.isChecked(),
            init="xavier" if self._xavier.isChecked() else "default",
            seed=self._seed.value(),
            subset=self._subset.value() or None,
            device=self._device.currentText(),
            amp=self._amp.isChecked(),
            channels_last=True if self._channels_last.isChecked() else None,
        ).validate()

    def set_config(self, config: TrainConfig) -> None:
        """Show ``config``'s values in the form (the model is set by set_model_name)."""
        self._epochs.setValue(config.epochs)
        self._batch_size.setValue(config.batch_size)
        self._lr.setValue(config.lr)
        self._optimizer.setCurrentText(config.optimizer)
        self._momentum.setValue(config.momentum)
        self._weight_decay.setValue(config.weight_decay)
        self._schedule.setCurrentText(config.schedule)
        if config.width_mult is not None:
            self._width.setValue(config.width_mult)
        if config.dropout is not None:
            self._dropout_on.setChecked(config.dropout > 0)
            if config.dropout > 0:
                self._dropout.setValue(config.dropout)
        if config.batch_norm is not None:
            self._batch_norm.setChecked(config.batch_norm)
        self._resize.setValue(config.resize or 0)
        self._augment.setChecked(config.augment)
        self._shift.setValue(config.shift)
        self._aux_weight.setValue(config.aux_weight)
        self._normalize.setChecked(config.normalize)
        self._xavier.setChecked(config.init == "xavier")
        self._seed.setValue(config.seed)
        self._subset.setValue(config.subset or 0)
        self._device.setCurrentText(config.device)
        self._amp.setChecked(config.amp)
        self._channels_last.setChecked(bool(config.channels_last))

    def _on_preset_chosen(self, name: str) -> None:
        if name == CUSTOM:
            return
        values = dict(PRESETS[name])
        model = values.pop("model", None)
        current = self.config() if self._train_model else TrainConfig()
        self.set_config(TrainConfig(**{**TrainConfig().to_dict(), **values,
                                       "device": current.device, "subset": current.subset}))
        if model and model != self._train_model:
            self.set_model_name(model)
            self.message.emit(f"preset {name} trains {model}")

    # ------------------------------------------------------------------ control

    @property
    def is_running(self) -> bool:
        """A run was started and its worker has not reported the end yet."""
        return self._running

    def start(self, resume: str | None = None) -> None:
        """Start a run with the form's settings (ignored while one is running).

        Args:
            resume: a checkpoint to continue from; the run keeps the checkpoint's own
                options and trains up to the form's number of epochs (if more).
        """
        if self.is_running:
            return
        try:
            stored = None
            if resume:
                from explorer.train import load_checkpoint

                # Read here as well as in the worker: a bad file is refused before anything starts.
                stored = load_checkpoint(resume)
                if stored["model_name"] != self._train_model:
                    self.set_model_name(stored["model_name"])
            config = self.config()
        except UserError as exc:
            self._show_error(str(exc))
            return
        from explorer import settings
        from explorer.train.data import raw_folder

        root = settings.data_dir(self._data_dir)
        if not (raw_folder(root) / "train-images-idx3-ubyte").exists():
            self.message.emit(f"Fashion-MNIST not found in {raw_folder(root)}: trying to download it")
        self._reset_series()
        epochs = config.epochs
        if stored is not None:
            epochs = max(epochs, int(stored["config"].get("epochs", 0)))
            self._show_past_epochs(stored.get("curves", {}))
        self._set_epoch_ranges(epochs)
        self._notice.hide()
        if self._in_process:
            trainer = Trainer(config, data_root=self._data_dir, download=self._download, history=self._history,
                              resume=resume or None, checkpoint_path=resume or None)
            self._worker = TrainingWorker(trainer)
        else:
            self._worker = TrainingProcess(
                config, data_root=self._data_dir, download=self._download, history=self._history,
                resume=resume or None, checkpoint_path=resume or None,
            )
        self._worker.start()
        self._running = True
        self._progress.setValue(0)
        self._progress.setFormat("loading data…")
        self._speed_label.setText(" ")
        self._timer.start()
        self._update_buttons()
        self.running_changed.emit(True)
        self.message.emit(f"training {config.model} on {config.device}")

    def choose_checkpoint_and_resume(self) -> None:
        """Ask for a checkpoint file and continue training from it."""
        from PySide6.QtWidgets import QFileDialog

        from explorer import settings

        folder = settings.user_data_dir() / "checkpoints"
        path, _ = QFileDialog.getOpenFileName(self, "Resume from checkpoint", str(folder), "Checkpoints (*.pt)")
        if path:
            self.start(resume=path)

    def _show_past_epochs(self, curves: dict) -> None:
        """Put a resumed run's earlier epochs on the curves."""
        epochs = list(curves.get("epoch", []))
        losses = list(curves.get("batch_loss", []))
        self._epoch_x = epochs
        self._train_acc = list(curves.get("train_acc", []))
        self._val_acc = [v if v is not None else float("nan") for v in curves.get("val_acc", [])]
        self._test_acc = list(curves.get("test_acc", []))
        if epochs and losses:
            per_epoch = len(losses) / epochs[-1]
            for i, loss in enumerate(losses):
                self._ema = (1 - SMOOTHING) * self._ema + SMOOTHING * loss
                self._ema_weight = (1 - SMOOTHING) * self._ema_weight + SMOOTHING
                self._batch_x.append((i + 1) / per_epoch)
                self._batch_loss.append(loss)
                self._smooth.append(self._ema / self._ema_weight)
        self._batches_dirty = self._epochs_dirty = True
        self._redraw()

    def _set_epoch_ranges(self, epochs: int) -> None:
        # A fixed epoch axis: with auto-range the x ticks would be recomputed and re-laid
        # out on every refresh, the most expensive part of a redraw.
        for plot in (self._loss_plot, self._lr_plot):
            plot.setXRange(0, epochs, padding=0.02)
            # y is fitted by _fit_y: auto-range would move it (and redraw the axes) on
            # every refresh as the loss falls.
            plot.enableAutoRange(x=False, y=False)
        self._y_tops = {}
        self._acc_plot.setXRange(0.5, max(epochs, 1) + 0.5, padding=0)
        self._acc_plot.enableAutoRange(x=False, y=False)

    def pause(self) -> None:
        if self.is_running and not self._worker.paused:
            self._worker.pause()
            self._update_buttons()

    def resume(self) -> None:
        if self.is_running and self._worker.paused:
            self._worker.resume()
            self._update_buttons()

    def stop(self) -> None:
        """Ask the run to stop after the current batch; the last checkpoint stays."""
        if self.is_running:
            self._worker.stop()
            self._progress.setFormat("stopping…")

    def _on_pause_clicked(self) -> None:
        if self._worker is not None and self._worker.paused:
            self.resume()
        else:
            self.pause()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop a run for good (the window is closing) and wait for its thread.

        The engine stops within one batch; the checkpoint of the last finished epoch is
        already on disk and is never half-written, so nothing is lost by not waiting
        longer than ``timeout_ms``.
        """
        self._timer.stop()
        worker = self._worker
        if worker is None:
            return
        worker.stop()
        if not worker.join(timeout_ms / 1000.0):
            if isinstance(worker, TrainingProcess):
                # Stuck outside the step loop (a download, say): end it. Checkpoints are
                # replaced atomically, so the last one stays whole.
                worker.kill()
            else:
                self.message.emit("training is still stopping; it will end after the current step")
        if self._running:
            self._handle_events(worker.drain())

    def _update_buttons(self) -> None:
        running = self.is_running
        self._start_button.setEnabled(not running and self._train_model is not None)
        self._resume_button.setEnabled(not running)
        self._pause_button.setEnabled(running)
        self._stop_button.setEnabled(running)
        self._pause_button.setText("Resume" if running and self._worker.paused else "Pause")

    # ------------------------------------------------------------------ events

    def _reset_series(self) -> None:
        self._batch_x: list[float] = []
        self._batch_loss: list[float] = []
        self._smooth: list[float] = []
        self._ema = 0.0
        self._ema_weight = 0.0
        self._lr_x: list[float] = []
        self._lr_y: list[float] = []
        self._epoch_x: list[int] = []
        self._train_acc: list[float] = []
        self._val_acc: list[float] = []
        self._test_acc: list[float] = []
        self._batches_dirty = False
        self._epochs_dirty = False
        # What the engine last reported: "paused" only once it has really stopped stepping.
        self.engine_state = "idle"
        self.last_batch: BatchMetrics | None = None
        self.last_epoch: EpochMetrics | None = None
        self.last_status: str | None = None
        if hasattr(self, "_loss_raw"):
            for curve in (self._loss_raw, self._loss_smooth, self._lr_curve, self._acc_train, self._acc_val, self._acc_test):
                curve.setData([], [])

    def _on_refresh(self) -> None:
        if self._worker is None:
            self._timer.stop()
            return
        self._handle_events(self._worker.drain())

    def _handle_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, BatchMetrics):
                self._on_batch(event)
            elif isinstance(event, EpochMetrics):
                self._on_epoch(event)
            elif isinstance(event, StateChanged):
                self.engine_state = event.state
                self._progress.setFormat(self._progress.format().split(" (")[0] + (" (paused)" if event.state == "paused" else ""))
                self.message.emit("training paused" if event.state == "paused" else "training resumed")
            elif isinstance(event, RunFinished):
                self.last_status = self.engine_state = event.status
                final = event.record.final
                if event.status == "completed" and "test_acc" in final:
                    self.message.emit(
                        f"{event.record.model}: test accuracy {final['test_acc']:.3f} after {final['epochs']} epochs"
                    )
                else:
                    self.message.emit(f"{event.record.model}: {event.status}")
                self._progress.setFormat(f"{event.status}: %p%")
            elif isinstance(event, WorkerFailed):
                self.last_status = self.engine_state = "failed"
                self._show_error(event.message)
                self._progress.setFormat("failed")
            elif isinstance(event, WorkerDone):
                self._running = False
                self._timer.stop()
                self.refresh_runs()
                self._update_buttons()
                self.running_changed.emit(False)
        if self._batches_dirty or self._epochs_dirty:
            self._redraw()

    def _on_batch(self, m: BatchMetrics) -> None:
        self.last_batch = m
        self.engine_state = "running"
        if m.losses:
            beta = 1.0 - SMOOTHING
            for k, loss in enumerate(m.losses):
                self._ema = beta * self._ema + (1 - beta) * loss
                self._ema_weight = beta * self._ema_weight + (1 - beta)
                x = (m.first_loss_index + k + 1) / m.batches
                self._batch_x.append(x)
                self._batch_loss.append(loss)
                # Bias-corrected, so the first points are not pulled towards zero.
                self._smooth.append(self._ema / self._ema_weight)
            self._lr_x.append(self._batch_x[-1])
            self._lr_y.append(m.lr)
            self._batches_dirty = True
        done = ((m.epoch - 1) * m.batches + m.batch) / (m.epochs * m.batches)
        self._progress.setValue(int(done * 1000))
        paused = " (paused)" if self._worker is not None and self._worker.paused else ""
        self._progress.setFormat(f"epoch {m.epoch}/{m.epochs} · batch {m.batch}/{m.batches}{paused}")
        self._speed_label.setText(f"{m.images_per_s:,.0f} images/s · {format_duration(m.eta_s)} left")

    def _on_epoch(self, m: EpochMetrics) -> None:
        self.last_epoch = m
        self._epoch_x.append(m.epoch)
        self._train_acc.append(m.train_acc)
        self._val_acc.append(m.val_acc if m.val_acc is not None else float("nan"))
        self._test_acc.append(m.test_acc)
        self._epochs_dirty = True
        self._confusion.set_matrix(m.confusion, m.epoch)
        wrong = m.misclassified
        self._mistakes.set_items(wrong.images.numpy(), wrong.predicted, wrong.true, m.epoch)
        if m.overfitting:
            self._notice.setText(f"Epoch {m.epoch}: {m.overfitting}")
            self._notice.show()
        else:
            self._notice.hide()
        self.epoch_finished.emit(m)
        self.weights_updated.emit(self._train_model or "", m.model)

    def _redraw(self) -> None:
        """Feed the curves that have new points (each plot repaints only when fed)."""
        if self._batches_dirty:
            self._batches_dirty = False
            x = np.asarray(self._batch_x)
            losses = np.asarray(self._batch_loss)
            lrs = np.asarray(self._lr_y)
            self._loss_raw.setData(x, losses)
            self._loss_smooth.setData(x, np.asarray(self._smooth))
            self._lr_curve.setData(np.asarray(self._lr_x), lrs)
            self._fit_y(self._loss_plot, losses)
            self._fit_y(self._lr_plot, lrs)
        if self._epochs_dirty:
            self._epochs_dirty = False
            x = np.asarray(self._epoch_x, dtype=float)
            self._acc_train.setData(x, np.asarray(self._train_acc))
            self._acc_val.setData(x, np.asarray(self._val_acc), connect="finite")
            self._acc_test.setData(x, np.asarray(self._test_acc))

    def _fit_y(self, plot: pg.PlotItem, values: np.ndarray) -> None:
        """Show [0, top] with ``top`` a round number above the largest value.

        Losses and learning rates are not negative, so 0 is a fixed floor; the top moves
        only when a value rises above it or all values fall below a third of it, so
        most refreshes leave the axes (and their cached pixmaps) as they are.
        """
        finite = values[np.isfinite(values)] if len(values) else values
        if not len(finite):
            return
        peak = float(finite.max())
        top = self._y_tops.get(id(plot))
        if top is not None and peak <= top and peak >= top / 3:
            return
        if peak <= 0:
            top = 1.0
        else:
            # The next round number (1, 1.2, 1.5, 2, ... x 10^k) above the peak plus 5%.
            scale = 10.0 ** math.floor(math.log10(peak * 1.05))
            top = next(m * scale for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
                       if m * scale >= peak * 1.05)
        self._y_tops[id(plot)] = top
        plot.setYRange(0.0, top, padding=0)

    def _show_error(self, text: str) -> None:
        self._notice.setText(text)
        self._notice.show()
        self.message.emit(text)

    # ------------------------------------------------------------------ past runs

    def refresh_runs(self) -> None:
        """Reload the list of past runs (newest first), keeping ticked overlays."""
        ticked = set(self._overlays)
        blocker = QSignalBlocker(self._runs)
        self._runs.clear()
        for record in reversed(self._history.list_runs()):
            if not record.curves.get("test_acc"):
                continue
            item = QListWidgetItem(record.label)
            item.setData(Qt.ItemDataRole.UserRole, record.run_id)
            cfg = record.config
            item.setToolTip(
                "\n".join(f"{k}: {cfg.get(k)}" for k in ("model", "optimizer", "lr", "schedule", "batch_size",
                                                          "epochs", "weight_decay", "augment", "dropout", "batch_norm"))
            )
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if record.run_id in ticked else Qt.CheckState.Unchecked)
            self._runs.addItem(item)
        del blocker

    def _on_run_toggled(self, item: QListWidgetItem) -> None:
        run_id = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self.overlay_run(run_id)
        else:
            self.remove_overlay(run_id)

    def overlay_run(self, run_id: str) -> None:
        """Draw a past run's test accuracy (dashed) on the accuracy plot."""
        if run_id in self._overlays:
            return
        try:
            record = self._history.load(run_id)
        except (OSError, ValueError) as exc:
            self.message.emit(f"cannot read run {run_id}: {exc}")
            return
        color = OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)]
        curve = self._acc_plot.plot(
            record.curves.get("epoch", []),
            record.curves.get("test_acc", []),
            pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine),
            name=f"{record.model} {record.config.get('optimizer')} lr {record.config.get('lr')}",
        )
        self._overlays[run_id] = curve

    def remove_overlay(self, run_id: str) -> None:
        curve = self._overlays.pop(run_id, None)
        if curve is not None:
            self._acc_plot.removeItem(curve)
