"""The Unit tab: how one clicked unit's value was computed from its node's inputs.

A view of the session: it shows the :class:`~explorer.explain.units.UnitArithmetic` of
the unit the feature-map panel hands it (``explain``) and forgets it when the model, the
weights, the image, the knockouts or the node change. The arithmetic of the node shown
reads the values the stepper holds (no pass runs: well under a millisecond to a few for
the widest layer of a small form), so it is computed on the GUI thread, and only while
the panel's runner is idle (``stepper`` returns None while it steps); a concatenation's
source is one private pass of a small form.

What is drawn per kind: the formula, the terms (strongest first, the rest summed), the
kind's payload (a convolution's input patch and kernel slice as small heatmaps with the
padding hatched, a pool's window with the winner outlined, an activation's curve with
the input marked, batch norm with every number, a concatenation's source with a button
to its arithmetic, linear and softmax contributions as labelled bars) and the check of
the recomputed value against the model's own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.activations.stepper import Stepper
from explorer.explain.units import (
    ActivationDetail,
    BatchNormDetail,
    ConvDetail,
    LinearDetail,
    PoolDetail,
    SoftmaxDetail,
    SourceDetail,
    UnitArithmetic,
    UnitError,
    explain_unit,
)
from explorer.explain.units.base import fmt
from explorer.session import Session
from explorer.ui.drops import pass_drops_on
from explorer.ui.explain.unit_animation import UnitAnimation
from explorer.ui.explain.unit_pictures import bars, heatmap, text_label
from explorer.ui.explain.unit_pictures import picture as _picture
from explorer.ui.subscriptions import Subscriptions

HINT = "Click a unit in the mosaic or the enlarged channel to see how its value was computed"
NOT_EXPLAINED = "this layer's computation is not explained"
ROWS = 8  # terms listed one by one; the rest are summed in one row
BAR_ROWS = 8
RED = "#b3261e"
GREEN = "#1b7f3b"


def where(result: UnitArithmetic) -> str:
    """``channel 3 at (12, 7)`` in a map, ``index 4`` (``class 4``) in a vector."""
    if len(result.unit) == 3:
        return f"channel {result.unit[0]} at ({result.unit[1]}, {result.unit[2]})"
    return f"{'class' if result.kind == 'softmax' else 'index'} {result.unit[0]}"



class UnitView(QWidget):
    """Title, formula, the kind's picture, the terms and the check of one unit.

    Attributes:
        result: the arithmetic shown, or None (the hint, or an error line).
        source_button: "Show that unit's arithmetic" for a unit copied from another node.

    Signals:
        unit_shown(object): the result shown, or None when the page clears.
        highlight_node(str): the node whose unit is shown without stepping the maps to it
            (a concatenation's source): the graph highlights it.
    """

    unit_shown = Signal(object)
    highlight_node = Signal(str)

    def __init__(self, session: Session, stepper: Callable[[], Stepper | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._stepper = stepper
        self.result: UnitArithmetic | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(3)
        self.title = QLabel(HINT)
        self.title.setWordWrap(True)
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        layout.addWidget(self.title)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Text wraps to the page's width: never a sideways scroll that hides a line's end.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        self._body = QVBoxLayout(body)
        self._body.setContentsMargins(0, 0, 0, 0)
        self._body.setSpacing(4)
        self.formula = text_label("")
        self.formula.setStyleSheet("font-family: monospace;")
        self._body.addWidget(self.formula)
        self.detail = QWidget()
        self._detail_layout = QVBoxLayout(self.detail)
        self._detail_layout.setContentsMargins(0, 0, 0, 0)
        self._body.addWidget(self.detail)
        self.source_button = QPushButton("Show that unit's arithmetic")
        self.source_button.hide()
        self.source_button.clicked.connect(self.show_source)
        self._body.addWidget(self.source_button, 0, Qt.AlignmentFlag.AlignLeft)
        # The window sliding over the input (its own module; it reads the shown result),
        # cleared as soon as another unit is shown or the page clears.
        self.animation = UnitAnimation(session, stepper, lambda: self.result)
        self.unit_shown.connect(lambda _result: self.animation.clear())
        self._body.addWidget(self.animation)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["term", "value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 4)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.hide()
        self._body.addWidget(self.table)
        self.notes = text_label("")
        font = self.notes.font()
        font.setItalic(True)
        self.notes.setFont(font)
        self._body.addWidget(self.notes)
        self._body.addStretch(1)
        scroll.setWidget(body)
        layout.addWidget(scroll, 1)
        self.check = text_label("")
        layout.addWidget(self.check)
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.model_changed, self._on_changed)
        for event in (session.image_changed, session.knockouts_changed, session.node_changed):
            self._subscriptions.connect(event, self._on_changed)

    # ============================================================== public API

    def explain(self, channel: int, at: tuple[int, int] | None, node: str | int | None = None) -> None:
        """Show the arithmetic of unit (``channel``, ``at``) of ``node`` (None: the node the
        panel shows); a unit outside the node, or a busy panel, is one line in place."""
        stepper = self._stepper()
        if stepper is None:
            self._show_error("the maps are still being computed: click the unit again when they are shown")
            return
        try:
            result = explain_unit(stepper, node, channel, at)
        except UnitError as exc:
            self._show_error(str(exc).splitlines()[0])
            return
        self._show(result)

    def show_source(self) -> None:
        """Show the arithmetic of the unit the shown one copies (a concatenation's source)."""
        detail = self.result.detail if self.result is not None else None
        if isinstance(detail, SourceDetail) and detail.source_index is not None:
            index = detail.index
            self.explain(index[0], (index[1], index[2]) if len(index) == 3 else None, detail.source_index)
            stepper = self._stepper()
            if self.result is not None and self.result.node == detail.source and stepper is not None:
                # The graph knows nodes by their ids (the stepper's names), not their titles.
                self.highlight_node.emit(stepper.nodes[detail.source_index].name)

    def clear(self, text: str = HINT) -> None:
        self.result = None
        self.title.setText(text)
        self.title.setStyleSheet("")
        self.formula.setText("")
        self._fill_table(None)
        self._set_detail([])
        self.source_button.hide()
        self.notes.setText("")
        self.check.setText("")
        self.unit_shown.emit(None)

    def add_section(self, widget: QWidget) -> None:
        """Put ``widget`` under the arithmetic, in the page's scrolled body."""
        self._body.insertWidget(self._body.count() - 1, widget)

    def stop(self, _timeout_ms: int = 10_000) -> bool:
        self._subscriptions.clear()
        return self.animation.stop()

    # ================================================================ drawing

    def _on_changed(self, *_args) -> None:
        self.clear()

    def _side(self) -> int:
        """The heatmaps' side: three of them fit side by side in the page's width."""
        return max(48, min(132, (self.width() - 48) // 3))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.result is not None and self.result.explained and event.oldSize().width() != event.size().width():
            self._set_detail(self._detail_widgets(self.result))

    def _show_error(self, text: str) -> None:
        self.clear(text)
        self.title.setStyleSheet(f"color: {RED};")

    def _show(self, result: UnitArithmetic) -> None:
        self.result = result
        self.title.setStyleSheet("")
        self.title.setText(f"{result.node} · {where(result)}")
        self.title.setToolTip(f"{result.layer_kind}, output {'×'.join(map(str, result.shape))}")
        if not result.explained:
            self.formula.setText(NOT_EXPLAINED)
            self._fill_table(None)
            self._set_detail([])
            self.source_button.hide()
            self.notes.setText("\n".join(result.notes))
            self.check.setText(f"model value {fmt(result.model_value)}")
            return
        self.formula.setText(result.formula)
        self._fill_table(result)
        self._set_detail(self._detail_widgets(result))
        detail = result.detail
        self.source_button.setVisible(isinstance(detail, SourceDetail) and detail.source_index is not None)
        if self.source_button.isVisibleTo(self):
            # Short: a long node title cut the button off in the narrow column at 1024 px.
            self.source_button.setText("Show the source unit's arithmetic")
            self.source_button.setToolTip(f"unit {tuple(detail.index)} of {detail.source}")
        self.notes.setText("\n".join(result.notes))
        mark, colour = ("✓", GREEN) if result.matches else ("✗", RED)
        self.check.setText(f"value {fmt(result.value)} (recomputed) · model {fmt(result.model_value)} · "
                           f"difference {result.difference:.2g} <span style='color:{colour}; font-weight:bold'>"
                           f"{mark}</span>")
        self.check.setToolTip(f"tolerance {result.tolerance:.2g}: float32 rounding of a sum this size")
        self.unit_shown.emit(result)

    def _fill_table(self, result: UnitArithmetic | None) -> None:
        terms = list(result.terms) if result is not None else []
        rows = [(t.label + (" = " + " × ".join(fmt(f) for f in t.factors) if t.factors else ""), t.value)
                for t in terms[:ROWS]]
        if len(terms) > ROWS:
            rest = terms[ROWS:]
            rows.append((f"the other {len(rest)} terms", sum(t.value for t in rest)))
        self.table.setRowCount(len(rows))
        for row, (label, value) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(label))
            item = QTableWidgetItem(fmt(value))
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, item)
        self.table.setVisible(bool(rows))
        height = self.table.verticalHeader().defaultSectionSize() * len(rows)
        self.table.setFixedHeight(height + self.table.horizontalHeader().sizeHint().height() + 4)

    def _set_detail(self, widgets: list[QWidget]) -> None:
        while self._detail_layout.count():
            item = self._detail_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for widget in widgets:
            self._detail_layout.addWidget(widget)
        self.detail.setVisible(bool(widgets))

    def _detail_widgets(self, result: UnitArithmetic) -> list[QWidget]:
        detail = result.detail
        if isinstance(detail, ConvDetail):
            return self._conv(detail)
        if isinstance(detail, PoolDetail):
            return self._pool(detail)
        if isinstance(detail, ActivationDetail):
            return [self._curve(detail)]
        if isinstance(detail, BatchNormDetail):
            d = detail
            return [text_label(f"({fmt(d.x)} − mean {fmt(d.running_mean)}) / sqrt(var {fmt(d.running_var)} + eps "
                          f"{d.eps:g}) = {fmt(d.normalised)}\n{fmt(d.normalised)} × γ {fmt(d.gamma)} + β "
                          f"{fmt(d.beta)} = {fmt(result.value)}")]
        if isinstance(detail, SourceDetail):
            place = ", ".join(str(i) for i in detail.index)
            what = (f"channel {result.unit[0]} of the concatenation is channel {detail.index[0]} of {detail.source}"
                    if len(detail.index) == 3 and result.kind == "cat"
                    else f"this value is {detail.source}'s value at ({place})")
            if detail.parts:
                what += f" (input {detail.part + 1} of {detail.parts})"
            return [text_label(what)]
        if isinstance(detail, LinearDetail):
            rows = [(f"x[{i}] × w[{i}]", p) for i, _x, _w, p in detail.top[:BAR_ROWS]]
            if detail.rest_count:
                rows.append((f"the other {detail.rest_count}", detail.rest))
            rows.append(("bias", detail.bias))
            return [_picture(bars(rows), "the strongest input × weight contributions")]
        if isinstance(detail, SoftmaxDetail):
            loaded = self.session.loaded
            names = loaded.class_names if loaded is not None else ()
            rows = [(f"{names[c] if c < len(names) else f'class {c}'} (z {z:.3g})", p)
                    for c, z, p in detail.top[:BAR_ROWS]]
            return [_picture(bars(rows), "probabilities of the classes with the largest logits")]
        return []

    def _conv(self, d: ConvDetail) -> list[QWidget]:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        strongest = d.top[0][0] if d.top else d.in_channels[0]
        k = list(d.in_channels).index(strongest) if strongest in d.in_channels else 0
        kind = ", ".join(d.variants) if d.variants else "plain"
        side = self._side()
        layout.addWidget(_picture(heatmap(d.patches[k], d.in_padding, side=side), f"input ch {d.in_channels[k]}"))
        layout.addWidget(_picture(heatmap(d.kernel[k], side=side), "× kernel"))
        layout.addWidget(_picture(heatmap(d.products[k], d.in_padding, side=side), "= products"))
        layout.addStretch(1)
        plural = "s" if len(d.in_channels) != 1 else ""
        shown = "the strongest" if len(d.in_channels) > 1 else "the only one"
        lines = [f"input channel {d.in_channels[k]} ({shown}) × its {d.kernel_size[0]}×{d.kernel_size[1]} kernel "
                 f"slice: products sum to {fmt(float(d.channel_sums[k]))} (red above zero, blue below"
                 + ("; hatched: padding zeros)" if d.in_padding.any() else ")"),
                 f"{len(d.in_channels)} input channel{plural} read ({kind}; stride {d.stride[0]}, padding {d.pad[0]})"]
        if d.connections is not None:
            lines.append("connected maps (LeNet-5's table): " + ", ".join(map(str, d.connections)))
        lines.append(f"all products {fmt(d.total)} + bias {fmt(d.bias)} = {fmt(d.pre_activation)}")
        lines += [f"{s.label}: {s.formula}" for s in d.after]
        widgets = [row, text_label("\n".join(lines))]
        if len(d.in_channels) > 1:
            per = [(f"channel {c}", v) for c, v in d.top[:BAR_ROWS]]
            if d.rest_count:
                per.append((f"the other {d.rest_count}", d.rest))
            widgets.append(_picture(bars(per), "per input channel: its sum of products"))
        return widgets

    def _pool(self, d: PoolDetail) -> list[QWidget]:
        caption = f"{d.op} pool: channel {d.channel}'s window"
        if d.winner is not None:
            caption += "; outlined: the largest"
        if d.in_padding.any():
            caption += "; grey: padding"
        lines = []
        if d.total is not None and d.divisor is not None:
            lines.append(f"sum {fmt(d.total)} / {fmt(d.divisor)}")
        if d.coefficient is not None:
            lines.append(f"sum {fmt(d.total)} × coefficient {fmt(d.coefficient)} + bias {fmt(d.bias)}")
        lines += [f"{s.label}: {s.formula}" for s in d.after]
        widgets: list[QWidget] = [_picture(heatmap(d.window, d.in_padding, d.winner, side=self._side()), caption)]
        if lines:
            widgets.append(text_label("\n".join(lines)))
        return widgets

    def _curve(self, d: ActivationDetail) -> QWidget:
        reach = max(3.0, abs(d.input) * 1.3, 7.0 if d.function == "relu6" else 0.0)
        xs = np.linspace(-reach, reach, 201)
        functions = {
            "relu": lambda v: np.maximum(v, 0), "relu6": lambda v: np.clip(v, 0, 6),
            "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh,
            "leaky_relu": lambda v: np.where(v > 0, v, 0.01 * v),
        }
        low, high = d.clip if d.clip is not None else (-1.0, 1.0)
        function = functions.get(d.function, lambda v: np.clip(v, low, high))
        plot = pg.PlotWidget()
        pass_drops_on(plot)
        plot.setBackground(self.palette().color(self.backgroundRole()))
        plot.setMinimumHeight(120)
        plot.setMaximumHeight(170)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.plot(xs, function(xs), pen=pg.mkPen((60, 100, 200), width=2))
        plot.plot([d.input], [d.output], pen=None, symbol="o", symbolBrush=(200, 40, 40), symbolSize=9)
        plot.setLabel("bottom", f"input {fmt(d.input)} → output {fmt(d.output)}  ({d.region})")
        return plot
