"""The weights choice of the model shown, and the one-time notice of a reference model
that runs with random weights.

The selector shows ``session.weights.label()`` and offers every other choice of the
model (shipped, ImageNet, each run with a checkpoint, seeded random), a file, and a new
random seed; choosing one calls ``session.set_weights``. The list is read again each time
it opens, so a run that finished since shows up.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from explorer.loading import available_weights, display_name, new_seed, saved_in_file
from explorer.models import small_form_of
from explorer.models.sources import USER_FAMILY
from explorer.session import Session, TrainingRun, WeightsChoice
from explorer.ui.subscriptions import Subscriptions

LOAD_FILE = "load-file"
NEW_SEED = "new-seed"


class WeightsCombo(QComboBox):
    """A combo box that asks for fresh items just before it opens."""

    def __init__(self, refresh, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._refresh = refresh

    def showPopup(self) -> None:  # noqa: N802 - Qt override
        self._refresh()
        super().showPopup()


class WeightsSelector(QWidget):
    """"Weights: [choice ▾]" for the session's current model."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._choices: list[WeightsChoice] = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("Weights")
        layout.addWidget(self.label)
        self.combo = WeightsCombo(self.refresh)
        self.combo.setToolTip("Which weights the model runs with; the others it can run with")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(22)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.combo.activated.connect(self._on_activated)
        layout.addWidget(self.combo, 1)
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.model_changed, self._on_session_changed)
        self._subscriptions.connect(session.training.changed, self._on_run_changed)
        self.refresh()

    @property
    def choices(self) -> list[WeightsChoice]:
        """The weights choices listed now (current first when it is not among the offers)."""
        return list(self._choices)

    def refresh(self) -> None:
        """Read the offers again and show the current choice."""
        session = self.session
        self.combo.blockSignals(True)
        self.combo.clear()
        self._choices = []
        if session.model_name is None:
            self.combo.setPlaceholderText("pick a model")
            self.setEnabled(False)
            self.combo.blockSignals(False)
            return
        self.setEnabled(True)
        try:
            offered = available_weights(session.model_name)
        except Exception as exc:  # noqa: BLE001 - an unreadable run folder must not hide the rest
            session.notify(f"cannot list the weights of {session.model_name}: {exc}")
            offered = []
        current = session.weights
        if current is not None and current not in offered:
            offered.insert(0, current)
        self._choices = offered
        for choice in offered:
            self.combo.addItem(choice.label(), choice)
        self.combo.insertSeparator(self.combo.count())
        self.combo.addItem("Load file…", LOAD_FILE)
        if not saved_in_file(session.model_name):  # a program holds its weights: no random form
            self.combo.addItem("New random seed", NEW_SEED)
        if current is None:
            self.combo.setPlaceholderText("default weights: loading…")
            self.combo.setCurrentIndex(-1)
        else:
            self.combo.setCurrentIndex(offered.index(current))
            self.combo.setToolTip(f"{display_name(session.model_name)} runs with {current.label()}"
                                  + (f"\n{current.path}" if current.path else ""))
        self.combo.blockSignals(False)

    def choose(self, choice: WeightsChoice) -> None:
        self.session.set_weights(choice)

    def _on_activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        current = self.session.weights
        if data == LOAD_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "Load weights (a state_dict file)", str(Path.home()),
                "PyTorch weights (*.pt *.pth *.ckpt);;All files (*)")
            if path:
                self.choose(WeightsChoice("file", path=path))
        elif data == NEW_SEED:
            self.choose(WeightsChoice("random", seed=new_seed(current.seed if current else None)))
        elif isinstance(data, WeightsChoice):
            self.choose(data)
        self.refresh()  # a cancelled dialog shows the current choice again

    def _on_session_changed(self, _session: Session, _change: str) -> None:
        self.refresh()

    def _on_run_changed(self, run: TrainingRun) -> None:
        if run.model_name == self.session.model_name and not self.combo.view().isVisible():
            self.refresh()


class RandomWeightsNotice(QWidget):
    """Says once per model that a reference model runs with random weights, and offers its
    small form trained on Fashion-MNIST in one click."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._told: set[str] = set()
        self._small: str | None = None
        self.setObjectName("random-weights-notice")
        # A plain QWidget paints a style sheet's background only when asked to: without
        # this the dark text sat on the dark theme's window colour.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("#random-weights-notice { background: #fff3bf; border-radius: 4px; }"
                           " QLabel { color: #5c4400; }")
        # The text above its button, not beside it: side by side the two set the feature
        # panel's width beyond what a 1024 px window leaves it.
        layout = QGridLayout(self)
        layout.setContentsMargins(8, 3, 4, 3)
        layout.setVerticalSpacing(2)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        layout.addWidget(self.text, 0, 0)
        self.open_button = QPushButton("")
        self.open_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.open_button.clicked.connect(self._on_open_small)
        layout.addWidget(self.open_button, 1, 0, Qt.AlignmentFlag.AlignLeft)
        self.close_button = QToolButton()
        self.close_button.setText("×")
        self.close_button.setToolTip("Hide this notice")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.hide)
        layout.addWidget(self.close_button, 0, 1, Qt.AlignmentFlag.AlignTop)
        layout.setColumnStretch(0, 1)
        self.hide()
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.model_changed, self._on_model_changed)

    def _on_model_changed(self, session: Session, change: str) -> None:
        if change == "model":
            self.hide()
        loaded = session.loaded
        if change != "loaded" or loaded.weights.kind != "random" or loaded.source in self._told:
            return
        name, weights, info = loaded.source, loaded.weights, loaded.info
        if info is None or info.form != "reference":  # not a zoo model: no advice
            return
        self._told.add(name)
        self._small = small_form_of(name)
        # LeNet-5, the two-GPU AlexNet, BN-Inception: torchvision has none to miss.
        why = ("its ImageNet weights are not available here." if info.weights else
               "torchvision publishes no ImageNet weights for it.")
        if info.family == USER_FAMILY:  # the user's own class: its weights are the user's to give
            why = "load a state_dict file with File › Load weights… (or Weights › Load file…)."
        self.text.setText(f"{info.title} runs with random weights (seed {weights.seed}): {why}")
        self.open_button.setVisible(self._small is not None)
        if self._small is not None:
            self.open_button.setText(f"Open {self._small}, trained on Fashion-MNIST")
        self.show()

    def _on_open_small(self) -> None:
        if self._small is not None:
            self.hide()
            self.session.set_model(self._small)
