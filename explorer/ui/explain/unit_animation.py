"""The Unit page's animation: the window of a convolution or pooling unit sliding over the
real input map (padding hatched) while the output map fills in cell by cell, as CNN
Explainer does it; a depthwise convolution filters its one channel, a 1x1 convolution
steps through the pixels listing the channels' values there, their weights and the sum.

Animate reads the node's call once (:meth:`Stepper.call_at`, only while the panel's runner
is idle) and :func:`~explorer.explain.units.animation.animation_for` precomputes every
frame; a frame then only repaints (two prerendered images, two outlines, one text line).
A QTimer plays it at the chosen speed; it stops when the page is hidden, the widget
closes, or the model, weights, image, knockouts or node change (which also clear it), and
when the page shows another unit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from explorer.activations.mosaic import colorize
from explorer.activations.stepper import Stepper
from explorer.explain.units import UnitArithmetic
from explorer.explain.units.animation import Animation, NotAnimated, animation_for
from explorer.explain.units.base import fmt
from explorer.session import Session
from explorer.ui.subscriptions import Subscriptions

#: (label, frames per second) of the speed combo.
SPEEDS = (("1 step/s", 1), ("4 steps/s", 4), ("15 steps/s", 15), ("30 steps/s", 30), ("60 steps/s", 60))
DEFAULT_SPEED = 2
BARS_WIDTH = 130  # a 1x1 convolution's pixel: its channels' products as bars
HINT = "Animate: the window sliding over the input while the output fills in (convolution and pooling units)"


def _image(values: np.ndarray) -> QImage:
    """A map as a blue-white-red image centred on zero."""
    finite = values[np.isfinite(values)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    scaled = 0.5 + 0.5 * values / top if top > 0 else np.full(values.shape, 0.5)
    rgba = np.ascontiguousarray(colorize(scaled, "coolwarm", background=(200, 200, 200, 255)))
    rows, cols = values.shape
    return QImage(rgba.data, cols, rows, cols * 4, QImage.Format.Format_RGBA8888).copy()


class AnimationCanvas(QWidget):
    """Input (with its padding) on the left, output on the right; outlines on both."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.animation: Animation | None = None
        self.index = -1
        self._input: QImage | None = None
        self._output: QImage | None = None
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(190)

    def set_animation(self, animation: Animation | None) -> None:
        self.animation = animation
        self._input = _image(animation.input_map) if animation is not None else None
        self._output = _image(animation.output_map) if animation is not None else None
        self.index = -1
        self.update()

    def _cell(self) -> float:
        a = self.animation
        rows = a.input_map.shape[0] + 2 * a.pad[0]
        cols = a.input_map.shape[1] + 2 * a.pad[1] + a.output_map.shape[1]
        room = self.width() - 24 - (BARS_WIDTH + 12 if a.mode == "pointwise" else 0)
        return max(1.0, min((self.height() - 4) / max(rows, a.output_map.shape[0]), room / cols))

    def _bars(self, painter: QPainter, left: float, y: int, x: int) -> None:
        """A 1x1 convolution's pixel: the strongest channels' value × weight as bars."""
        a = self.animation
        products = a.top_products[:, y, x]
        top = float(np.abs(products).max()) or 1.0
        row = 16
        half = (BARS_WIDTH - 44) / 2
        painter.setPen(self.palette().color(self.foregroundRole()))
        for r in range(products.shape[0]):
            top_y = 4 + r * row
            painter.drawText(QRectF(left, top_y, 42, row), Qt.AlignmentFlag.AlignVCenter,
                             f"ch {a.in_channels[a.top_channels[r, y, x]]}")
            length = half * abs(float(products[r])) / top
            start = left + 44 + half - (length if products[r] < 0 else 0)
            painter.fillRect(QRectF(start, top_y + 3, max(1.0, length), row - 6),
                             QColor(200, 70, 60) if products[r] >= 0 else QColor(60, 100, 200))
        painter.drawText(QRectF(left, 4 + products.shape[0] * row, BARS_WIDTH, row), Qt.AlignmentFlag.AlignVCenter,
                         f"Σ {fmt(float(a.pointwise_sums[y, x]))} + bias")

    def paintEvent(self, _event) -> None:
        a = self.animation
        if a is None or self._input is None:
            return
        painter = QPainter(self)
        cell = self._cell()
        (ph, pw), (h, w) = a.pad, a.input_map.shape
        # The padded input: hatched border, the real map inside.
        outer = QRectF(2, 2, (w + 2 * pw) * cell, (h + 2 * ph) * cell)
        painter.fillRect(outer, QColor(200, 200, 200))
        if ph or pw:
            painter.fillRect(outer, Qt.BrushStyle.BDiagPattern)
        inner = QRectF(2 + pw * cell, 2 + ph * cell, w * cell, h * cell)
        painter.drawImage(inner, self._input)
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        painter.drawRect(outer)
        left = outer.right() + 20
        oh, ow = a.output_map.shape
        out = QRectF(left, 2, ow * cell, oh * cell)
        painter.fillRect(out, QColor(235, 235, 235))
        frame = a.frame(self.index) if 0 <= self.index < a.count else None
        if frame is not None:  # the cells made so far: whole rows, then this row up to here
            y, x = frame.out
            painter.save()
            painter.setClipRect(QRectF(left, 2, ow * cell, y * cell))
            painter.drawImage(out, self._output)
            painter.setClipRect(QRectF(left, 2 + y * cell, (x + 1) * cell, cell))
            painter.drawImage(out, self._output)
            painter.restore()
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        painter.drawRect(out)
        if frame is not None:
            painter.setPen(QPen(QColor(0, 170, 0), 2))
            painter.drawRect(QRectF(2 + (frame.cols[0] + pw) * cell, 2 + (frame.rows[0] + ph) * cell,
                                    (frame.cols[1] - frame.cols[0] + 1) * cell,
                                    (frame.rows[1] - frame.rows[0] + 1) * cell))
            painter.drawRect(QRectF(left + frame.out[1] * cell, 2 + frame.out[0] * cell, cell, cell))
            if a.mode == "pointwise":
                self._bars(painter, out.right() + 12, *frame.out)
        painter.end()


class UnitAnimation(QWidget):
    """The Animate button, then the canvas, Play/Pause, Step, the speed and one line per frame.

    Attributes:
        animation: the precomputed frames, or None; ``canvas.index``: the frame shown.
        timer: plays the frames; running only while playing and shown.
    """

    def __init__(self, session: Session, stepper: Callable[[], Stepper | None],
                 result: Callable[[], UnitArithmetic | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stepper = stepper
        self._result = result
        self._shown_result: UnitArithmetic | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        controls = QHBoxLayout()
        self.animate_button = QPushButton("Animate")
        self.animate_button.setToolTip(HINT)
        self.animate_button.clicked.connect(self.animate)
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.toggle)
        self.step_button = QPushButton("Step")
        self.step_button.clicked.connect(self.step)
        self.speed = QComboBox()
        for label, fps in SPEEDS:
            self.speed.addItem(label, fps)
        self.speed.setCurrentIndex(DEFAULT_SPEED)
        self.speed.currentIndexChanged.connect(self._set_speed)
        for widget in (self.animate_button, self.play_button, self.step_button, self.speed):
            controls.addWidget(widget)
        # As narrow as their words: the page is about 330 px wide in a 1440 px window, and
        # the style's 80 px buttons pushed the page's text off its right edge.
        for button, longest in ((self.animate_button, "Animate"), (self.play_button, "Pause"),
                                (self.step_button, "Step")):
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(longest) + 18)
        self.speed.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        controls.addStretch(1)
        layout.addLayout(controls)
        self.canvas = AnimationCanvas()
        layout.addWidget(self.canvas)
        self.line = QLabel("")
        self.line.setWordWrap(True)
        self.line.setStyleSheet("font-family: monospace;")
        layout.addWidget(self.line)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._set_speed()
        self._subscriptions = Subscriptions(self)
        for event in (session.model_changed, session.image_changed, session.knockouts_changed,
                      session.node_changed):
            self._subscriptions.connect(event, self._on_changed)
        self.clear()

    @property
    def animation(self) -> Animation | None:
        return self.canvas.animation

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    # ============================================================== public API

    def animate(self) -> None:
        """Precompute the frames of the unit the page shows and show the first one."""
        self.clear()
        result, stepper = self._result(), self._stepper()
        if result is None:
            self.line.setText("click a convolution or pooling unit first")
            return
        if stepper is None:
            self.line.setText("the maps are still being computed: try again when they are shown")
            return
        try:
            animation = animation_for(result, stepper.call_at(result.node_index), stepper.nodes)
        except NotAnimated as exc:
            self.line.setText(str(exc))
            return
        self._shown_result = result
        self.canvas.set_animation(animation)
        self.canvas.show()
        for widget in (self.play_button, self.step_button, self.speed):
            widget.setEnabled(True)
        self.step()
        scroll = self.parentWidget()
        while scroll is not None and not isinstance(scroll, QScrollArea):
            scroll = scroll.parentWidget()
        if scroll is not None:  # the page is a scroll area: bring the canvas into view
            QTimer.singleShot(0, self, lambda: self.animation is not None and scroll.ensureWidgetVisible(self.canvas, 0, 0))

    def step(self) -> None:
        """One frame on (from the last frame: back to the first)."""
        if not self._current():
            return
        self._show((self.canvas.index + 1) % self.animation.count)

    def play(self) -> None:
        if not self._current():
            return
        if self.canvas.index >= self.animation.count - 1:
            self._show(0)
        self.timer.start()
        self.play_button.setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("Play")

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def clear(self) -> None:
        self.pause()
        self._shown_result = None
        self.canvas.set_animation(None)
        self.canvas.hide()
        self.line.setText("")
        for widget in (self.play_button, self.step_button, self.speed):
            widget.setEnabled(False)

    def stop(self, _timeout_ms: int = 10_000) -> bool:
        self.pause()
        self._subscriptions.clear()
        return True

    # ================================================================ internals

    def _current(self) -> bool:
        """An animation of the unit the page still shows (another unit clears it)."""
        if self.animation is None:
            return False
        if self._result() is not self._shown_result:
            self.clear()
            return False
        return True

    def _tick(self) -> None:
        if not self._current():
            return
        if self.canvas.index >= self.animation.count - 1:
            self.pause()
            return
        self._show(self.canvas.index + 1)

    def _show(self, index: int) -> None:
        a = self.animation
        self.canvas.index = index
        self.canvas.update()
        f = a.frame(index)
        where = f"output ({f.out[0]}, {f.out[1]}) of {a.count}: "
        if a.mode == "pool":
            text = f"{a.op} pool of ch {a.in_channel} rows {f.rows[0]}..{f.rows[1]}, cols {f.cols[0]}..{f.cols[1]}"
        elif a.mode == "pointwise":
            y, x = f.out
            terms = " + ".join(f"ch {a.in_channels[a.top_channels[r, y, x]]}: {fmt(a.top_values[r, y, x])}"
                               f"×{fmt(a.weights[a.top_channels[r, y, x]])}" for r in range(a.top_channels.shape[0]))
            rest = len(a.in_channels) - a.top_channels.shape[0]
            text = (f"pixel {f.pixel}: {terms}" + (f" + {rest} more" if rest > 0 else "")
                    + f" = {fmt(a.pointwise_sums[y, x])}; + bias {fmt(a.bias)}")
        elif a.mode == "depthwise":
            text = f"ch {a.in_channel} alone (depthwise): products {fmt(f.partial)} + bias {fmt(a.bias)}"
        elif len(a.in_channels) == 1:
            text = f"ch {a.in_channel}'s products {fmt(f.partial)} + bias {fmt(a.bias)}"
        else:
            text = (f"ch {a.in_channel}'s products {fmt(f.partial)} (drawn) + the other "
                    f"{len(a.in_channels) - 1} channels + bias {fmt(a.bias)}")
        self.line.setText(f"{where}{text} → {fmt(f.value)}")

    def _set_speed(self, *_args) -> None:
        self.timer.setInterval(max(1, round(1000 / self.speed.currentData())))

    def _on_changed(self, *_args) -> None:
        self.clear()

    def hideEvent(self, event) -> None:
        self.pause()
        super().hideEvent(event)

    def closeEvent(self, event) -> None:
        self.pause()
        super().closeEvent(event)
