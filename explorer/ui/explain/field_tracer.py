"""The receptive-field tracer: click a unit of a feature map, see what of the input it sees.

A view of the session (it forgets its unit when the model, weights or image change). The
feature-map panel hands it clicks on the enlarged channel or the mosaic (``trace``) and
every view it shows (``show_region``). The unit's theoretical field is drawn on the input
as a box (dashed where it runs into the padding, solid inside the image) over its
effective field as a heat map; on upstream nodes, the part of their map the unit sees is
outlined on the enlarged channel. The work (a model copy, a graph trace, one backward
pass) runs in a :class:`~explorer.ui.background.LatestJob`.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QPushButton, QWidget

from explorer.activations.pipeline import View
from explorer.explain.attribution import overlay
from explorer.explain.unit_field import UnitField, region_in, trace_unit
from explorer.graph.receptive_field import UnitBox
from explorer.session import Session
from explorer.ui.background import LatestJob
from explorer.ui.maps.views import ImagePane
from explorer.ui.subscriptions import Subscriptions

HINT = "Click a pixel of the enlarged channel or the mosaic to see the input region that unit sees"
ERF_OPACITY = 0.85  # at full strength; weaker pixels blend in less (overlay's fade)
ERF_PERCENTILE = 95  # a gradient is heavy-tailed: scaled to its maximum, all but a speck is dark
ERF_CAPTION = (f"effective field (heat): |d unit / d input|, full colour from the top "
               f"{100 - ERF_PERCENTILE}% of its pixels")


def _outline(pane: ImagePane, colour: QColor, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QGraphicsRectItem:
    item = QGraphicsRectItem()
    pen = QPen(colour)
    pen.setCosmetic(True)
    pen.setWidth(2)
    pen.setStyle(style)
    item.setPen(pen)
    item.setZValue(20)
    item.hide()
    pane.view.addItem(item)
    return item


def _rect(top: int, left: int, bottom: int, right: int) -> QRectF:
    return QRectF(left, top, right - left + 1, bottom - top + 1)


class FieldTracer(QWidget):
    """The tracer's line of text and its clear button; owns the outlines it draws.

    Attributes:
        field: the traced unit's :class:`UnitField`, once computed (None before and after
            ``clear``).
        region: the upstream region outlined on the enlarged channel now, or None.

    Signals:
        traced(object): the :class:`UnitField` just traced.
    """

    traced = Signal(object)

    def __init__(self, session: Session, input_pane: ImagePane, channel_pane: ImagePane,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.input_pane = input_pane
        self.channel_pane = channel_pane
        self.field: UnitField | None = None
        self.region: UnitBox | None = None
        self._job = LatestJob("receptive field", self)
        self._job.done.connect(self._on_traced)
        self._job.failed.connect(self._on_failed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(HINT)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setMinimumHeight(self.label.fontMetrics().lineSpacing() * 2 + 2)
        layout.addWidget(self.label, 1)
        self.clear_button = QPushButton("Clear field")
        self.clear_button.setToolTip("Remove the receptive field from the input")
        self.clear_button.setEnabled(False)
        self.clear_button.clicked.connect(self.clear)
        layout.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignTop)
        cyan = QColor(0, 220, 255)
        self.box_item = _outline(input_pane, cyan, Qt.PenStyle.DashLine)  # the whole field
        self.inside_item = _outline(input_pane, cyan)  # the part inside the image
        self.unit_item = _outline(channel_pane, cyan)  # the unit, or its region upstream
        self._subscriptions = Subscriptions(self)
        for event in (session.model_changed, session.image_changed):
            self._subscriptions.connect(event, self._on_input_changed)

    @property
    def busy(self) -> bool:
        return self._job.busy

    def trace(self, view: View | None, channel: int | None, x: float, y: float) -> None:
        """Trace unit (y, x) of ``view``'s node (``channel`` None: all its channels)."""
        session = self.session
        if view is None or session.module is None or session.image is None:
            return
        if view.shape is None or len(view.shape) != 4:
            self.label.setText(f"{view.record.title} has no spatial map: nothing to trace")
            return
        self.label.setText(f"tracing unit ({int(y)}, {int(x)}) of {view.record.title}…")
        self._job.submit(trace_unit, session.module, session.model_name, session.image,
                         view.record.name, int(y), int(x), channel)

    def show_region(self, view: View | None) -> None:
        """Outline the traced unit on ``view``'s enlarged channel: itself on its own node,
        the region it sees on an upstream node, nothing elsewhere."""
        field = self.field
        self.region = None
        if field is None or view is None:
            self.unit_item.hide()
            return
        if view.record.name == field.node:
            self.unit_item.setRect(_rect(field.y, field.x, field.y, field.x))
            self.unit_item.show()
            return
        region = region_in(field, view.record.name)
        if region is None or region.clipped is None:
            self.unit_item.hide()
            return
        self.region = region
        self.unit_item.setRect(_rect(*region.clipped))
        self.unit_item.show()

    def clear(self) -> None:
        """Forget the unit: the input is shown plain again."""
        if self.field is not None:
            self.input_pane.set_rgba(self.field.display)
            self._frame_input(None)
        self._forget()

    def _forget(self) -> None:
        self._job.cancel()
        self.field = None
        self.region = None
        for item in (self.box_item, self.inside_item, self.unit_item):
            item.hide()
        self.clear_button.setEnabled(False)
        self.label.setText(HINT)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        self._subscriptions.clear()
        return self._job.stop(timeout_ms)

    def _on_input_changed(self, _session: Session, *_change) -> None:
        # Another model, weights or image: the field belongs to the old one. The panel
        # redraws the input itself; only forget the unit and the outlines here.
        self._forget()

    def _on_traced(self, _number: int, field: UnitField) -> None:
        self.field = field
        picture = (overlay(field.display, field.erf, opacity=ERF_OPACITY, top_percentile=ERF_PERCENTILE, fade=True)
                   if field.erf is not None else field.display)
        self.input_pane.set_rgba(picture)
        box = field.box
        self.box_item.setRect(_rect(box.top, box.left, box.bottom, box.right))
        self.box_item.show()
        if box.clipped is not None:
            self.inside_item.setRect(_rect(*box.clipped))
            self.inside_item.show()
        else:
            self.inside_item.hide()
        self._frame_input(box)
        self.unit_item.setRect(_rect(field.y, field.x, field.y, field.x))
        self.unit_item.show()
        erf = ERF_CAPTION if field.erf is not None else field.erf_note
        self.label.setText(f"{field.summary()}  ·  {erf}")
        self.clear_button.setEnabled(True)
        self.traced.emit(field)

    def _frame_input(self, box: UnitBox | None) -> None:
        """Widen the input's view to show the padding the box reaches (None: the image)."""
        shape = self.field.display.shape if self.field is not None else None
        if shape is None:
            return
        height, width = shape[:2]
        if box is None:
            top, left, bottom, right = 0, 0, height, width
        else:
            top, left = min(0, box.top), min(0, box.left)
            bottom, right = max(height, box.bottom + 1), max(width, box.right + 1)
        self.input_pane.view.setRange(xRange=(left, right), yRange=(top, bottom), padding=0.02)

    def _on_failed(self, _number: int, text: str) -> None:
        self.label.setText(text)
