"""The stepping row of the feature-map panel: first, back, play, step, end, a slider over
the nodes, and where the pass runs. It only says what was asked (signals) and shows what it
is told; the panel decides what a step means."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSlider, QStyle, QToolButton, QWidget

from explorer.devices import available_devices
from explorer.ui.maps.image_source import tool_button


class StepControls(QWidget):
    """Signals: first, back, play, forward, last (buttons); scrubbed(int) (slider released
    on a node index); device_chosen(str)."""

    first = Signal()
    back = Signal()
    play = Signal()
    forward = Signal()
    last = Signal()
    scrubbed = Signal(int)
    device_chosen = Signal(str)

    def __init__(self, device: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        pixmap = QStyle.StandardPixmap
        self.first_button = self._button("First", "First node (Home)", self.first, pixmap.SP_MediaSkipBackward)
        self.back_button = self._button("Back", "Step back (Left)", self.back, pixmap.SP_MediaSeekBackward)
        self.play_button = self._button("Play", "Play / pause (Space)", self.play, pixmap.SP_MediaPlay)
        self.forward_button = self._button("Step", "Step forward (Right)", self.forward,
                                           pixmap.SP_MediaSeekForward)
        self.last_button = self._button("End", "Run to the end (End)", self.last, pixmap.SP_MediaSkipForward)
        for button in self._buttons():
            row.addWidget(button)
        self.node_slider = QSlider(Qt.Orientation.Horizontal)
        self.node_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.node_slider.setToolTip("Scrub through the nodes in execution order")
        self.node_slider.setRange(0, 0)
        self.node_slider.setMinimumWidth(60)
        self.node_slider.sliderReleased.connect(self._on_slider_released)
        row.addWidget(self.node_slider, 1)
        self.device_combo = QComboBox()
        for name in ("auto", *available_devices()):
            self.device_combo.addItem(name, name)
        self.device_combo.setToolTip("Where the forward pass runs (auto: CUDA, then MPS, then CPU)")
        self.device_combo.activated.connect(self._on_device_activated)
        row.addWidget(self.device_combo)
        self.show_device(device)
        self.set_enabled(False)

    def _button(self, text: str, tip: str, signal, icon) -> QToolButton:
        button = tool_button(text, tip, signal)
        button.setIcon(self.style().standardIcon(icon))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        return button

    def _buttons(self) -> tuple[QToolButton, ...]:
        return (self.first_button, self.back_button, self.play_button, self.forward_button, self.last_button)

    def set_enabled(self, enabled: bool) -> None:
        """Stepping makes sense only once a pass can be shown."""
        for button in self._buttons():
            button.setEnabled(enabled)
        self.node_slider.setEnabled(enabled)
        if not enabled:
            self.node_slider.setRange(0, 0)

    def set_playing(self, playing: bool) -> None:
        pixmap = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(pixmap))
        self.play_button.setText("Pause" if playing else "Play")

    def show_position(self, index: int, total: int) -> None:
        self.node_slider.blockSignals(True)
        self.node_slider.setRange(0, total - 1)
        self.node_slider.setValue(index)
        self.node_slider.blockSignals(False)

    def show_device(self, device: str) -> None:
        index = self.device_combo.findData(device)
        self.device_combo.setCurrentIndex(max(index, 0))

    def _on_slider_released(self) -> None:
        self.scrubbed.emit(self.node_slider.value())

    def _on_device_activated(self, index: int) -> None:
        self.device_chosen.emit(self.device_combo.itemData(index))
