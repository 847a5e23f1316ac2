"""The feature-map panel: walk the session's image through the session's model, one node
at a time.

A view of the :class:`~explorer.session.Session`: it connects to the session's events in
``__init__`` and renders in ``_on_<event>``; it changes shared state only through the
session's setters (``set_node`` when it has stepped to a node, ``set_image`` through the
image row, ``set_weights`` through the weights selector). Another model empties every
view at once (maps, top-5, channel, pixel read-out) and shows a loading state until the
new module is there, so the maps can never belong to another model than the graph.

The model work runs in :class:`explorer.activations.pipeline.Pipeline`, driven by a
:class:`~explorer.ui.maps.runner.PipelineRunner`; the image row, the weights selector,
the stepping row, the mosaic and the detail tabs are widgets of their own modules.

Over 400 lines because what remains is one state machine, the wish the runner
converges to, edited from three sides (session events, stepping keys and buttons, play
timer) and rendered back; split further, each half would reach into the other's state.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from explorer.activations.pipeline import View
from explorer.activations.stepper import Stepper
from explorer.devices import choose_device
from explorer.errors import UserError
from explorer.explain.top_grid import top_grid
from explorer.loading import display_name
from explorer.session import Session
from explorer.ui.explain.field_tracer import FieldTracer
from explorer.ui.explain.knockouts import KnockoutView
from explorer.ui.explain.top_images import UNTRAINED, TopImagesView
from explorer.ui.explain.unit_looks_for import LooksForView
from explorer.ui.explain.unit_view import UnitView
from explorer.ui.explain.view import ExplainView
from explorer.ui.knockout_badge import KnockoutBadge
from explorer.ui.maps.details import DetailPages, NodeDetailTabs, PredictionBox
from explorer.ui.maps.image_source import ImageSource, offers_image
from explorer.ui.maps.mosaic import MosaicView, most_varied_channel
from explorer.ui.maps.runner import PipelineRunner
from explorer.ui.maps.step_controls import StepControls
from explorer.ui.open_model import is_model_file
from explorer.ui.subscriptions import Subscriptions
from explorer.ui.weights_selector import RandomWeightsNotice, WeightsSelector

PLAY_INTERVAL_MS = 300


class _ViewportHeightLayout(QVBoxLayout):
    """The panel's column, reporting no height-for-width: its wrapped labels otherwise make
    the scroll area around the panel give it its whole preferred height (1,413 px), which
    put the top-5 below the fold at 1440x900. So the mosaic and the top-5 share the height
    in view, and the panel scrolls only below its minimum."""

    def hasHeightForWidth(self) -> bool:
        return False


class FeatureMapPanel(QWidget):
    """Feature maps of the current node, stepping controls, input, weights, predictions.

    Signals:
        view_updated(str): the display was refreshed for this node (tests and --screenshot
            wait on it).
    """

    view_updated = Signal(str)

    def __init__(self, session: Session | None = None, parent: QWidget | None = None,
                 device: str | None = None, data_root: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("feature-map-panel")
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        if session is None:
            from explorer.settings import Settings

            session = Session(device=device or Settings().get("device") or "auto")
        elif device is not None:
            session.set_device(device)
        self.session = session
        self._runner = PipelineRunner(session, self)
        self._runner.view_ready.connect(self._on_view_ready)
        self._runner.progress.connect(self._on_progress)
        self._runner.failed.connect(self._on_run_failed)
        self._view: View | None = None
        self._channel: int | None = None
        self._shown_node: str | None = None
        self._shown_facts = None  # the InputFacts shown in the top-5
        self._enlarged: int | None = None  # the channel shown enlarged
        self._play = QTimer(self)
        self._play.setInterval(PLAY_INTERVAL_MS)
        self._play.timeout.connect(self._on_play_tick)
        self._build_ui(data_root)
        self._subscriptions = Subscriptions(self)
        session = self.session
        for event, slot in ((session.model_changed, self._on_model_changed),
                            (session.image_changed, self._on_image_changed),
                            (session.node_changed, self._on_node_changed),
                            (session.device_changed, self._on_device_changed),
                            (session.knockouts_changed, self._on_knockouts_changed)):
            self._subscriptions.connect(event, slot)
        if session.model_name is not None:
            self._on_model_changed(session, "model")
            if session.loaded is not None:
                self._on_model_changed(session, "loaded")
        if session.image is not None:
            self._on_image_changed(session)

    # ================================================================== layout

    def _build_ui(self, data_root: str | Path | None) -> None:
        # Narrow (~480 px and up): the mosaic on top, input, top-5 and details below it.
        # Wide: the mosaic left, the rest in a column on the right (switched in resizeEvent).
        outer = _ViewportHeightLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(4)

        header = QHBoxLayout()
        self.model_label = QLabel("No model")
        font = self.model_label.font()
        font.setBold(True)
        self.model_label.setFont(font)
        header.addWidget(self.model_label)
        header.addSpacing(12)
        self.weights_selector = WeightsSelector(self.session)
        header.addWidget(self.weights_selector, 1)
        self.knockout_badge = KnockoutBadge(self.session)
        header.addWidget(self.knockout_badge)
        outer.addLayout(header)
        self.notice = RandomWeightsNotice(self.session)
        outer.addWidget(self.notice)
        # Weights that could not be used: the reason whole, here, not cut off in the status bar.
        self.load_notice = QLabel()
        self.load_notice.setObjectName("load-notice")
        self.load_notice.setWordWrap(True)
        self.load_notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.load_notice.setStyleSheet("QLabel#load-notice { color: #b3261e; }")
        self.load_notice.hide()
        outer.addWidget(self.load_notice)
        self.image_source = ImageSource(self.session, data_root)
        outer.addWidget(self.image_source)

        self.steps = StepControls(self.session.device)
        for signal, slot in ((self.steps.first, self.step_first), (self.steps.back, self.step_back),
                             (self.steps.play, self.toggle_play), (self.steps.forward, self.step_forward),
                             (self.steps.last, self.step_last), (self.steps.scrubbed, self._go_to),
                             (self.steps.device_chosen, self.set_device)):
            signal.connect(slot)
        outer.addWidget(self.steps)

        self.node_label = QLabel("Pick a model to step through it")
        self.node_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.node_label.setWordWrap(True)
        self.node_label.setFont(font)
        outer.addWidget(self.node_label)
        self.source_label = QLabel("")
        self.source_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        outer.addWidget(self.source_label)

        split = QSplitter(Qt.Orientation.Vertical)
        self._split = split
        split.setChildrenCollapsible(False)
        self.maps = MosaicView()
        self.maps.channel_clicked.connect(self._on_channel_clicked)
        self.maps.options_changed.connect(self._on_display_option)
        split.addWidget(self.maps)

        below = QWidget()
        self._below_layout = QHBoxLayout(below)
        self._below_layout.setContentsMargins(0, 0, 0, 0)
        self.predictions_box = PredictionBox()
        self._below_layout.addWidget(self.predictions_box, 2)
        self.detail_tabs = NodeDetailTabs()
        self.detail_pages = DetailPages(self.detail_tabs)
        self._below_layout.addWidget(self.detail_pages, 3)
        split.addWidget(below)
        self.field = FieldTracer(self.session, self.predictions_box.input_pane, self.detail_tabs.channel_pane)
        self.detail_tabs.widget(0).layout().addWidget(self.field)
        self.detail_tabs.channel_pane.clicked.connect(self._on_channel_pixel)
        self.maps.unit_clicked.connect(self._on_mosaic_unit)
        self.maps.class_chart.class_clicked.connect(lambda index: self.unit_view.explain(index, None))
        self.explain_view = ExplainView(self.session)
        self.detail_tabs.addTab(self.explain_view, "Explain")
        self.knockout_view = KnockoutView(self.session, data_root)
        self.detail_tabs.addTab(self.knockout_view, "Knockout")
        self.maps.knockout_requested.connect(self._on_knockout_requested)
        self.top_view = TopImagesView(self.session, data_root)
        self.detail_tabs.addTab(self.top_view, "Top images")
        # The stepper is read on the GUI thread only while the runner is idle.
        self.unit_view = UnitView(self.session, lambda: None if self._runner.busy else self.stepper)
        self.detail_tabs.addTab(self.unit_view, "Unit")
        self.looks_for = LooksForView(self.session, self._top_images_reason, self.top_view.start_scan,
                                      self._top_grid)
        self.top_view.scan_ready.connect(self.looks_for.show_top_images)
        self.top_view.scan_failed.connect(self.looks_for.top_images_failed)
        self.unit_view.add_section(self.looks_for)
        self.unit_view.unit_shown.connect(self._on_unit_shown)
        self.field.traced.connect(self.looks_for.show_field)
        self.field.clear_button.clicked.connect(self._outline_region)  # after the tracer forgot it
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        outer.addWidget(split, 1)
        self._wide: bool | None = None
        self._apply_shape(wide=False)

    def _apply_shape(self, wide: bool) -> None:
        if wide == self._wide:
            return
        self._wide = wide
        self._split.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        self._below_layout.setDirection(
            QBoxLayout.Direction.TopToBottom if wide else QBoxLayout.Direction.LeftToRight)
        self.predictions_box.setMaximumWidth(16_777_215 if wide else 240)
        self.predictions_box.input_pane.setMinimumSize(100, 140 if wide else 70)
        total = self._split.width() if wide else self._split.height()
        self._split.setSizes([int(total * 0.6), int(total * 0.4)])

    def resizeEvent(self, event) -> None:
        size = event.size()
        self._apply_shape(wide=size.width() >= 900 and size.width() > 1.25 * size.height())
        super().resizeEvent(event)

    # ============================================================ public API

    @property
    def busy(self) -> bool:
        """True while a worker is loading an image or stepping."""
        return self._runner.busy or self.image_source.busy

    @property
    def settled(self) -> bool:
        """Not busy, and the display shows the latest wish (tests wait on this)."""
        return not self.busy and self._runner.shows_latest(self._view)

    @property
    def stepper(self) -> Stepper | None:
        """The stepper of the module the session holds (read it only while not ``busy``)."""
        return self._runner.stepper

    @property
    def current_node(self) -> str | None:
        return self._shown_node

    @property
    def current_image(self):
        return self.session.image

    @property
    def view_state(self) -> View | None:
        """What is displayed now (model, node, stats, mosaic, predictions)."""
        return self._view

    @property
    def predictions(self):
        view = self._view
        return view.facts.predictions if view is not None and view.facts is not None else None

    @property
    def playing(self) -> bool:
        return self._play.isActive()

    def load_sample(self, name: str | None = None) -> None:
        self.image_source.load_sample(name)

    def handle_drop(self, urls: list[QUrl]) -> None:
        self.image_source.handle_drop(urls)

    def open_image_dialog(self) -> None:
        self.image_source.open_image_dialog()

    def paste_image(self) -> None:
        self.image_source.paste_image()

    def refresh_data_folder(self, root: str | Path | None = None) -> None:
        self.image_source.refresh_data_folder(root)

    def show_node(self, node_id: str) -> None:
        """Run (or replay) the pass to ``node_id`` (fx node name or module path) and show it."""
        stepper = self.stepper
        if stepper is not None:
            try:
                stepper.index_of(node_id)
            except UserError as exc:
                self.session.notify(str(exc))
                return
        self._runner.target = node_id
        self._runner.changed()

    def set_device(self, device: str) -> None:
        """Run on ``device`` ("auto", "cpu", "cuda", "mps"); replays to the current node."""
        try:
            choose_device(device)
        except UserError as exc:
            self.session.notify(str(exc))
            self._on_device_changed(self.session)  # the combo shows the device kept
            return
        self.session.set_device(device)

    def step_forward(self) -> None:
        self._go_to(self._target_index() + 1)

    def step_back(self) -> None:
        # Clamped here: _go_to reads -1 as "the last node", which wrapped Left at the first.
        self._go_to(max(self._target_index() - 1, 0))

    def step_first(self) -> None:
        self._go_to(0)

    def step_last(self) -> None:
        self._go_to(-1)

    def toggle_play(self) -> None:
        """Play: step forward on a timer until the end; again to pause."""
        if self._play.isActive():
            self._play.stop()
        elif self.stepper is not None:
            if self._target_index() >= len(self.stepper) - 1:
                self._go_to(0)
            self._play.start()
        self._update_play_button()

    def select_channel(self, channel: int | None) -> None:
        """Enlarge ``channel`` of the current node (None: the most varied one)."""
        self._channel = channel
        self._show_channel()
        if channel is not None and self.detail_tabs.currentWidget() is not self.unit_view:
            self.detail_tabs.setCurrentIndex(0)  # the Unit page stays: it shows the unit clicked

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Stop playing, stop the worker and wait for it and the image decodes; a wait that
        runs out is reported as a Qt warning and returns False."""
        self._play.stop()
        self._subscriptions.clear()
        runner_stopped = self._runner.stop(timeout_ms)
        helpers_stopped = (self.field.stop(timeout_ms) & self.explain_view.stop(timeout_ms)
                           & self.knockout_view.stop(timeout_ms) & self.top_view.stop(timeout_ms)
                           & self.unit_view.stop(timeout_ms) & self.looks_for.stop(timeout_ms))
        return self.image_source.stop(timeout_ms) and runner_stopped and helpers_stopped

    # ========================================================= session events

    def _on_model_changed(self, session: Session, change: str) -> None:
        self._show_load_notice(session, change)
        if change == "model":
            # Everything shown belongs to the old model: empty it now, not when the new one lands.
            self._play.stop()
            self._update_play_button()
            self._runner.forget_model()
            self._runner.target = None
            self._view = None
            self._shown_node = None
            self._shown_facts = None
            self._channel = None
            self.model_label.setText(display_name(session.model_name) if session.model_name else "No model")
            self.model_label.setToolTip(session.model_name or "")  # a file's whole path
            self._clear_display(f"Loading {display_name(session.model_name)}…")
        elif change == "weights":
            # Same model, other weights: keep the node, drop what the old weights computed.
            self._runner.target = self._shown_node
            self._shown_facts = None
            self.predictions_box.clear(f"loading {session.weights.label() if session.weights else 'weights'}…")
        if session.loaded is None:
            self.steps.set_enabled(False)
            if change == "failed":
                self.node_label.setText(f"Cannot load {display_name(session.model_name)}: {session.load_error}")
                self.node_label.setToolTip(session.load_error or "")
                self.predictions_box.clear("")
            else:
                self.node_label.setText(f"Loading {display_name(session.model_name)}"
                                        + (f" with {session.weights.label()}" if session.weights else "") + "…")
            self._runner.changed()
            return
        self._shown_facts = None
        self._runner.changed()

    def _show_load_notice(self, session: Session, change: str) -> None:
        if change == "failed":
            text = f"Cannot load {display_name(session.model_name)}: {session.load_error}"
        elif change == "loaded" and session.loaded.fallback:
            text = session.loaded.notice
        elif change == "loaded" or change == "model":
            text = ""
        else:
            return  # loading other weights: what was said stays until they arrive
        self.load_notice.setText(text)
        self.load_notice.setVisible(bool(text))

    def _on_knockouts_changed(self, session: Session) -> None:
        self._shown_facts = None
        self._runner.changed()

    def _on_image_changed(self, session: Session) -> None:
        loaded = session.image
        self.maps.hover_label.setText("")
        if loaded is None:
            self.source_label.setText("")
            return
        w, h = loaded.original_size
        self.source_label.setText(f"Image: {loaded.source} ({w}x{h})")
        self.source_label.setToolTip(loaded.source)
        self.predictions_box.clear("…")
        self._runner.changed()

    def _on_node_changed(self, session: Session) -> None:
        node = session.node
        if node is not None and node != self._shown_node:
            self.show_node(node)

    def _on_device_changed(self, session: Session) -> None:
        self.steps.show_device(session.device)
        self._runner.changed()

    def _clear_display(self, text: str) -> None:
        self.steps.set_enabled(False)
        self.node_label.setText(text)
        self.node_label.setToolTip("")
        self.maps.clear()
        self.detail_tabs.clear()
        self.predictions_box.clear("")

    # ============================================================= stepping

    def _target_index(self) -> int:
        stepper = self.stepper
        target = self._runner.target
        if stepper is None:
            return 0
        if target is None:
            return max(stepper.position, 0)
        try:
            return stepper.index_of(target)
        except UserError:
            return max(stepper.position, 0)

    def _go_to(self, index: int) -> None:
        stepper = self.stepper
        if stepper is None:
            return
        count = len(stepper)
        self._runner.target = count - 1 if index == -1 else max(0, min(index, count - 1))
        self._runner.changed()

    def _on_play_tick(self) -> None:
        if self._runner.busy:
            return  # the previous step is still being shown
        stepper = self.stepper
        if stepper is None or self._target_index() >= len(stepper) - 1:
            self._play.stop()
            self._update_play_button()
            return
        self.step_forward()

    def _update_play_button(self) -> None:
        self.steps.set_playing(self._play.isActive())

    def _on_run_failed(self, text: str) -> None:
        self._play.stop()
        self._update_play_button()
        self.node_label.setText(text)
        self.session.notify(text)

    def _on_progress(self, index: int, total: int) -> None:
        self.node_label.setText(f"{self.session.model_name}: running… node {index + 1} of {total}")

    # ============================================================== display

    def _on_view_ready(self, view: View) -> None:
        facts = view.facts
        if facts is not None and facts is not self._shown_facts:
            self._shown_facts = facts
            self.predictions_box.show_predictions(facts.predictions, facts.display)
            if facts.notices:
                self.session.notify("; ".join(facts.notices))
        self._view = view
        names = view.facts.loaded.class_names if view.facts is not None else None
        self.maps.show_view(view, class_scores=self._is_class_scores(view), class_names=names)
        self.detail_tabs.show_histogram(view.counts if view.stats is not None else None, view.edges)
        self.steps.set_enabled(True)
        record = view.record
        shape = "×".join(str(d) for d in view.shape) if view.shape else "no tensor"
        # The node's one name (graph/titles.py), as the graph and its details show it.
        self.node_label.setText(
            f"{record.index + 1}/{view.total}   {record.title}  ·  {record.kind}  ·  {shape}")
        self.node_label.setToolTip(f"model: {view.model_name}\nnode: {record.title}\n"
                                   f"module: {record.module_path or 'the model itself'}\nop: {record.op}")
        self.steps.show_position(record.index, view.total)
        if self._channel is not None and (view.mosaic is None or self._channel >= view.mosaic.channels):
            self._channel = None
        self._show_channel()
        self.field.show_region(view)
        self._outline_region()
        self.detail_tabs.show_kernels(view.kernels)
        if record.name != self._shown_node:
            self._shown_node = record.name
            self.session.set_node(record.name)
        self.view_updated.emit(record.name)

    def _show_channel(self) -> None:
        view = self._view
        if view is None or view.channels is None or view.mosaic is None:
            self.maps.frame_channel(None)
            self._enlarged = None
            self.top_view.show_channel(None, None)
            self.detail_tabs.show_channel(None, 0, self._runner.colormap, False)
            return
        # Until the user clicks one, enlarge the channel that varies most: an empty pane
        # teaches nothing, and the liveliest map is the one worth a closer look.
        channel = self._channel if self._channel is not None else most_varied_channel(view.channels)
        self.maps.frame_channel(channel)
        self._enlarged = channel
        self.top_view.show_channel(view.record.name, channel, view.record.title)
        if self.maps.showing_classes:  # class scores: labelled bars, not a grid of cells
            self.detail_tabs.show_class_scores(view.channels)
            return
        self.detail_tabs.show_channel(view.channels[channel], channel, self._runner.colormap,
                                      clicked=self._channel is not None)

    def _is_class_scores(self, view: View) -> bool:
        """The model's output, or a layer with one output per class (the final linear
        layer, an auxiliary head's): values that read as class scores."""
        shape = view.shape
        if shape is None or len(shape) != 2 or shape[1] < 2:
            return False
        return view.record.index == view.total - 1 or shape[1] == view.loaded.num_classes

    def _on_display_option(self) -> None:
        self._runner.colormap = self.maps.colormap
        self._runner.scale = self.maps.scale
        self._show_channel()

    def _on_channel_pixel(self, x: float, y: float) -> None:
        self.field.trace(self._view, self._enlarged, x, y)
        if self._enlarged is not None:
            self.unit_view.explain(self._enlarged, (int(y), int(x)))

    def _on_mosaic_unit(self, channel: int, x: float, y: float) -> None:
        self.field.trace(self._view, channel, x, y)
        spatial = self._view is not None and self._view.shape is not None and len(self._view.shape) == 4
        self.unit_view.explain(channel, (int(y), int(x)) if spatial else None)

    def _on_unit_shown(self, result) -> None:
        """The Unit page shows ``result`` (None: nothing): what that unit looks for."""
        spatial_or_vector = result is not None and len(result.unit) in (1, 3)
        self.looks_for.show_unit((result.node, result.unit[0]) if spatial_or_vector else None)
        if result is not None and self.field.field is not None and self.field.field.node == result.node:
            self.looks_for.show_field(self.field.field)

    def _outline_region(self) -> None:
        """Outline on the mosaic the patch the traced unit reads from this upstream node."""
        region = self.field.region
        self.maps.outline_region(region.clipped if region is not None else None)

    def _top_images_reason(self) -> str | None:
        """Why the shown model has no top images (None: it can have them)."""
        weights = self.session.weights
        return UNTRAINED if weights is None or not weights.trained else None

    def _top_grid(self, node: str, channel: int):
        """The channel's 3 x 3 top-images grid from the Top images tab's finished scan, a
        line when the node has no spatial map, or None while nothing is scanned."""
        scan = self.top_view.scan
        if scan is None:
            return None
        grid = top_grid(scan, node, channel)
        return "This node has no spatial map: no top images." if grid is None else grid[0]

    def _on_knockout_requested(self, channel: int) -> None:
        if self._shown_node is not None and self._view is not None:
            # The spec names the node as every view does (graph/titles.py), not by fx's id.
            self.knockout_view.add(f"{self._view.record.title}:{channel}")
            self.detail_tabs.setCurrentWidget(self.knockout_view)

    def _on_channel_clicked(self, channel: int) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self.select_channel(channel)

    # ================================================================ Qt events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        data = event.mimeData()
        if any(is_model_file(url.toLocalFile()) for url in data.urls()):
            event.ignore()  # the window opens model files (and the images dropped with them)
        elif data.hasUrls() or offers_image(data):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        data = event.mimeData()
        if data.hasUrls():
            self.handle_drop(list(data.urls()))
        elif offers_image(data):
            self.image_source.handle_mime_image(data, "dropped image")
        event.acceptProposedAction()

    def keyPressEvent(self, event: QKeyEvent) -> None:
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

    def mousePressEvent(self, event) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().mousePressEvent(event)

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)
