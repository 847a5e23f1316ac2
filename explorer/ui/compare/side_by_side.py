"""Side by side: two models (or one model with two weights: epochs, runs) on the same
input, stepped together through matching stages, with the difference of equally shaped
feature maps.

Each pane keeps its own :class:`~explorer.session.Session` (its model and weights choice,
built by its own :class:`ModuleBuilder`, chosen with the usual weights selector); the
input is the explorer session's image (a built-in sample until one is opened). When a
pane's module or the image changes, its outputs at the stem, each stage end and the
classifier (``explorer.compare.stage_features``) are computed in a background job; the
stages are paired by ``explorer.compare.pair_stages`` and one stepper moves both panes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.session import Session, WeightsChoice
from explorer.ui.background import LatestJob
from explorer.ui.maps.views import ImagePane
from explorer.ui.module_builder import ModuleBuilder
from explorer.ui.subscriptions import Subscriptions
from explorer.ui.weights_selector import WeightsSelector

DEFAULT_MODELS = ("resnet18_small", "vgg11_small")
SAMPLE = "ankle_boot"  # the input until the explorer has an image


def describe(label: str, value: Any) -> str:
    """One line under a pane: the stage, its output shape, and the class for the output."""
    from explorer.activations.predictions import class_names
    from explorer.graph.model_graph import format_shape

    if value is None:
        return f"{label}: no tensor"
    text = f"{label} · {format_shape(list(value.shape))}"
    if label == "classifier" and value.numel() > 1:
        probs = value.flatten().float().softmax(0)
        best = int(probs.argmax())
        text += f" · top-1 {class_names(probs.numel())[best]} ({probs[best] * 100:.0f}%)"
    return text


class ComparePane(QWidget):
    """One side: a model and weights of its own, and its outputs at each stage.

    Signals:
        features_ready(): ``features`` holds the stage outputs for the current module and
            image (or was cleared: another model, weights or image).
    """

    features_ready = Signal()

    def __init__(self, side: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from explorer.models import get_model_info, list_models

        self.side = side
        self.session = Session()
        self.builder = ModuleBuilder(self.session, self)
        self.features: list[tuple[str, Any]] | None = None
        self.model_combo = QComboBox()
        for name in list_models():
            info = get_model_info(name)
            self.model_combo.addItem(f"{info.title} ({name})", name)
        self.model_combo.setToolTip(f"The model in pane {side}")
        self.model_combo.activated.connect(self._on_model_chosen)
        self.weights = WeightsSelector(self.session)
        self.pane = ImagePane(min_size=220)
        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        head = QHBoxLayout()
        head.addWidget(QLabel(f"<b>{side}</b>"))
        head.addWidget(self.model_combo, 1)
        layout.addLayout(head)
        layout.addWidget(self.weights)
        layout.addWidget(self.pane, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.status)
        self.job = LatestJob(f"side by side {side}", self)
        self.job.done.connect(self._on_features)
        self.job.failed.connect(self._on_failed)
        self._subscriptions = Subscriptions(self)
        for event in (self.session.module_changed, self.session.image_changed):
            self._subscriptions.connect(event, self._on_changed)
        self._subscriptions.connect(self.session.message, self.status.setText)
        self._subscriptions.connect(self.session.build_failed, self._on_build_failed)

    @property
    def busy(self) -> bool:
        return self.builder.busy or self.job.busy or (self.session.model_name is not None and self.session.module is None)

    def set_model(self, name: str, weights: WeightsChoice | None = None) -> None:
        self.model_combo.setCurrentIndex(max(self.model_combo.findData(name), 0))
        self.session.set_model(name, weights)

    def _on_model_chosen(self, index: int) -> None:
        self.session.set_model(self.model_combo.itemData(index))

    def _on_changed(self, session: Session) -> None:
        from explorer.compare import stage_features

        self.features = None
        self.features_ready.emit()
        if session.module is not None and session.image is not None:
            self.status.setText("running the stages…")
            self.job.submit(stage_features, session.module, session.model_name, session.image.image)
        else:
            self.job.cancel()

    def _on_build_failed(self, _session: Session, message: str) -> None:
        self.status.setText(message)

    def _on_features(self, _number: int, features: list) -> None:
        self.features = features
        self.status.setText(f"{self.session.model_name} with {self.session.weights.label()}"
                            if self.session.weights is not None else "")
        self.features_ready.emit()

    def _on_failed(self, _number: int, message: str) -> None:
        self.status.setText(message)

    def show_output(self, label: str, value: Any) -> None:
        """Draw one stage's output as a mosaic of its channels (None clears)."""
        from explorer.activations.mosaic import render_mosaic

        if value is None:
            self.pane.set_rgba(None)
            self.caption.setText(label)
            return
        self.pane.set_rgba(render_mosaic(value, "viridis")[1])
        self.caption.setText(describe(label, value))

    def stop(self) -> None:
        self._subscriptions.clear()
        self.job.stop()
        self.builder.stop()


class SideBySideView(QWidget):
    """Two panes, one stage stepper and the difference of matching maps.

    Signals:
        stage_shown(int): both panes show stage pair ``index`` (of ``pairs``).
    """

    stage_shown = Signal(int)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.panes = {"A": ComparePane("A"), "B": ComparePane("B")}
        self.pairs: list[tuple[tuple[str, Any], tuple[str, Any]]] = []
        self.unmatched: dict[str, list[str]] = {"a": [], "b": []}
        self.index = 0
        self.diff: dict[str, Any] | None = None
        self._started = False
        self._sample = None

        self.prev_button = QPushButton("◀ Previous stage")
        self.next_button = QPushButton("Next stage ▶")
        self.prev_button.clicked.connect(self.previous_stage)
        self.next_button.clicked.connect(self.next_stage)
        self.stage_label = QLabel("")
        self.stage_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.diff_check = QCheckBox("Difference |A − B|")
        self.diff_check.setToolTip("Where both outputs have the same shape: their absolute difference")
        self.diff_check.toggled.connect(self._show_stage)
        self.input_label = QLabel("")
        self.input_label.setStyleSheet("color: palette(mid);")
        bar = QHBoxLayout()
        bar.addWidget(self.prev_button)
        bar.addWidget(self.stage_label, 1)
        bar.addWidget(self.next_button)
        bar.addWidget(self.diff_check)
        self.diff_pane = ImagePane(min_size=160)
        self.diff_stats = QLabel("")
        self.diff_stats.setAlignment(Qt.AlignmentFlag.AlignCenter)
        diff_box = QWidget()
        diff_layout = QVBoxLayout(diff_box)
        diff_layout.setContentsMargins(2, 2, 2, 2)
        diff_title = QLabel("<b>|A − B|</b> where both outputs have the same shape")
        diff_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        diff_layout.addWidget(diff_title)
        diff_layout.addWidget(self.diff_pane, 1)
        diff_layout.addWidget(self.diff_stats)
        self.diff_box = diff_box
        diff_box.hide()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane in self.panes.values():
            splitter.addWidget(pane)
            pane.features_ready.connect(self._on_features)
        splitter.addWidget(diff_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.input_label)
        layout.addWidget(splitter, 1)
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.image_changed, self._on_image_changed)
        self._update_controls()

    # ----- inputs -------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return any(p.busy for p in self.panes.values())

    def start(self, a: str | None = None, b: str | None = None) -> None:
        """Open ``a`` and ``b`` (defaults: the explorer's model, or the first default, and
        the second default) on the explorer's image."""
        self._started = True
        self._on_image_changed(self.session)
        first = a or self.session.model_name or DEFAULT_MODELS[0]
        second = b or (DEFAULT_MODELS[1] if first != DEFAULT_MODELS[1] else DEFAULT_MODELS[0])
        self.panes["A"].set_model(first, self.session.weights if first == self.session.model_name and a is None
                                  else None)
        self.panes["B"].set_model(second)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._started:
            self.start()  # models are built only once the view is looked at

    def _on_image_changed(self, session: Session) -> None:
        image, label = session.image, session.image_label
        if image is None:
            from explorer.activations.samples import load_sample

            self._sample = self._sample or load_sample(SAMPLE)
            image, label = self._sample, f"sample {SAMPLE} (open an image in the explorer to use it here)"
        self.input_label.setText(f"Input: {label or image.source}")
        for pane in self.panes.values():
            pane.session.set_image(image, label)

    # ----- stepping -----------------------------------------------------------------------

    def _on_features(self) -> None:
        from explorer.compare import pair_stages

        fa, fb = self.panes["A"].features, self.panes["B"].features
        if fa is None or fb is None:
            self.pairs = []
        else:
            keep = self.pairs[self.index][0][0] if self.pairs else None
            self.pairs, self.unmatched = pair_stages(fa, fb)
            labels = [a[0] for a, _ in self.pairs]
            # Weights changed on one side: stay at the stage the user was looking at.
            self.index = labels.index(keep) if keep in labels else 0
        self._show_stage()

    def step(self, delta: int) -> None:
        """Move both panes to the previous (-1) or next (+1) matching stage."""
        self.go_to(self.index + delta)

    def previous_stage(self) -> None:
        self.step(-1)

    def next_stage(self) -> None:
        self.step(+1)

    def go_to(self, index: int) -> None:
        if self.pairs:
            self.index = max(0, min(index, len(self.pairs) - 1))
            self._show_stage()

    def _show_stage(self, *_args) -> None:
        from explorer.compare import difference

        self._update_controls()
        if not self.pairs:
            for pane in self.panes.values():
                pane.show_output("", None)
            self.diff = None
            self.diff_box.hide()
            self.stage_label.setText("running both models…" if self.busy else "")
            return
        (la, ta), (lb, tb) = self.pairs[self.index]
        self.panes["A"].show_output(la, ta)
        self.panes["B"].show_output(lb, tb)
        self.diff = difference(ta, tb)
        self.diff_check.setEnabled(self.diff is not None)
        same = "same shape" if self.diff is not None else "shapes differ: no difference map"
        self.stage_label.setText(f"Stage {self.index + 1} of {len(self.pairs)}: A {la} · B {lb} ({same})")
        showing = self.diff is not None and self.diff_check.isChecked()
        self.diff_box.setVisible(showing)
        if showing:
            from explorer.activations.mosaic import render_mosaic

            self.diff_pane.set_rgba(render_mosaic(self.diff["diff"], "inferno")[1])
            self.diff_stats.setText(f"|A − B| · mean {self.diff['mean_abs_diff']:.4g} · max "
                                    f"{self.diff['max_abs_diff']:.4g} · cosine {self.diff['cosine']:.3f}")
        self.stage_shown.emit(self.index)

    def _update_controls(self) -> None:
        self.prev_button.setEnabled(bool(self.pairs) and self.index > 0)
        self.next_button.setEnabled(bool(self.pairs) and self.index < len(self.pairs) - 1)
        if not self.pairs:
            self.diff_check.setEnabled(False)

    def stop(self) -> None:
        self._subscriptions.clear()
        for pane in self.panes.values():
            pane.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
