"""The mosaic of a node's channels: display options, the pixel read-out under the pointer,
the frame around the enlarged channel, and the node's statistics.

It renders a :class:`~explorer.activations.pipeline.View` it is given; ``clear`` empties
it (another model or image), so nothing of an old view stays on screen.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QCursor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.activations.colormaps import COLORMAPS
from explorer.activations.pipeline import View, render
from explorer.ui.maps.readouts import ClassChart, ColorBar
from explorer.ui.maps.views import ImagePane


class MosaicView(QWidget):
    """All channels of one node as one image.

    Signals:
        channel_clicked(int): the user clicked this channel in the mosaic.
        unit_clicked(int, float, float): the same click as channel, x and y in that channel.
        knockout_requested(int): "Switch off channel N" was chosen in the context menu.
        options_changed(): another colour map or scale was chosen (already redrawn).
    """

    channel_clicked = Signal(int)
    unit_clicked = Signal(int, float, float)
    knockout_requested = Signal(int)
    options_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view: View | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        options = QHBoxLayout()
        self.colormap_combo = QComboBox()
        for name in COLORMAPS:
            self.colormap_combo.addItem(name, name)
        self.colormap_combo.setToolTip("Colour map (coolwarm centres zero: blue below, red above)")
        self.colormap_combo.activated.connect(self._on_option)
        options.addWidget(self.colormap_combo)
        self.scale_combo = QComboBox()
        self.scale_combo.addItem("shared scale", "shared")
        self.scale_combo.addItem("per-channel scale", "per_channel")
        self.scale_combo.setToolTip("One value range for all channels, or each stretched alone")
        self.scale_combo.activated.connect(self._on_option)
        options.addWidget(self.scale_combo)
        self.hover_label = QLabel("")
        self.hover_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        options.addWidget(self.hover_label, 1)
        layout.addLayout(options)
        # 160: at 1024x700 the mosaic, its readouts and the top-5 fit the height together.
        self.pane = ImagePane(min_size=160)
        self.pane.setToolTip("All channels of the node; click one to enlarge it")
        self.pane.clicked.connect(self._on_clicked)
        self.pane.hovered.connect(self._on_hovered)
        self.pane.context_clicked.connect(self._on_context_clicked)
        # One menu, kept: shown with popup() so nothing blocks, and reachable from tests.
        self.channel_menu = QMenu(self)
        self.knockout_action = self.channel_menu.addAction("Switch off channel")
        self.knockout_action.triggered.connect(self._on_knockout_action)
        self._menu_channel: int | None = None
        # Outline of the enlarged channel on the mosaic.
        self.channel_frame = self._outline(QGraphicsRectItem(), QColor(230, 40, 40), 10)
        # The region a traced downstream unit reads, outlined in every channel's tile.
        self.region_outline = self._outline(QGraphicsPathItem(), QColor(0, 220, 255), 11)
        # Class scores (the output, the final linear layer) read as labelled bars instead.
        self.class_chart = ClassChart()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.pane)
        self.stack.addWidget(self.class_chart)
        layout.addWidget(self.stack, 1)
        self.color_bar = ColorBar()
        layout.addWidget(self.color_bar)
        self.color_bar.hide()
        self.stats_label = QLabel("")
        self.stats_label.setWordWrap(True)
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.stats_label)

    def _outline(self, item, color: QColor, z: float):
        """``item`` drawn as a 2 px outline above the mosaic, hidden until placed."""
        pen = QPen(color)
        pen.setCosmetic(True)
        pen.setWidth(2)
        item.setPen(pen)
        item.setZValue(z)
        item.hide()
        self.pane.view.addItem(item)
        return item

    @property
    def colormap(self) -> str:
        return self.colormap_combo.currentData()

    @property
    def scale(self) -> str:
        return self.scale_combo.currentData()

    @property
    def showing_classes(self) -> bool:
        return self.stack.currentWidget() is self.class_chart

    def show_view(self, view: View, class_scores: bool = False, class_names: tuple[str, ...] | None = None) -> None:
        """Draw ``view`` (redrawn here if the options changed while it was computed);
        ``class_scores`` says its values are class scores, drawn as probability bars named
        by ``class_names`` (the model's own; None: the names a head of that size gets)."""
        if self._view is None or self._view.record.index != view.record.index:
            self.hover_label.setText("")  # a read-out of another node's pixel
        self._view = view
        if (view.colormap, view.scale) != (self.colormap, self.scale) and view.channels is not None:
            view.mosaic, view.rgba = render(view.channels, self.colormap, self.scale)
        self.pane.set_rgba(view.rgba)
        show_chart = class_scores and view.channels is not None
        if show_chart:
            self.class_chart.show_scores(view.channels, class_names)
        self.stack.setCurrentWidget(self.class_chart if show_chart else self.pane)
        # Colour map and scale draw the mosaic; the bars do not use them.
        self.colormap_combo.setEnabled(not show_chart)
        self.scale_combo.setEnabled(not show_chart)
        self._show_color_bar()
        if view.stats is None:
            self.stats_label.setText("This node does not output a tensor.")
            return
        s = view.stats
        if show_chart:
            # A vector of class scores is one 1x1 "channel" to the mosaic: say what it is.
            what = f"{np.isfinite(view.channels).sum()} class scores"
        else:
            channels = view.mosaic.channels if view.mosaic else 0
            what = f"{channels} channel{'s' if channels != 1 else ''}"
        self.stats_label.setText(
            f"{what}  ·  min {s.min:.4g}  ·  "
            f"max {s.max:.4g}  ·  mean {s.mean:.4g}  ·  std {s.std:.4g}  ·  "
            f"zeros in this map {s.zero_share * 100:.1f}%  ·  negative {s.negative_share * 100:.1f}%")

    def frame_channel(self, channel: int | None) -> None:
        """Outline ``channel`` on the mosaic (None hides the outline)."""
        view = self._view
        if channel is None or view is None or view.mosaic is None:
            self.channel_frame.hide()
            return
        ox, oy = view.mosaic.channel_origin(channel)
        self.channel_frame.setRect(ox - 0.5, oy - 0.5, view.mosaic.cell_w + 1, view.mosaic.cell_h + 1)
        self.channel_frame.show()

    def outline_region(self, box: tuple[int, int, int, int] | None) -> None:
        """Outline ``box`` (top, left, bottom, right inclusive, map pixels) in every
        channel's tile: the patch a downstream unit reads (None hides it)."""
        view = self._view
        if box is None or view is None or view.mosaic is None:
            self.region_outline.hide()
            return
        top, left, bottom, right = box
        path = QPainterPath()
        for channel in range(view.mosaic.channels):
            ox, oy = view.mosaic.channel_origin(channel)
            path.addRect(ox + left, oy + top, right - left + 1, bottom - top + 1)
        self.region_outline.setPath(path)
        self.region_outline.show()

    def _show_color_bar(self) -> None:
        view = self._view
        if view is None or view.mosaic is None or self.showing_classes:
            self.color_bar.hide()
            return
        self.color_bar.show_range(self.colormap, view.mosaic.lo, view.mosaic.hi)
        self.color_bar.show()

    def clear(self) -> None:
        self._view = None
        self.stack.setCurrentWidget(self.pane)
        self.color_bar.hide()
        self.hover_label.setText("")
        self.stats_label.setText("")
        self.pane.set_rgba(None)
        self.channel_frame.hide()
        self.region_outline.hide()

    def _on_option(self, _index: int = 0) -> None:
        view = self._view
        if view is not None and view.channels is not None:
            view.mosaic, view.rgba = render(view.channels, self.colormap, self.scale)
            self.pane.set_rgba(view.rgba)
        self._show_color_bar()
        self.options_changed.emit()

    def _on_clicked(self, x: float, y: float) -> None:
        view = self._view
        channel = view.mosaic.channel_at(x, y) if view is not None and view.mosaic is not None else None
        if channel is not None:
            self.channel_clicked.emit(channel)
            ox, oy = view.mosaic.channel_origin(channel)
            self.unit_clicked.emit(channel, x - ox, y - oy)

    def _on_context_clicked(self, x: float, y: float) -> None:
        view = self._view
        channel = view.mosaic.channel_at(x, y) if view is not None and view.mosaic is not None else None
        if channel is None or self.showing_classes:
            return
        self._menu_channel = channel
        self.knockout_action.setText(f"Switch off channel {channel}")
        self.channel_menu.popup(QCursor.pos())

    def _on_knockout_action(self) -> None:
        if self._menu_channel is not None:
            self.knockout_requested.emit(self._menu_channel)

    def _on_hovered(self, x: float, y: float) -> None:
        view = self._view
        channel = view.mosaic.channel_at(x, y) if view is not None and view.mosaic is not None and x >= 0 else None
        if channel is None or view.channels is None:
            self.hover_label.setText("")
            return
        ox, oy = view.mosaic.channel_origin(channel)
        value = view.channels[channel, int(y) - oy, int(x) - ox]
        self.hover_label.setText(f"channel {channel} at ({int(y) - oy}, {int(x) - ox}) = {value:.4g}")


def most_varied_channel(channels: np.ndarray) -> int:
    """The channel whose values spread most (the one worth enlarging first)."""
    flat = channels.reshape(channels.shape[0], -1)
    return int(np.nan_to_num(flat.std(axis=1), nan=-1.0).argmax())
