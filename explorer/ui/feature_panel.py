"""The feature-map panel: walk an image through the network one node at a time.

The panel keeps a *wanted* state (model, image, node, device, display options) and a worker
that brings the stepper to it. Every change bumps a version; the worker's generator checks
it after every node and returns early when the wish has moved on, and the panel starts a
fresh run from where the stepper stands. All model work (tracing, preprocessing, stepping,
copying to the CPU, building the mosaic) runs in that worker; the GUI thread only puts
finished arrays into image items.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QKeyEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QGraphicsRectItem,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import FunctionWorker, GeneratorWorker

from explorer.devices import available_devices, choose_device
from explorer.errors import UserError
from explorer.activations.colormaps import COLORMAPS
from explorer.activations.images import ImageError, LoadedImage, image_from_pil, load_image
from explorer.activations.mosaic import (
    KernelView,
    Mosaic,
    Stats,
    as_channels,
    colorize,
    conv_kernels,
    histogram,
    make_mosaic,
    tensor_stats,
)
from explorer.activations.predictions import Predictions, top_k
from explorer.activations.preprocess import InputSpec, preprocess, spec_for_model
from explorer.activations.samples import SAMPLES, FashionTestImages, load_sample
from explorer.activations.stepper import NodeRecord, Stepper
from explorer.ui.feature_views import HistogramPlot, ImagePane

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm);;All files (*)"
PLAY_INTERVAL_MS = 300
#: Progress label updates during long runs at most this often.
PROGRESS_INTERVAL_S = 0.1
MOSAIC_BACKGROUND = (128, 128, 128, 60)


@dataclasses.dataclass
class _Wish:
    """What the user wants shown; the worker converges the stepper to it."""

    version: int = 0
    model_gen: int = 0
    model: torch.nn.Module | None = None
    model_name: str = ""
    trained: bool = False
    image_gen: int = 0
    image: LoadedImage | None = None
    target: str | int | None = None
    device: str = "auto"
    colormap: str = COLORMAPS[0]
    scale: str = "shared"


@dataclasses.dataclass
class _View:
    """Everything the GUI shows for one node, computed in the worker."""

    record: NodeRecord
    total: int
    shape: tuple[int, ...] | None
    channels: np.ndarray | None  # (C, H, W) float32 on the CPU
    mosaic: Mosaic | None
    rgba: np.ndarray | None
    stats: Stats | None
    counts: np.ndarray
    edges: np.ndarray
    kernels: KernelView | None
    model_gen: int
    image_gen: int
    device: str
    colormap: str
    scale: str
    version: int


class FeatureMapPanel(QWidget):
    """Feature maps of the selected node, stepping controls, input, predictions.

    Signals:
        current_node_changed(str): the node now shown (fx node name = graph node id).
        message(str): a one-line notice or error for the status bar.
        view_updated(str): the display was refreshed for this node (tests wait on it).
        image_changed(str): a new image was accepted; its source label.
    """

    current_node_changed = Signal(str)
    message = Signal(str)
    view_updated = Signal(str)
    image_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, device: str | None = None,
                 data_root: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("feature-map-panel")
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        if device is None:
            from explorer.settings import Settings

            device = Settings().get("device") or "auto"
        self._wish = _Wish(device=device)
        self._stepper: Stepper | None = None
        self._built_gen = -1
        self._input_gen = -1
        self._worker: GeneratorWorker | None = None
        self._loaders: set[FunctionWorker] = set()
        self._load_id = 0
        self._last_dir = Path.home()
        self._view: _View | None = None
        self._channel: int | None = None
        self._shown_node: str | None = None
        self._last_progress = 0.0
        self._running_version = -1
        self._done_version = -1
        self._failed_version = -1
        # (model_gen, image_gen, predictions, input as the model sees it, notices): made
        # by the worker when the model or image changes, shown with every later view.
        self._input_facts: tuple | None = None
        self._shown_facts: tuple | None = None
        #: The top-5 shown now (None before the first pass).
        self.predictions: Predictions | None = None
        self._data_root = Path(data_root) if data_root is not None else None
        self._fashion: FashionTestImages | None = None
        self._play = QTimer(self)
        self._play.setInterval(PLAY_INTERVAL_MS)
        self._play.timeout.connect(self._on_play_tick)
        self._build_ui()
        self.refresh_data_folder()
        try:
            self._accept_image(load_sample())
        except ImageError as exc:  # an installation without resources still works
            self.message.emit(str(exc))

    # ================================================================== layout

    def _build_ui(self) -> None:
        # Narrow (a side tab of the main window, ~480 px and up): the mosaic on top, input,
        # top-5 and details below it. Wide: the mosaic left, the rest in a column on the
        # right (switched in resizeEvent).
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(4)

        source = QHBoxLayout()
        self.open_button = self._tool("Open…", "Open an image file (or drop one here)",
                                      self.open_image_dialog)
        self.paste_button = self._tool("Paste", "Paste an image from the clipboard", self.paste_image)
        source.addWidget(self.open_button)
        source.addWidget(self.paste_button)
        self.sample_combo = QComboBox()
        self.sample_combo.setToolTip("Built-in sample images (no data needed)")
        self.sample_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.sample_combo.setMinimumContentsLength(12)
        for sample in SAMPLES:
            self.sample_combo.addItem(sample.label, sample.name)
        self.sample_combo.activated.connect(self._on_sample_chosen)
        source.addWidget(self.sample_combo, 1)
        self.fashion_button = self._tool("Test set", "Show the chosen Fashion-MNIST test image",
                                         lambda: self._on_fashion_index(self.fashion_spin.value()))
        self.fashion_spin = QSpinBox()
        self.fashion_spin.setPrefix("#")
        self.fashion_spin.setKeyboardTracking(False)
        self.fashion_spin.setToolTip("A Fashion-MNIST test image from the data folder")
        self.fashion_spin.valueChanged.connect(self._on_fashion_index)
        source.addWidget(self.fashion_button)
        source.addWidget(self.fashion_spin)
        outer.addLayout(source)

        steps = QHBoxLayout()
        icon = self.style().standardIcon
        pixmap = QStyle.StandardPixmap
        self.first_button = self._tool("First", "First node (Home)", self.step_first,
                                       icon(pixmap.SP_MediaSkipBackward))
        self.back_button = self._tool("Back", "Step back (Left)", self.step_back,
                                      icon(pixmap.SP_MediaSeekBackward))
        self.play_button = self._tool("Play", "Play / pause (Space)", self.toggle_play,
                                      icon(pixmap.SP_MediaPlay))
        self.forward_button = self._tool("Step", "Step forward (Right)", self.step_forward,
                                         icon(pixmap.SP_MediaSeekForward))
        self.last_button = self._tool("End", "Run to the end (End)", self.step_last,
                                      icon(pixmap.SP_MediaSkipForward))
        for button in (self.first_button, self.back_button, self.play_button,
                       self.forward_button, self.last_button):
            steps.addWidget(button)
        self.node_slider = QSlider(Qt.Orientation.Horizontal)
        self.node_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.node_slider.setToolTip("Scrub through the nodes in execution order")
        self.node_slider.setRange(0, 0)
        self.node_slider.setMinimumWidth(60)
        self.node_slider.sliderReleased.connect(
            lambda: self._go_to(self.node_slider.value()))
        steps.addWidget(self.node_slider, 1)
        self.device_combo = QComboBox()
        for name in ("auto", *available_devices()):
            self.device_combo.addItem(name, name)
        index = self.device_combo.findData(self._wish.device)
        self.device_combo.setCurrentIndex(max(index, 0))
        self.device_combo.setToolTip("Where the forward pass runs (auto: CUDA, then MPS, then CPU)")
        self.device_combo.activated.connect(self._on_device_chosen)
        steps.addWidget(self.device_combo)
        outer.addLayout(steps)

        self.node_label = QLabel("Pick a model to step through it")
        self.node_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.node_label.setWordWrap(True)
        font = self.node_label.font()
        font.setBold(True)
        self.node_label.setFont(font)
        outer.addWidget(self.node_label)
        self.source_label = QLabel("")
        self.source_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        outer.addWidget(self.source_label)

        split = QSplitter(Qt.Orientation.Vertical)
        self._split = split
        split.setChildrenCollapsible(False)

        maps = QWidget()
        maps_layout = QVBoxLayout(maps)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        options = QHBoxLayout()
        self.colormap_combo = QComboBox()
        for name in COLORMAPS:
            self.colormap_combo.addItem(name, name)
        self.colormap_combo.setToolTip("Colour map (coolwarm centres zero: blue below, red above)")
        self.colormap_combo.activated.connect(self._on_display_option)
        options.addWidget(self.colormap_combo)
        self.scale_combo = QComboBox()
        self.scale_combo.addItem("shared scale", "shared")
        self.scale_combo.addItem("per-channel scale", "per_channel")
        self.scale_combo.setToolTip("One value range for all channels, or each stretched alone")
        self.scale_combo.activated.connect(self._on_display_option)
        options.addWidget(self.scale_combo)
        self.hover_label = QLabel("")
        self.hover_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        options.addWidget(self.hover_label, 1)
        maps_layout.addLayout(options)
        self.mosaic_pane = ImagePane(min_size=200)
        self.mosaic_pane.setToolTip("All channels of the node; click one to enlarge it")
        self.mosaic_pane.clicked.connect(self._on_mosaic_clicked)
        self.mosaic_pane.hovered.connect(self._on_mosaic_hovered)
        # Outline of the enlarged channel on the mosaic.
        self.channel_frame = QGraphicsRectItem()
        pen = QPen(QColor(230, 40, 40))
        pen.setCosmetic(True)
        pen.setWidth(2)
        self.channel_frame.setPen(pen)
        self.channel_frame.setZValue(10)
        self.channel_frame.hide()
        self.mosaic_pane.view.addItem(self.channel_frame)
        maps_layout.addWidget(self.mosaic_pane, 1)
        self.stats_label = QLabel("")
        self.stats_label.setWordWrap(True)
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        maps_layout.addWidget(self.stats_label)
        split.addWidget(maps)

        below = QWidget()
        below_layout = QHBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        self._below_layout = below_layout
        facts = QWidget()
        self._facts = facts
        facts_layout = QVBoxLayout(facts)
        facts_layout.setContentsMargins(0, 0, 0, 0)
        facts_layout.setSpacing(2)
        self.input_pane = ImagePane(title="As the model sees it", min_size=100)
        facts_layout.addWidget(self.input_pane, 1)
        self.top5_table = QTableWidget(5, 2)
        self.top5_table.setHorizontalHeaderLabels(["top-5 class", "p"])
        self.top5_table.verticalHeader().setVisible(False)
        self.top5_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.top5_table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents)
        self.top5_table.verticalHeader().setDefaultSectionSize(
            self.top5_table.fontMetrics().height() + 6)
        self.top5_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.top5_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.top5_table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.top5_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows_height = self.top5_table.verticalHeader().defaultSectionSize() * 5
        self.top5_table.setFixedHeight(
            rows_height + self.top5_table.horizontalHeader().sizeHint().height() + 4)
        facts_layout.addWidget(self.top5_table)
        self.prediction_note = QLabel("")
        self.prediction_note.setWordWrap(True)
        self.prediction_note.setStyleSheet("color: #b35900;")
        # Room for two lines always, so the note never squeezes the table above it.
        self.prediction_note.setMinimumHeight(self.prediction_note.fontMetrics().lineSpacing() * 2 + 2)
        self.prediction_note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        facts_layout.addWidget(self.prediction_note)
        below_layout.addWidget(facts, 2)

        self.detail_tabs = QTabWidget()
        self.detail_tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        channel_page = QWidget()
        channel_layout = QVBoxLayout(channel_page)
        channel_layout.setContentsMargins(2, 2, 2, 2)
        self.channel_pane = ImagePane(min_size=100)
        channel_layout.addWidget(self.channel_pane, 1)
        self.channel_label = QLabel("Click a channel in the mosaic to enlarge it")
        self.channel_label.setWordWrap(True)
        two_lines = self.channel_label.fontMetrics().lineSpacing() * 2 + 2
        self.channel_label.setMinimumHeight(two_lines)
        channel_layout.addWidget(self.channel_label)
        self.detail_tabs.addTab(channel_page, "Channel")
        self.histogram_plot = HistogramPlot()
        self.detail_tabs.addTab(self.histogram_plot, "Histogram")
        kernel_page = QWidget()
        kernel_layout = QVBoxLayout(kernel_page)
        kernel_layout.setContentsMargins(2, 2, 2, 2)
        self.kernel_pane = ImagePane(min_size=100)
        kernel_layout.addWidget(self.kernel_pane, 1)
        self.kernel_label = QLabel("Learned kernels appear here for convolution layers")
        self.kernel_label.setWordWrap(True)
        self.kernel_label.setMinimumHeight(two_lines)
        kernel_layout.addWidget(self.kernel_label)
        self.detail_tabs.addTab(kernel_page, "Kernels")
        below_layout.addWidget(self.detail_tabs, 3)
        split.addWidget(below)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        outer.addWidget(split, 1)
        self._wide: bool | None = None
        self._apply_shape(wide=False)

        self._set_stepping_enabled(False)

    def _apply_shape(self, wide: bool) -> None:
        if wide == self._wide:
            return
        self._wide = wide
        self._split.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        self._below_layout.setDirection(
            QBoxLayout.Direction.TopToBottom if wide else QBoxLayout.Direction.LeftToRight)
        self._facts.setMaximumWidth(16_777_215 if wide else 240)
        self.input_pane.setMinimumSize(100, 140 if wide else 100)
        total = self._split.width() if wide else self._split.height()
        self._split.setSizes([int(total * 0.6), int(total * 0.4)])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        size = event.size()
        self._apply_shape(wide=size.width() >= 900 and size.width() > 1.25 * size.height())
        super().resizeEvent(event)

    def _tool(self, text: str, tip: str, slot, icon: QIcon | None = None) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        if icon is not None:
            button.setIcon(icon)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        button.setToolTip(tip)
        # Buttons never take focus: arrow keys and Space belong to the panel's stepping.
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        button.clicked.connect(lambda _=False: slot())
        return button

    def _set_stepping_enabled(self, enabled: bool) -> None:
        for button in (self.first_button, self.back_button, self.play_button,
                       self.forward_button, self.last_button):
            button.setEnabled(enabled)
        self.node_slider.setEnabled(enabled)

    # ============================================================ public API

    @property
    def busy(self) -> bool:
        """True while a worker is loading an image or stepping."""
        return self._worker is not None or bool(self._loaders)

    @property
    def stepper(self) -> Stepper | None:
        """The stepper of the current model (read it only while not ``busy``)."""
        return self._stepper

    @property
    def current_node(self) -> str | None:
        return self._shown_node

    @property
    def current_image(self) -> LoadedImage | None:
        return self._wish.image

    @property
    def view_state(self) -> _View | None:
        """What is displayed now (node, stats, mosaic, predictions)."""
        return self._view

    @property
    def playing(self) -> bool:
        return self._play.isActive()

    def set_model(self, name: str, model: torch.nn.Module, trained: bool) -> None:
        """Step ``model`` from now on; it is moved to the device and put in eval mode.

        The panel keeps showing the same node when the new model has it (new weights for
        the same architecture), else its first layer.
        """
        wish = self._wish
        if name != wish.model_name:
            wish.target = None  # another architecture: start at its first layer
        elif self._shown_node is not None:
            wish.target = self._shown_node  # new weights, same graph: stay on this node
        wish.model_gen += 1
        wish.model = model
        wish.model_name = name
        wish.trained = trained
        self._changed()

    def load_image_path(self, path: str | Path) -> None:
        """Decode ``path`` off the GUI thread; on failure the previous image stays."""
        self._load_async(lambda: load_image(path))

    def set_image(self, pil_image, source_label: str) -> None:
        """Show an already decoded image (e.g. generated by code)."""
        try:
            loaded = image_from_pil(pil_image, source_label)
        except ImageError as exc:
            self.message.emit(str(exc))
            return
        self._accept_image(loaded)

    def handle_drop(self, urls: list[QUrl]) -> None:
        """Open the first dropped local file; refuse folders and remote URLs."""
        urls = [QUrl(u) for u in urls]
        if not urls:
            self.message.emit("nothing to open in what was dropped")
            return
        first = urls[0]
        if not first.isLocalFile():
            self.message.emit(
                f"only local image files can be opened, not {first.toDisplayString()}")
            return
        path = Path(first.toLocalFile())
        if path.is_dir():
            self.message.emit(f"{path.name or path} is a folder: drop an image file instead")
            return
        extra = (f"{len(urls)} files dropped: showing the first, {path.name}"
                 if len(urls) > 1 else None)
        self._load_async(lambda: load_image(path), extra_notice=extra)

    def open_image_dialog(self) -> None:
        """Ask for an image file and open it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open image", str(self._last_dir), IMAGE_FILTER)
        if path:
            self._last_dir = Path(path).parent
            self.load_image_path(path)

    def paste_image(self) -> None:
        """Use the clipboard's image (or image file) as input."""
        data = QGuiApplication.clipboard().mimeData()
        if data is None:
            self.message.emit("the clipboard is empty")
            return
        if data.hasImage():
            image = QImage(data.imageData())
            if image.isNull():
                self.message.emit("the clipboard image cannot be read")
                return
            encoded = _png_bytes(image)
            self._load_async(lambda: load_image(encoded, label="clipboard image"))
            return
        if data.hasUrls():
            self.handle_drop(list(data.urls()))
            return
        text = data.text().strip() if data.hasText() else ""
        if text and (text.startswith("file:") or Path(text).expanduser().is_file()):
            self.handle_drop([QUrl(text) if text.startswith("file:") else QUrl.fromLocalFile(text)])
            return
        self.message.emit("the clipboard holds no image")

    def load_sample(self, name: str | None = None) -> None:
        """Show a built-in sample image."""
        try:
            self._accept_image(load_sample(name))
        except ImageError as exc:
            self.message.emit(str(exc))
            return
        index = self.sample_combo.findData(name) if name else 0
        if index >= 0:
            self.sample_combo.setCurrentIndex(index)

    def load_fashion_test_image(self, index: int) -> None:
        """Show Fashion-MNIST test image ``index`` from the data folder."""
        try:
            fashion = self._fashion_images()
            self._accept_image(fashion.load(index))
        except UserError as exc:
            self.message.emit(str(exc))

    def show_node(self, node_id: str) -> None:
        """Run (or replay) the pass to ``node_id`` (fx node name or module path) and show it."""
        stepper = self._stepper
        if stepper is not None and self._built_gen == self._wish.model_gen:
            try:
                stepper.index_of(node_id)
            except UserError as exc:
                self.message.emit(str(exc))
                return
        self._wish.target = node_id
        self._changed()

    def set_device(self, device: str) -> None:
        """Run on ``device`` ("auto", "cpu", "cuda", "mps"); replays to the current node."""
        try:
            choose_device(device)
        except UserError as exc:
            self.message.emit(str(exc))
            index = self.device_combo.findData(self._wish.device)
            if index >= 0:
                self.device_combo.setCurrentIndex(index)
            return
        self._wish.device = device
        index = self.device_combo.findData(device)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)
        self._changed()

    def step_forward(self) -> None:
        self._go_to(self._target_index() + 1)

    def step_back(self) -> None:
        self._go_to(self._target_index() - 1)

    def step_first(self) -> None:
        self._go_to(0)

    def step_last(self) -> None:
        self._go_to(-1)

    def toggle_play(self) -> None:
        """Play: step forward on a timer until the end; again to pause."""
        if self._play.isActive():
            self._play.stop()
        elif self._stepper is not None:
            if self._target_index() >= len(self._stepper) - 1:
                self._go_to(0)
            self._play.start()
        self._update_play_button()

    def _update_play_button(self) -> None:
        playing = self._play.isActive()
        pixmap = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(pixmap))
        self.play_button.setText("Pause" if playing else "Play")

    def select_channel(self, channel: int | None) -> None:
        """Enlarge ``channel`` of the current node (None clears)."""
        self._channel = channel
        self._show_channel()
        if channel is not None:
            self.detail_tabs.setCurrentIndex(0)

    # ========================================================= input handling

    def _load_async(self, load, extra_notice: str | None = None) -> None:
        # Each load gets a number; only the newest one's result is shown, so a second drop
        # while the first is still decoding wins, as the user expects.
        self._load_id += 1
        load_id = self._load_id
        worker = FunctionWorker(load)
        self._loaders.add(worker)

        def done(loaded: LoadedImage) -> None:
            if load_id != self._load_id:
                return
            if extra_notice:
                loaded.notices.insert(0, extra_notice)
            self._accept_image(loaded)

        def failed(exc: Exception) -> None:
            if load_id != self._load_id:
                return
            text = str(exc) if isinstance(exc, UserError) else (
                f"cannot open the image: {type(exc).__name__}: {exc}")
            self.message.emit(text)

        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.finished.connect(lambda: self._loaders.discard(worker))
        worker.start()

    def _accept_image(self, loaded: LoadedImage) -> None:
        wish = self._wish
        wish.image = loaded
        wish.image_gen += 1
        w, h = loaded.original_size
        self.source_label.setText(f"Image: {loaded.source} ({w}x{h})")
        self.source_label.setToolTip(loaded.source)
        if loaded.notices:
            self.message.emit(f"{loaded.source}: " + "; ".join(loaded.notices))
        self.image_changed.emit(loaded.source)
        self._changed()

    def _fashion_images(self) -> FashionTestImages:
        if self._fashion is None:
            from explorer.settings import data_dir

            root = self._data_root or data_dir()
            self._fashion = FashionTestImages(root)
        return self._fashion

    def refresh_data_folder(self, root: str | Path | None = None) -> None:
        """Look for Fashion-MNIST test images again (after the data folder changed)."""
        from explorer.settings import data_dir

        if root is not None:
            self._data_root = Path(root)
        self._fashion = None
        root = self._data_root or data_dir()
        available = FashionTestImages.available(root)
        self.fashion_spin.setEnabled(available)
        self.fashion_button.setEnabled(available)
        # A nominal range until the file is read; it holds 10,000 in the full set.
        self.fashion_spin.setRange(0, 9999)
        if not available:
            self.fashion_spin.setToolTip(f"No Fashion-MNIST data in {root}")

    def _on_fashion_index(self, index: int) -> None:
        try:
            fashion = self._fashion_images()
        except UserError as exc:
            self.message.emit(str(exc))
            return
        if self.fashion_spin.maximum() != len(fashion) - 1:
            self.fashion_spin.setMaximum(len(fashion) - 1)
        self.load_fashion_test_image(min(index, len(fashion) - 1))

    def _on_sample_chosen(self, index: int) -> None:
        self.load_sample(self.sample_combo.itemData(index))

    def _on_device_chosen(self, index: int) -> None:
        self.set_device(self.device_combo.itemData(index))

    # ================================================================ Qt events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        data = event.mimeData()
        if data.hasUrls():
            self.handle_drop(list(data.urls()))
        elif data.hasImage():
            image = QImage(data.imageData())
            encoded = _png_bytes(image)
            self._load_async(lambda: load_image(encoded, label="dropped image"))
        event.acceptProposedAction()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        actions = {
            Qt.Key.Key_Right: self.step_forward,
            Qt.Key.Key_Left: self.step_back,
            Qt.Key.Key_Home: self.step_first,
            Qt.Key.Key_End: self.step_last,
            Qt.Key.Key_Space: self.toggle_play,
        }
        try:
            action = actions.get(Qt.Key(event.key()))
        except ValueError:  # a key code Qt.Key does not name (dead keys, input methods)
            action = None
        if action is None or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            super().keyPressEvent(event)
            return
        action()
        event.accept()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().mousePressEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._play.stop()
        if self._worker is not None:
            self._worker.quit()
        super().closeEvent(event)

    # ============================================================= stepping

    def _target_index(self) -> int:
        stepper = self._stepper
        target = self._wish.target
        if stepper is None:
            return 0
        if target is None:
            return max(stepper.position, 0)
        try:
            return stepper.index_of(target)
        except UserError:
            return max(stepper.position, 0)

    def _go_to(self, index: int) -> None:
        stepper = self._stepper
        if stepper is None:
            return
        count = len(stepper)
        index = count - 1 if index == -1 else max(0, min(index, count - 1))
        self._wish.target = index
        self._changed()

    def _on_play_tick(self) -> None:
        if self._worker is not None:
            return  # the previous step is still being shown
        stepper = self._stepper
        if stepper is None or self._target_index() >= len(stepper) - 1:
            self._play.stop()
            self._update_play_button()
            return
        self.step_forward()

    def _changed(self) -> None:
        self._wish.version += 1
        self._start_worker()

    def _start_worker(self) -> None:
        wish = self._wish
        if self._worker is not None or wish.model is None or wish.image is None:
            return
        plan = dataclasses.replace(wish)
        self._running_version = plan.version
        worker = GeneratorWorker(self._run_plan, plan)
        self._worker = worker
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_view_ready)
        worker.errored.connect(self._on_worker_error)
        worker.finished.connect(self._on_worker_finished)
        worker.start()

    def _on_worker_finished(self) -> None:
        self._worker = None
        version = self._wish.version
        if version not in (self._done_version, self._failed_version):
            self._start_worker()

    def _on_worker_error(self, exc: Exception) -> None:
        # Remember the failed wish so it is not retried until the user changes something.
        self._failed_version = self._running_version
        self._play.stop()
        self._update_play_button()
        text = str(exc) if isinstance(exc, UserError) else (
            f"stepping failed: {type(exc).__name__}: {exc}")
        self.message.emit(text.splitlines()[0] if text else type(exc).__name__)

    def _on_progress(self, progress: tuple[int, int]) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        index, total = progress
        self.node_label.setText(f"running… node {index + 1} of {total}")

    def _run_plan(self, plan: _Wish):
        """Worker generator: bring the stepper to ``plan`` and return a ``_View``, or None
        when the wish moved on in a way that makes the rest of this run useless."""
        stepper = self._stepper
        if stepper is None or self._built_gen != plan.model_gen:
            self._stepper = None  # drop the old model's values before building the new one
            stepper = Stepper(plan.model, plan.device)
            self._stepper = stepper
            self._built_gen = plan.model_gen
            self._input_gen = -1
            yield (0, len(stepper))
        else:
            stepper.set_device(plan.device)
        if self._input_gen != plan.image_gen:
            prepared = preprocess(plan.image.image, _spec_for(plan))
            stepper.set_input(prepared.tensor)
            with torch.no_grad():
                logits = stepper.model(prepared.tensor.to(stepper.device))
            self._input_facts = (plan.model_gen, plan.image_gen, top_k(logits, trained=plan.trained),
                                 np.asarray(prepared.display), tuple(prepared.notices))
            self._input_gen = plan.image_gen
            yield (stepper.position, len(stepper))
        target = plan.target if plan.target is not None else min(1, len(stepper) - 1)
        try:
            target_index = stepper.index_of(target)
        except UserError:
            target_index = max(stepper.position, 0)
        total = len(stepper)
        for index in stepper.steps_to(target_index):
            if self._superseded(plan, stepper):
                return None
            yield (index, total)
        return self._make_view(stepper, plan)

    def _superseded(self, plan: _Wish, stepper: Stepper) -> bool:
        # Read from the worker thread: plain attribute reads of the GUI's latest wish.
        wish = self._wish
        if wish.version == plan.version:
            return False
        if (wish.model_gen, wish.image_gen, wish.device) != (
                plan.model_gen, plan.image_gen, plan.device):
            return True
        try:
            wanted = stepper.index_of(wish.target) if wish.target is not None else 0
        except UserError:
            return False
        # A target further ahead lets this run continue; one behind it needs a replay.
        return wanted < stepper.position

    def _make_view(self, stepper: Stepper, plan: _Wish) -> _View:
        record = stepper.current
        tensor = stepper.activation()
        channels = as_channels(tensor) if tensor is not None else None
        mosaic = rgba = None
        stats = None
        if channels is not None:
            mosaic, rgba = _render(channels, plan.colormap, plan.scale)
            stats = tensor_stats(tensor)
        counts, edges = histogram(channels)
        kernels = None
        if record.op == "call_module":
            kernels = conv_kernels(stepper.model.get_submodule(record.target))
        return _View(
            record=record, total=len(stepper), shape=stepper.shapes.get(record.index),
            channels=channels, mosaic=mosaic, rgba=rgba, stats=stats, counts=counts,
            edges=edges, kernels=kernels, model_gen=plan.model_gen, image_gen=plan.image_gen,
            device=str(stepper.device), colormap=plan.colormap, scale=plan.scale,
            version=plan.version,
        )

    # ============================================================== display

    def _on_view_ready(self, view: _View | None) -> None:
        if view is None:
            return
        self._done_version = view.version
        facts = self._input_facts
        if facts is not None and facts[:2] != self._shown_facts:
            self._shown_facts = facts[:2]
            self._show_predictions(facts[2])
            self.input_pane.set_rgba(facts[3])
            if facts[4]:
                self.message.emit("; ".join(facts[4]))
        self._view = view
        if (view.colormap, view.scale) != (self._wish.colormap, self._wish.scale):
            view.mosaic, view.rgba = _render(view.channels, self._wish.colormap, self._wish.scale) \
                if view.channels is not None else (None, None)
        self._set_stepping_enabled(True)
        record = view.record
        shape = "×".join(str(d) for d in view.shape) if view.shape else "no tensor"
        where = record.module_path or record.target
        inside = (f"  ·  in {record.module_path}"
                  if record.module_path and record.module_path.replace(".", "_") != record.name
                  else "")
        self.node_label.setText(
            f"{record.index + 1}/{view.total}   {record.name}  ·  {record.kind}{inside}  ·  {shape}")
        self.node_label.setToolTip(f"graph node id: {record.name}\nmodule: {where}\nop: {record.op}")
        self.node_slider.blockSignals(True)
        self.node_slider.setRange(0, view.total - 1)
        self.node_slider.setValue(record.index)
        self.node_slider.blockSignals(False)
        self._show_mosaic()
        self._show_stats()
        if self._channel is not None and (view.mosaic is None or self._channel >= view.mosaic.channels):
            self._channel = None
        self._show_channel()
        if view.kernels is not None:
            self.kernel_pane.set_rgba(view.kernels.rgba)
            self.kernel_label.setText(f"Learned kernels: {view.kernels.note}")
        else:
            self.kernel_pane.set_rgba(None)
            self.kernel_label.setText("No learned kernels at this node (not a convolution)")
        if record.name != self._shown_node:
            self._shown_node = record.name
            self.current_node_changed.emit(record.name)
        self.view_updated.emit(record.name)

    def _show_mosaic(self) -> None:
        view = self._view
        if view is None or view.rgba is None:
            self.mosaic_pane.set_rgba(None)
            return
        self.mosaic_pane.set_rgba(view.rgba)

    def _show_stats(self) -> None:
        view = self._view
        if view is None or view.stats is None:
            self.stats_label.setText("This node does not output a tensor.")
            self.histogram_plot.set_histogram(np.zeros(1), np.array([0.0, 1.0]))
            return
        s = view.stats
        channels = view.mosaic.channels if view.mosaic else 0
        self.stats_label.setText(
            f"{channels} channel{'s' if channels != 1 else ''}  ·  min {s.min:.4g}  ·  "
            f"max {s.max:.4g}  ·  mean {s.mean:.4g}  ·  std {s.std:.4g}  ·  "
            f"zeros {s.zero_share * 100:.1f}%  ·  negative {s.negative_share * 100:.1f}%")
        self.histogram_plot.set_histogram(view.counts, view.edges)

    def _show_predictions(self, predictions: Predictions | None) -> None:
        self.predictions = predictions
        self.top5_table.clearContents()
        if predictions is None:
            self.prediction_note.setText("")
            return
        for row, p in enumerate(predictions.top[:5]):
            self.top5_table.setItem(row, 0, QTableWidgetItem(p.name))
            item = QTableWidgetItem(f"{p.probability * 100:.1f}%")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.top5_table.setItem(row, 1, item)
        self.prediction_note.setText(predictions.note or "")

    def _show_channel(self) -> None:
        view = self._view
        if view is None or view.channels is None or view.mosaic is None:
            self.channel_frame.hide()
            self.channel_pane.set_rgba(None)
            self.channel_label.setText("Click a channel in the mosaic to enlarge it")
            return
        # Until the user clicks one, enlarge the channel that varies most: an empty pane
        # teaches nothing, and the liveliest map is the one worth a closer look.
        channel = self._channel
        prefix = "channel"
        if channel is None:
            flat = view.channels.reshape(view.channels.shape[0], -1)
            channel = int(np.nan_to_num(flat.std(axis=1), nan=-1.0).argmax())
            prefix = "most varied channel"
        values = view.channels[channel]
        ox, oy = view.mosaic.channel_origin(channel)
        self.channel_frame.setRect(ox - 0.5, oy - 0.5, view.mosaic.cell_w + 1, view.mosaic.cell_h + 1)
        self.channel_frame.show()
        colormap = self._wish.colormap
        single = make_mosaic(values[None], scale="per_channel", pad=0,
                             symmetric=colormap == "coolwarm")
        self.channel_pane.set_rgba(colorize(single.values, colormap))
        finite = values[np.isfinite(values)]
        if finite.size:
            self.channel_label.setText(
                f"{prefix} {channel}: {values.shape[1]}×{values.shape[0]} · min {finite.min():.3g}"
                f" · max {finite.max():.3g} · mean {finite.mean():.3g} · "
                f"zeros {np.count_nonzero(finite == 0) / finite.size * 100:.0f}%"
                + ("  (click the mosaic for another)" if self._channel is None else ""))

    def _on_display_option(self, _index: int = 0) -> None:
        self._wish.colormap = self.colormap_combo.currentData()
        self._wish.scale = self.scale_combo.currentData()
        view = self._view
        if view is not None and view.channels is not None:
            view.mosaic, view.rgba = _render(view.channels, self._wish.colormap, self._wish.scale)
            self._show_mosaic()
            self._show_channel()

    def _on_mosaic_clicked(self, x: float, y: float) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        view = self._view
        if view is None or view.mosaic is None:
            return
        channel = view.mosaic.channel_at(x, y)
        if channel is not None:
            self.select_channel(channel)

    def _on_mosaic_hovered(self, x: float, y: float) -> None:
        view = self._view
        if view is None or view.mosaic is None or view.channels is None or x < 0:
            self.hover_label.setText("")
            return
        channel = view.mosaic.channel_at(x, y)
        if channel is None:
            self.hover_label.setText("")
            return
        ox, oy = view.mosaic.channel_origin(channel)
        value = view.channels[channel, int(y) - oy, int(x) - ox]
        self.hover_label.setText(f"channel {channel} ({int(x) - ox}, {int(y) - oy}) = {value:.4g}")


def _render(channels: np.ndarray, colormap: str, scale: str) -> tuple[Mosaic, np.ndarray]:
    mosaic = make_mosaic(channels, scale=scale, symmetric=colormap == "coolwarm")
    return mosaic, colorize(mosaic.values, colormap, MOSAIC_BACKGROUND)


def _spec_for(plan: _Wish) -> InputSpec:
    return spec_for_model(plan.model, plan.model_name)


def _png_bytes(image: QImage) -> bytes:
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(array.data())

