"""The Explain tab: which pixels of the input speak for a class.

A view of the session: the model, weights, image and (for Grad-CAM) node it explains are
the session's. The map is computed by :func:`explorer.explain.evidence.explain_image` in a
:class:`~explorer.ui.background.LatestJob`, only while the tab is visible (a hidden tab
remembers that it is out of date and computes when shown). Opacity only re-blends the
map it has, on the GUI thread (one small array).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from explorer.explain.attribution import overlay
from explorer.explain.evidence import Evidence, explain_image
from explorer.session import Session
from explorer.ui.background import LatestJob
from explorer.ui.maps.views import ImagePane
from explorer.ui.subscriptions import Subscriptions

METHOD_LABELS = (("Grad-CAM at this node", "gradcam"), ("Gradient saliency", "saliency"),
                 ("Occlusion", "occlusion"))


class ExplainView(QWidget):
    """Method, target class and opacity; the map over the input and its caption.

    Attributes:
        evidence: the map shown now (None before the first one and after a change).
    """

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.evidence: Evidence | None = None
        self._dirty = True
        self._job = LatestJob("class evidence", self)
        self._job.done.connect(self._on_done)
        self._job.failed.connect(self._on_failed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.method_combo = QComboBox()
        for label, method in METHOD_LABELS:
            self.method_combo.addItem(label, method)
        self.method_combo.setToolTip("How the evidence is measured")
        self.method_combo.activated.connect(self._on_choice)
        row.addWidget(self.method_combo)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose evidence is shown")
        self.class_combo.activated.connect(self._on_choice)
        row.addWidget(self.class_combo, 1)
        layout.addLayout(row)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("opacity"))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(55)
        self.opacity_slider.setToolTip("0 shows the input alone, 100 the map alone")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        opacity_row.addWidget(self.opacity_slider, 1)
        layout.addLayout(opacity_row)
        self.pane = ImagePane(min_size=100)
        layout.addWidget(self.pane, 1)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setMinimumHeight(self.caption.fontMetrics().lineSpacing() * 3 + 2)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.caption)
        self._fill_classes()
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.model_changed, self._on_model_changed)
        self._subscriptions.connect(session.image_changed, self._on_input_changed)
        self._subscriptions.connect(session.node_changed, self._on_node_changed)

    @property
    def busy(self) -> bool:
        return self._job.busy

    @property
    def method(self) -> str:
        return self.method_combo.currentData()

    @property
    def target(self) -> int | None:
        return self.class_combo.currentData()

    def refresh(self) -> None:
        """Compute the map for the current choices now if visible, else when shown."""
        self._dirty = True
        session = self.session
        if not self.isVisible() or session.module is None or session.image is None:
            return
        self._dirty = False
        what = dict(METHOD_LABELS)
        self.caption.setText(f"computing {next(k for k, v in what.items() if v == self.method)}…")
        self._job.submit(explain_image, session.module, session.model_name, session.image, self.method,
                         self.target, session.node, session.loaded.class_names)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        self._subscriptions.clear()
        return self._job.stop(timeout_ms)

    def _fill_classes(self) -> None:
        self.class_combo.clear()
        self.class_combo.addItem("predicted class", None)
        loaded = self.session.loaded
        for index, label in enumerate(loaded.class_names if loaded is not None else ()):
            self.class_combo.addItem(f"{index}: {label}", index)

    def _on_model_changed(self, session: Session, change: str) -> None:
        if change == "loaded":
            self._fill_classes()  # another head: another list of classes
        self._on_input_changed(session)

    def _on_input_changed(self, _session: Session) -> None:
        self.evidence = None
        self.pane.set_rgba(None)
        self.caption.setText("")
        self._job.cancel()
        self.refresh()

    def _on_node_changed(self, _session: Session) -> None:
        if self.method == "gradcam":
            self.refresh()

    def _on_choice(self, _index: int = 0) -> None:
        self.refresh()

    def _on_opacity(self, _value: int) -> None:
        self._draw()

    def _draw(self) -> None:
        evidence = self.evidence
        if evidence is None:
            return
        self.pane.set_rgba(overlay(evidence.display, evidence.attribution.values,
                                   opacity=self.opacity_slider.value() / 100))

    def _on_done(self, _number: int, evidence: Evidence) -> None:
        self.evidence = evidence
        self._draw()
        text = evidence.attribution.caption
        self.caption.setText(text + (f"  ({evidence.note})" if evidence.note else ""))

    def _on_failed(self, _number: int, text: str) -> None:
        self.evidence = None
        self.pane.set_rgba(None)
        self.caption.setText(text)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self.refresh()
