"""The training form edits a held TrainConfig: presets reach the run whole (fields without a
widget included), a typed value changes only its field, the preset-fit warning shows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QDoubleSpinBox, QLabel, QPushButton, QSpinBox

from explorer.session import Session
from explorer.train import PRESETS, RunHistory, make_config
from explorer.train import config as train_config
from explorer.train.runner import WorkerDone
from explorer.ui.training import driver as training_driver
from explorer.ui.training.panel import TrainingPanel


class RecordingWorker:
    """Stands in for TrainingProcess: records the config and ends at once."""

    def __init__(self, config, **_options):
        self.config = config
        self.paused = False
        self.running = False
        self._events = [WorkerDone()]

    def start(self):
        pass

    def drain(self):
        events, self._events = self._events, []
        return events

    def stop(self):
        pass

    def join(self, timeout_s=None):
        return True


@pytest.fixture
def session():
    return Session()


@pytest.fixture
def panel(qtbot, tmp_path, session, monkeypatch):
    monkeypatch.setattr(training_driver, "TrainingProcess", RecordingWorker)
    widget = TrainingPanel(session, history=RunHistory(tmp_path / "runs"), data_dir=str(tmp_path), refresh_ms=10)
    qtbot.addWidget(widget)
    session.set_model("lenet_small")
    return widget


def choose(qtbot, combo: QComboBox, text: str) -> None:
    """Pick ``text`` as a user does with the keyboard: focus the box and type its name."""
    # Typed letters add up to one search until the keyboard input interval has passed.
    qtbot.wait(QApplication.keyboardInputInterval() + 50)
    combo.setFocus()
    qtbot.keyClicks(combo, text)
    assert combo.currentText() == text


def start(qtbot, panel, session):
    with qtbot.waitSignal(panel.running_changed, timeout=5_000, check_params_cb=lambda running: not running):
        qtbot.mouseClick(panel.findChild(QPushButton, "start"), Qt.MouseButton.LeftButton)
    return session.training.config


PRESET_FIELDS = [(name, field, value) for name, values in PRESETS.items() for field, value in values.items()]


@pytest.mark.parametrize(("preset", "field", "value"), PRESET_FIELDS, ids=[f"{p}-{f}" for p, f, _ in PRESET_FIELDS])
def test_every_preset_field_reaches_the_started_run(panel, session, qtbot, preset, field, value):
    choose(qtbot, panel.findChild(QComboBox, "preset"), preset)
    config = start(qtbot, panel, session)
    assert getattr(config, field) == value
    assert session.training.model_name == config.model


def test_strong_preset_keeps_label_smoothing_as_the_cli_does(panel, session, qtbot):
    """The issue's fourth bug: the window trained "strong" with label smoothing 0.0."""
    choose(qtbot, panel.findChild(QComboBox, "preset"), "strong")
    config = start(qtbot, panel, session)
    assert config == make_config("strong", model="lenet_small")
    assert config.label_smoothing == 0.1


def test_typing_a_value_changes_only_its_field(panel, session, qtbot):
    choose(qtbot, panel.findChild(QComboBox, "preset"), "strong")
    epochs = panel.findChild(QSpinBox, "epochs")
    epochs.selectAll()
    qtbot.keyClicks(epochs, "3")
    lr = panel.findChild(QDoubleSpinBox, "lr")
    lr.selectAll()
    qtbot.keyClicks(lr, "0.02")
    assert panel.findChild(QComboBox, "preset").currentText() == "custom"  # no longer the preset
    config = start(qtbot, panel, session)
    assert config == make_config("strong", model="lenet_small").replace(epochs=3, lr=0.02)


def test_default_recipe_of_a_model_comes_from_make_config(panel, session):
    session.set_model("resnet18")
    assert panel.config() == make_config(model="resnet18_small")
    device = panel.findChild(QComboBox, "device")
    device.setCurrentText("cpu")
    session.set_model("alexnet_small")
    # The machine settings stay; the recipe is the new model's own.
    assert panel.config() == make_config(model="alexnet_small", device="cpu")


def test_a_preset_stays_chosen_across_models_that_it_fits(panel, session, qtbot):
    combo = panel.findChild(QComboBox, "preset")
    choose(qtbot, combo, "quick")
    session.set_model("alexnet_small")
    assert combo.currentText() == "quick" and panel.config() == make_config("quick", model="alexnet_small")
    choose(qtbot, combo, "textbook-lenet")  # names its own model
    assert panel.training_model == "lenet"
    session.set_model("resnet18_small")  # the preset was made for another model: its own recipe
    assert combo.currentText() == "model's recipe" and panel.config() == make_config(model="resnet18_small")


def test_the_form_names_the_models_own_recipe_and_restores_it_after_edits(panel, session, qtbot):
    combo = panel.findChild(QComboBox, "preset")
    assert combo.currentText() == "model's recipe"  # not "custom": nothing was edited
    epochs = panel.findChild(QSpinBox, "epochs")
    epochs.selectAll()
    qtbot.keyClicks(epochs, "3")
    assert combo.currentText() == "custom" and panel.config().epochs == 3
    qtbot.wait(QApplication.keyboardInputInterval() + 50)
    combo.setFocus()
    qtbot.keyClicks(combo, "model")  # keyboard search (a space would open the popup)
    assert panel.config() == make_config(model="lenet_small") and combo.currentText() == "model's recipe"


def test_a_config_set_from_a_run_is_named_by_what_it_is(panel, session):
    combo = panel.findChild(QComboBox, "preset")
    panel.set_config(make_config("strong", model="resnet18_small"))
    assert combo.currentText() == "strong"
    panel.set_config(make_config(model="alexnet_small"))
    assert combo.currentText() == "model's recipe"
    panel.set_config(make_config(model="alexnet_small").replace(lr=0.0123))
    assert combo.currentText() == "custom"


def test_preset_fit_warning_shows_before_a_run(panel, qtbot, monkeypatch):
    def preset_fit(preset, model, *_run):
        return f"{preset} overfits {model} on the subset" if preset == "strong" else None

    monkeypatch.setattr(train_config, "preset_fit", preset_fit, raising=False)
    warning = panel.findChild(QLabel, "preset_fit")
    combo = panel.findChild(QComboBox, "preset")
    choose(qtbot, combo, "strong")
    assert not warning.isHidden() and warning.text() == "strong overfits lenet_small on the subset"
    choose(qtbot, combo, "quick")
    assert warning.isHidden()


def test_the_form_says_when_a_preset_is_too_few_steps_on_the_data(panel, session, qtbot):
    # d2l's sigmoid LeNet needs about its 2,350 steps: 10 epochs of the 8,226-image subset are
    # 290, and it stays at chance (measured 0.10).
    session.set_model("lenet_small")
    warning = panel.findChild(QLabel, "preset_fit")
    form = panel.form
    form.set_train_images(8226)
    choose(qtbot, panel.findChild(QComboBox, "preset"), "textbook-lenet")
    # the preset trains its own model, which is not "the small form of lenet_small"
    assert panel.findChild(QLabel, "form_model").text() == "lenet  (textbook-lenet's model)"
    assert not warning.isHidden() and "290" in warning.text() and "Set 82 epochs" in warning.text()
    form.set_train_images(60000)  # the full set: d2l's schedule
    assert warning.isHidden()
    form.set_train_images(8226)
    subset = panel.findChild(QSpinBox, "subset")
    subset.setValue(2000)  # a machine field: the preset stays, the steps shrink again
    assert panel.findChild(QComboBox, "preset").currentText() == "textbook-lenet"
    assert "10 epochs of these 1,800 images are 80:" in warning.text()  # 2,000 less the 10 % split


def test_another_form_of_the_same_trained_model_keeps_the_edits(panel, session, qtbot):
    session.set_model("resnet18_small")
    epochs = panel.findChild(QSpinBox, "epochs")
    epochs.selectAll()
    qtbot.keyClicks(epochs, "7")
    session.set_model("resnet18")  # trains resnet18_small too
    assert panel.config().epochs == 7
    assert panel.findChild(QLabel, "form_model").text() == "resnet18_small  (small form of resnet18)"


def test_momentum_is_editable_only_for_the_optimizers_that_use_it(panel, qtbot):
    """The walk found the momentum field enabled with Adam, which ignores it. Which
    optimisers take it is read from the optimiser the run builds, not restated here."""
    import torch

    from explorer.train.recipe import make_optimizer

    momentum = panel.findChild(QDoubleSpinBox, "momentum")
    combo = panel.findChild(QComboBox, "optimizer")
    offered = [combo.itemText(i) for i in range(combo.count())]
    assert "adam" in offered
    for name in offered:
        choose(qtbot, combo, name)
        built = make_optimizer(panel.config(), torch.nn.Linear(2, 2))
        assert momentum.isEnabled() == ("momentum" in built.defaults), name
    choose(qtbot, combo, "adam")
    assert not momentum.isEnabled() and "no momentum" in momentum.toolTip()
    # A config set from elsewhere (a run's, a preset's) sets the field's state too.
    panel.set_config(make_config(model="lenet_small").replace(optimizer="sgd"))
    assert momentum.isEnabled()
    panel.set_config(make_config(model="lenet_small").replace(optimizer="adam"))
    assert not momentum.isEnabled()
