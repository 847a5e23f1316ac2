"""The training form: the recipe of the next run, as a held ``TrainConfig``.

Over 400 lines because each of the recipe's fields (over twenty) is a widget with its range,
tooltip and enabling rule (momentum only for the optimizers that use it, and so on).

The form holds one ``TrainConfig`` and each widget edits one field of it, so a field
without a widget (``label_smoothing``, ``val_fraction``, ``eval_batch_size``, ...) keeps
the value a preset or the model's default recipe gave it: the window trains exactly what
``cnn-explorer train --preset NAME`` trains. Presets and per-model defaults come from
``explorer.train.make_config``, their one source.
"""

from __future__ import annotations

import inspect
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from explorer.errors import UserError
from explorer.loading import display_name
from explorer.train import PRESET_DESCRIPTIONS, PRESETS, TrainConfig, builder_options, make_config, preset
from explorer.train import config as train_config
from explorer.train.config import DEVICES, MOMENTUM_OPTIMIZERS, OPTIMIZERS, SCHEDULES

#: The first entry: the model's own recipe (``make_config`` with no preset).
OWN_RECIPE = "model's recipe"
#: Shown once a field was edited by hand: neither a preset nor the model's recipe any more.
CUSTOM = "custom"
# Fields a preset or a model's recipe does not decide: where and on how much data to train.
MACHINE_FIELDS = ("device", "subset", "amp", "channels_last")


def _double(low: float, high: float, decimals: int, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    return box


def _spin(low: int, high: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    return box


def _row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget)
    return holder


class TrainingForm(QGroupBox):
    """Preset, optimiser, schedule, model options, data and device of the next run.

    Signals:
        model_changed(str): the model to train changed (another model was picked, or a
            preset named its own model).
        notice(str): a one-line notice for the status bar.
    """

    model_changed = Signal(str)
    notice = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Recipe", parent)
        self._config = make_config()
        self._picked: str | None = None
        self._trainable = False
        self._train_images: int | None = None  # in the data folder; set by the panel
        self._accepted: set[str] = set()
        self._defaults: dict[str, Any] = {}
        self._build()
        self._show(self._config)

    # ----- building ----------------------------------------------------------------------

    def _build(self) -> None:
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._model_label = QLabel("no model picked")
        self._model_label.setObjectName("form_model")
        self._model_label.setWordWrap(True)
        form.addRow("Model", self._model_label)

        self._preset = QComboBox(objectName="preset")
        descriptions = {
            OWN_RECIPE: "the recipe this model's family learns with (explorer/train/recipes.py), "
            "as `cnn-explorer train NAME` uses it",
            **PRESET_DESCRIPTIONS,
            CUSTOM: "a recipe edited by hand",
        }
        for name in (OWN_RECIPE, *PRESETS, CUSTOM):
            self._preset.addItem(name)
            self._preset.setItemData(self._preset.count() - 1, descriptions.get(name, ""),
                                     Qt.ItemDataRole.ToolTipRole)
        self._preset.currentTextChanged.connect(self._on_preset_chosen)
        form.addRow("Preset", self._preset)
        self._fit = QLabel("", objectName="preset_fit")
        self._fit.setWordWrap(True)
        self._fit.setStyleSheet("color: #b9770e;")
        self._fit.hide()
        form.addRow(self._fit)

        self._optimizer = QComboBox(objectName="optimizer")
        self._optimizer.addItems(OPTIMIZERS)
        self._momentum = _double(0.0, 0.999, 2, 0.05)
        self._momentum_label = QLabel("momentum")
        form.addRow("Optimizer", _row(self._optimizer, self._momentum_label, self._momentum))
        self._lr = _double(1e-5, 10.0, 5, 0.001)
        self._schedule = QComboBox(objectName="schedule")
        self._schedule.addItems(SCHEDULES)
        form.addRow("Learning rate", _row(self._lr, self._schedule))
        self._weight_decay = _double(0.0, 0.1, 5, 1e-4)
        form.addRow("Weight decay", self._weight_decay)
        self._batch_size = _spin(1, 8192)
        self._epochs = _spin(1, 1000)
        form.addRow("Batch size", _row(self._batch_size, QLabel("epochs"), self._epochs))

        self._width = _double(0.125, 4.0, 3, 0.125)
        form.addRow("Width ×", self._width)
        self._dropout_on = QCheckBox("on")
        self._dropout = _double(0.0, 0.95, 2, 0.05)
        form.addRow("Dropout", _row(self._dropout_on, self._dropout))
        self._batch_norm = QCheckBox("on")
        form.addRow("Batch norm", self._batch_norm)

        self._resize = _spin(0, 512)
        self._resize.setSpecialValueText("model's own")
        self._resize.setSuffix(" px")
        form.addRow("Input resize", self._resize)
        self._augment = QCheckBox("flip + shift")
        self._shift = _spin(1, 8)
        self._shift.setSuffix(" px")
        form.addRow("Augmentation", _row(self._augment, self._shift))
        self._aux_weight = _double(0.0, 1.0, 2, 0.05)
        self._aux_weight.setToolTip("weight of the auxiliary classifiers' losses (GoogLeNet paper: 0.3)")
        form.addRow("Aux loss weight", self._aux_weight)
        self._xavier = QCheckBox("Xavier init")
        self._normalize = QCheckBox("normalise input")
        form.addRow("Init / input", _row(self._xavier, self._normalize))
        self._seed = _spin(0, 2**31 - 1)
        self._subset = _spin(0, 60000, 1000)
        self._subset.setSpecialValueText("all")
        form.addRow("Seed", _row(self._seed, QLabel("images"), self._subset))
        self._device = QComboBox(objectName="device")
        self._device.addItems(DEVICES)
        self._amp = QCheckBox("bf16")
        self._amp.setToolTip("bf16 autocast (CUDA only)")
        self._channels_last = QCheckBox("channels last")
        self._channels_last.setToolTip("channels-last memory format on CUDA; the CPU always uses it (measured faster)")
        form.addRow("Device", _row(self._device, self._amp, self._channels_last))

        # Each widget writes its one field; names double as object names for tests.
        self._fields: dict[str, QWidget] = {
            "optimizer": self._optimizer, "momentum": self._momentum, "lr": self._lr,
            "schedule": self._schedule, "weight_decay": self._weight_decay, "batch_size": self._batch_size,
            "epochs": self._epochs, "width_mult": self._width, "dropout": self._dropout,
            "dropout_on": self._dropout_on, "batch_norm": self._batch_norm, "resize": self._resize,
            "augment": self._augment, "shift": self._shift, "aux_weight": self._aux_weight,
            "init": self._xavier, "normalize": self._normalize, "seed": self._seed, "subset": self._subset,
            "device": self._device, "amp": self._amp, "channels_last": self._channels_last,
        }
        for name, widget in self._fields.items():
            widget.setObjectName(name)
            for signal in ("valueChanged", "currentTextChanged", "toggled"):
                if hasattr(widget, signal):
                    getattr(widget, signal).connect(self._on_edited)
                    break

    # ----- the model ---------------------------------------------------------------------

    @property
    def picked_model(self) -> str | None:
        """The model the form was asked to train (a reference model, say)."""
        return self._picked

    @property
    def training_model(self) -> str | None:
        """The registry model the next run trains (the picked model's small form), or None."""
        return self._config.model if self._trainable else None

    def set_model(self, name: str) -> None:
        """Train ``name``'s small form (or ``name`` if it takes Fashion-MNIST) with its recipe.

        The config becomes the model's default recipe (``make_config(model=...)``), with the
        chosen preset on top when it does not name another model; device and data size stay.
        """
        from explorer.train import training_model_name

        self._picked = name
        try:
            model = training_model_name(name)
        except UserError as exc:
            self._trainable = False
            self._model_label.setText(f"{display_name(name)}: cannot be trained here ({exc})")
            self._model_label.setToolTip(name)
            self.notice.emit(str(exc))
            self._update_fit()
            return
        if self._trainable and model == self._config.model:
            # Another form of the same trained model (resnet18 -> resnet18_small): the
            # recipe, edits included, stays.
            self._show(self._config)
            return
        chosen = self._preset.currentText()
        if chosen not in PRESETS or preset(chosen).get("model", model) != model:
            # Edits and presets made for another model do not carry over: the new model
            # starts from its own recipe.
            self._set_preset(OWN_RECIPE)
            chosen = OWN_RECIPE
        self._trainable = True
        self.set_config(self._recipe(chosen, model))

    def _recipe(self, preset_name: str, model: str, machine_of: TrainConfig | None = None) -> TrainConfig:
        machine = {field: getattr(machine_of or self._config, field) for field in MACHINE_FIELDS}
        return make_config(preset_name if preset_name in PRESETS else None, model=model, **machine)

    def _name_of(self, config: TrainConfig) -> str:
        """The combo entry ``config`` is exactly (the chosen one first), else custom."""
        current = self._preset.currentText()
        for name in dict.fromkeys((current, OWN_RECIPE, *PRESETS)):
            if name != CUSTOM and self._recipe(name, config.model, config) == config:
                return name
        return CUSTOM

    # ----- the config --------------------------------------------------------------------

    def config(self) -> TrainConfig:
        """The run the form describes (validated); UserError when there is nothing to train."""
        if not self._trainable:
            raise UserError("pick a model that can be trained first")
        return self._config.replace().validate()

    def set_config(self, config: TrainConfig) -> None:
        """Hold ``config`` (its model included) and show it."""
        previous = self._config.model if self._trainable else None
        self._config = config.replace()
        self._trainable = True
        self._show(config)
        self._set_preset(self._name_of(config))  # a run's config may be a preset, or edited
        if config.model != previous:
            self.model_changed.emit(config.model)

    def _model_note(self, model: str) -> str:
        """Why the form trains ``model`` when another was picked: it is the picked model's
        small form, or the chosen preset's own model (textbook-lenet trains lenet)."""
        chosen = self._preset.currentText()
        if self._picked is None or model == self._picked:
            return ""
        if chosen in PRESETS and preset(chosen).get("model") == model:
            return f"  ({chosen}'s model)"
        return f"  (small form of {self._picked})"

    def _show(self, config: TrainConfig) -> None:
        """Put ``config``'s values in the widgets without writing them back."""
        self._accepted, self._defaults, aux_heads = self._model_options(config.model)
        blockers = [QSignalBlocker(widget) for widget in self._fields.values()]
        self._model_label.setText(f"{display_name(config.model)}{self._model_note(config.model)}")
        self._model_label.setToolTip(config.model)  # a file model's whole path
        self._optimizer.setCurrentText(config.optimizer)
        self._momentum.setValue(config.momentum)
        self._lr.setValue(config.lr)
        self._schedule.setCurrentText(config.schedule)
        self._weight_decay.setValue(config.weight_decay)
        self._batch_size.setValue(config.batch_size)
        self._epochs.setValue(config.epochs)
        width = config.width_mult if config.width_mult is not None else self._defaults.get("width_mult")
        self._width.setValue(float(width) if isinstance(width, (int, float)) else 1.0)
        dropout = config.dropout if config.dropout is not None else self._defaults.get("dropout")
        dropout = float(dropout) if isinstance(dropout, (int, float)) else 0.0
        self._dropout_on.setChecked(dropout > 0)
        self._dropout.setValue(dropout if dropout > 0 else 0.5)
        norm = config.batch_norm if config.batch_norm is not None else self._defaults.get("batch_norm")
        self._batch_norm.setChecked(bool(norm))
        self._resize.setValue(config.resize or 0)
        self._augment.setChecked(config.augment)
        self._shift.setValue(config.shift)
        self._aux_weight.setValue(config.aux_weight)
        self._xavier.setChecked(config.init == "xavier")
        self._normalize.setChecked(config.normalize)
        self._seed.setValue(config.seed)
        self._subset.setValue(config.subset or 0)
        self._device.setCurrentText(config.device)
        self._amp.setChecked(config.amp)
        self._channels_last.setChecked(bool(config.channels_last))
        del blockers
        self._width.setEnabled("width_mult" in self._accepted)
        self._dropout_on.setEnabled("dropout" in self._accepted)
        self._dropout.setEnabled("dropout" in self._accepted and dropout > 0)
        self._show_momentum(config.optimizer)
        self._batch_norm.setEnabled("batch_norm" in self._accepted)
        self._aux_weight.setEnabled(aux_heads > 0)

    def _show_momentum(self, optimizer: str) -> None:
        """Momentum is editable only for the optimisers that take it (SGD, RMSprop)."""
        takes = optimizer in MOMENTUM_OPTIMIZERS
        self._momentum.setEnabled(takes)
        self._momentum_label.setEnabled(takes)
        self._momentum.setToolTip("" if takes else f"{optimizer} takes no momentum; {' and '.join(MOMENTUM_OPTIMIZERS)} do")

    @staticmethod
    def _model_options(model: str) -> tuple[set[str], dict[str, Any], int]:
        """The builder options ``model`` takes, their defaults, and its auxiliary heads."""
        from explorer.models import ModelError, get_model_info

        try:
            info = get_model_info(model)
        except ModelError:
            return set(), {}, 0
        params = inspect.signature(info.builder).parameters
        accepted = builder_options(model)
        defaults = {opt: params[opt].default for opt in accepted if opt in params}
        return accepted, defaults, getattr(info, "aux_heads", 0)

    def _value_of(self, field: str) -> tuple[str, Any]:
        """The config field a widget edits and the value it now shows."""
        getters = {
            "optimizer": self._optimizer.currentText,
            "momentum": self._momentum.value,
            "lr": self._lr.value,
            "schedule": self._schedule.currentText,
            "weight_decay": self._weight_decay.value,
            "batch_size": self._batch_size.value,
            "epochs": self._epochs.value,
            "width_mult": self._width.value,
            "batch_norm": self._batch_norm.isChecked,
            "resize": lambda: self._resize.value() or None,
            "augment": self._augment.isChecked,
            "shift": self._shift.value,
            "aux_weight": self._aux_weight.value,
            "init": lambda: "xavier" if self._xavier.isChecked() else "default",
            "normalize": self._normalize.isChecked,
            "seed": self._seed.value,
            "subset": lambda: self._subset.value() or None,
            "device": self._device.currentText,
            "amp": self._amp.isChecked,
            "channels_last": lambda: True if self._channels_last.isChecked() else None,
        }
        if field in ("dropout", "dropout_on"):
            return "dropout", self._dropout.value() if self._dropout_on.isChecked() else 0.0
        return field, getters[field]()

    def _on_edited(self, *_args: Any) -> None:
        """A widget changed: write its one field into the held config.

        Only that field: the others keep their exact values (a spin box rounds to its
        decimals), and builder options stay None, the builder's default, until edited.
        """
        sender = self.sender()
        if not isinstance(sender, QWidget) or sender.objectName() not in self._fields:
            return
        field, value = self._value_of(sender.objectName())
        self._dropout.setEnabled("dropout" in self._accepted and self._dropout_on.isChecked())
        if field == "optimizer":
            self._show_momentum(value)
        self._config = self._config.replace(**{field: value})
        if field not in MACHINE_FIELDS:
            self._set_preset(CUSTOM)
        else:
            self._update_fit()  # the number of images (subset) changes how many steps a preset takes

    # ----- presets -----------------------------------------------------------------------

    def _set_preset(self, name: str) -> None:
        blocker = QSignalBlocker(self._preset)
        self._preset.setCurrentText(name)
        del blocker
        self._update_fit()

    def _on_preset_chosen(self, name: str) -> None:
        if name == CUSTOM:  # nothing to apply: the values on screen are the custom recipe
            self._update_fit()
            return
        if name == OWN_RECIPE:
            self.set_config(self._recipe(OWN_RECIPE, self._config.model))
            return
        model = preset(name).get("model") or self._config.model
        self.set_config(self._recipe(name, model))
        if model != self._picked:
            self.notice.emit(f"preset {name} trains {model}")

    def set_train_images(self, count: int | None) -> None:
        """How many training images the data folder holds (None: unknown), so the form can
        say when a preset's epochs are too few steps on them."""
        self._train_images = count
        self._update_fit()

    def _update_fit(self) -> None:
        """Say before a run starts when the chosen preset does not suit the model, or its
        epochs are too few steps on the data folder's images."""
        chosen = self._preset.currentText()
        text = None
        if chosen in PRESETS and self._trainable:
            text = train_config.preset_fit(chosen, self._config.model, self._config, self._train_images)
        self._fit.setText(text or "")
        self._fit.setVisible(bool(text))
