"""Side by side: two models (or one model with two weights: epochs, runs) on the same
input, stepped together through matching stages, with the difference of equally shaped
feature maps.

Each pane keeps its own :class:`~explorer.session.Session` (its model and weights choice,
built by its own :class:`ModuleBuilder`, chosen with the usual weights selector); the
input is the explorer session's image (a built-in sample until one is opened). When a
pane's module or the image changes, its outputs at the stem, each stage end and the
classifier (``explorer.compare.stage_features``) are computed in a background job; the
stages are paired by ``explorer.compare.pair_stages`` and one stepper moves both panes.
Feature maps are drawn as mosaics; the classifier's scores as labelled probability bars
(and their difference as bars per class), never as a grid of unnamed cells. The panes
and the difference are columns of one grid, so their rows line up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.session import Session, WeightsChoice
from explorer.ui.background import LatestJob
from explorer.ui.maps.readouts import ClassChart
from explorer.ui.maps.views import ImagePane
from explorer.ui.module_builder import ModuleBuilder
from explorer.ui.subscriptions import Subscriptions
from explorer.ui.theme import secondary
from explorer.ui.weights_selector import WeightsSelector

DEFAULT_MODELS = ("resnet18_small", "vgg11_small")
SAMPLE = "ankle_boot"  # the input until the explorer has an image
OUTPUT_ROW = 2  # the grid's rows: model, weights, output, caption, status (ComparePane.rows)
DIFF_COLUMN = 2  # columns: A, B, the difference


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


def is_class_scores(label: str, value: Any) -> bool:
    """Whether a stage's output is the classifier's vector of class scores."""
    return label == "classifier" and value is not None and value.dim() <= 2 and value.numel() > 1


class OutputView(QStackedWidget):
    """Where one stage's output is drawn: a mosaic of its channels, or, for a vector of
    class scores, labelled bars (``chart``)."""

    def __init__(self, min_size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pane = ImagePane(min_size=min_size)
        self.chart = ClassChart()
        self.chart.setMinimumSize(min_size, min_size)
        self.addWidget(self.pane)
        self.addWidget(self.chart)

    @property
    def showing_bars(self) -> bool:
        return self.currentWidget() is self.chart

    def show_mosaic(self, value: Any, colormap: str) -> None:
        """Draw ``value`` (a tensor; None clears) as a mosaic of its channels."""
        from explorer.activations.mosaic import render_mosaic

        self.pane.set_rgba(None if value is None else render_mosaic(value, colormap)[1])
        self.setCurrentWidget(self.pane)

    def show_bars(self) -> ClassChart:
        """Switch to the bars; the caller draws them on the returned chart."""
        self.pane.set_rgba(None)
        self.setCurrentWidget(self.chart)
        return self.chart


class ComparePane(QObject):
    """One side: a model and weights of its own, and its outputs at each stage.

    Its widgets are rows of the view's grid (``rows``), so that the two sides line up row
    for row whatever either one's status line says.

    Signals:
        features_ready(): ``features`` holds the stage outputs for the current module and
            image (or was cleared: another model, weights or image).
    """

    features_ready = Signal()

    def __init__(self, side: str, parent: QObject | None = None) -> None:
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
        # As wide as the pane, not as its longest entry: three columns fit 1024 px.
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(12)
        self.model_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model_combo.activated.connect(self._on_model_chosen)
        self.weights = WeightsSelector(self.session)
        self.weights.combo.setMinimumContentsLength(12)
        self.output = OutputView(min_size=160)
        self.pane = self.output.pane
        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.status = secondary(QLabel(""))
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.head = QWidget()
        head = QHBoxLayout(self.head)
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(QLabel(f"<b>{side}</b>"))
        head.addWidget(self.model_combo, 1)
        self.job = LatestJob(f"side by side {side}", self)
        self.job.done.connect(self._on_features)
        self.job.failed.connect(self._on_failed)
        self._subscriptions = Subscriptions(self)
        for event in (self.session.model_changed, self.session.image_changed):
            self._subscriptions.connect(event, self._on_changed)
        self._subscriptions.connect(self.session.message, self.status.setText)

    @property
    def busy(self) -> bool:
        return self.builder.busy or self.job.busy or (self.session.model_name is not None and self.session.module is None)

    def set_model(self, name: str, weights: WeightsChoice | None = None) -> None:
        self.model_combo.setCurrentIndex(max(self.model_combo.findData(name), 0))
        self.session.set_model(name, weights)

    def _on_model_chosen(self, index: int) -> None:
        self.session.set_model(self.model_combo.itemData(index))

    def _on_changed(self, session: Session, change: str = "") -> None:
        from explorer.compare import stage_features

        if change == "failed":
            self.status.setText(session.load_error or "")
        elif change == "loaded":
            self.status.setText(session.loaded.notice)
        self.features = None
        self.features_ready.emit()
        if session.module is not None and session.image is not None:
            self.status.setText("running the stages…")
            self.job.submit(stage_features, session.module, session.model_name, session.image.image)
        else:
            self.job.cancel()

    def _on_features(self, _number: int, features: list) -> None:
        self.features = features
        self.status.setText(f"{self.session.model_name} with {self.session.weights.label()}"
                            if self.session.weights is not None else "")
        self.features_ready.emit()

    def _on_failed(self, _number: int, message: str) -> None:
        self.status.setText(message)

    @property
    def rows(self) -> tuple[QWidget, ...]:
        """The pane's widgets top to bottom: model, weights, output, caption, status."""
        return self.head, self.weights, self.output, self.caption, self.status

    def show_output(self, label: str, value: Any) -> None:
        """Draw one stage's output: the class scores as labelled probability bars, any
        other output as a mosaic of its channels (None clears)."""
        if value is None:
            self.output.show_mosaic(None, "viridis")
            self.caption.setText(label)
            return
        if is_class_scores(label, value):
            self.output.show_bars().show_scores(value.detach().flatten().float().numpy())
        else:
            self.output.show_mosaic(value, "viridis")
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
        self.panes = {"A": ComparePane("A", self), "B": ComparePane("B", self)}
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
        # Long texts wrap rather than set the view's (and so the window's) minimum width.
        self.stage_label = QLabel("")
        self.stage_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stage_label.setWordWrap(True)
        self.diff_check = QCheckBox("Difference |A − B|")
        self.diff_check.setToolTip("Where both outputs have the same shape: their absolute difference")
        self.diff_check.toggled.connect(self._show_stage)
        self.input_label = secondary(QLabel(""))
        self.input_label.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.prev_button)
        bar.addWidget(self.stage_label, 1)
        bar.addWidget(self.next_button)
        bar.addWidget(self.diff_check)
        # The difference is a third column of the panes' grid: its output lines up with theirs.
        self.diff_title = QLabel("<b>|A − B|</b> where both outputs have the same shape")
        self.diff_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.diff_title.setWordWrap(True)
        self.diff_view = OutputView(min_size=160)
        self.diff_pane = self.diff_view.pane
        self.diff_stats = QLabel("")
        self.diff_stats.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.diff_stats.setWordWrap(True)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(2)
        for column, pane in enumerate(self.panes.values()):
            for row, widget in enumerate(pane.rows):
                self.grid.addWidget(widget, row, column)
            self.grid.setColumnStretch(column, 1)
            pane.features_ready.connect(self._on_features)
        self.grid.addWidget(self.diff_title, 0, DIFF_COLUMN, 2, 1, Qt.AlignmentFlag.AlignBottom)
        self.grid.addWidget(self.diff_view, OUTPUT_ROW, DIFF_COLUMN)
        self.grid.addWidget(self.diff_stats, OUTPUT_ROW + 1, DIFF_COLUMN, 2, 1, Qt.AlignmentFlag.AlignTop)
        self.grid.setRowStretch(OUTPUT_ROW, 1)
        self._show_difference_column(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.input_label)
        layout.addLayout(self.grid, 1)
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
            self._show_difference_column(False)
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
        self._show_difference_column(showing)
        if showing:
            stats = (f"mean {self.diff['mean_abs_diff']:.4g} · max {self.diff['max_abs_diff']:.4g} · "
                     f"cosine {self.diff['cosine']:.3f}")
            if is_class_scores(la, ta) and is_class_scores(lb, tb):
                # Per class, what the panes' bars show: how far apart the two probabilities are.
                pa, pb = (t.detach().flatten().double().softmax(0).numpy() for t in (ta, tb))
                self.diff_view.show_bars().show_bars(np.abs(pa - pb), title="|A − B| per class",
                                                     axis="probability", x_range=(0.0, 1.0))
                self.diff_stats.setText(f"|A − B| of the scores · {stats}")
            else:
                self.diff_view.show_mosaic(self.diff["diff"], "inferno")
                self.diff_stats.setText(f"|A − B| · {stats}")
        self.stage_shown.emit(self.index)

    def _show_difference_column(self, shown: bool) -> None:
        """Show or hide the difference's column; hidden, it takes no width."""
        for widget in (self.diff_title, self.diff_view, self.diff_stats):
            widget.setVisible(shown)
        self.grid.setColumnStretch(DIFF_COLUMN, 1 if shown else 0)

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
