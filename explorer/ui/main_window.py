"""The main window: model picker, architecture graph, feature maps and training.

The window is on screen before torch is imported: a loader thread imports the core
(torch, torchvision, the zoo) and only then are the panels that need it created.

The window creates one :class:`~explorer.session.Session` and hands it to every view; the
views subscribe to it and render, and the window does not carry state between them
(graph click -> ``session.set_node`` -> the feature maps run to it; another model ->
``session.set_model`` -> every view resets). A :class:`ModuleBuilder` keeps the session's
module built for its model and weights. The window itself renders the title, the picker's
selection and the status bar, and owns the threads: ``closeEvent`` stops and waits for
every one of them. A model file (File > Open model…, a drop, Open Recent) goes through
:class:`~explorer.ui.open_model.ModelOpener`, which loads it before the session hears of
it, so a file that fails leaves the model shown in place.

Over 400 lines because it is the one place that wires every view (menus, tabs, the
graph column, drag and drop, closing); each view lives in a module of its own.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, qWarning
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer import __version__, snapshots
from explorer.session import Session, WeightsChoice
from explorer.settings import Settings
from explorer.ui.graph.worker import GraphWorkerClient
from explorer.ui.main_thread_gc import collect_on_main_thread
from explorer.ui.model_picker import ModelPicker
from explorer.ui.subscriptions import Subscriptions
from explorer.ui.theme import secondary


class _CoreLoader(QThread):
    """Imports torch and the model zoo off the GUI thread (3-8 s on a 2-core machine)."""

    loaded = Signal(list, str)  # ModelInfo records, compute device description
    failed = Signal(str)
    # torchvision's other classifiers (ModelInfo records), after ``loaded``: the list does
    # not wait for them (~0.1 s), and a failure costs only that group.
    others_loaded = Signal(list)
    graph_view_loaded = Signal()  # the graph panel's modules are imported (no torch)

    def __init__(self, device_choice: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._device_choice = device_choice

    def run(self) -> None:
        try:
            # The graph view first: its modules (networkx, the scene's items; 0.4 s) load
            # here rather than on the GUI thread, which keeps the model list answering.
            import explorer.ui.graph.panel  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - reported in the window, not raised
            self.failed.emit(f"cannot load the graph view: {exc}")
            return
        self.graph_view_loaded.emit()
        try:
            from explorer.devices import choose_device, describe_device
            from explorer.models import get_model_info, list_models

            infos = [get_model_info(name) for name in list_models()]
            # Importing the panels' heavy core here keeps their first use quick, and the
            # panels' own modules (pyqtgraph, 0.4 s, among them): the GUI thread then only
            # builds them. Module code makes no widgets, so it may run on this thread.
            import explorer.activations  # noqa: F401
            import explorer.train  # noqa: F401
            import explorer.ui.compare.scoreboard  # noqa: F401
            import explorer.ui.compare.side_by_side  # noqa: F401
            import explorer.ui.graph.overlay  # noqa: F401
            import explorer.ui.maps.panel  # noqa: F401
            import explorer.ui.training.panel  # noqa: F401

            device = describe_device(choose_device(self._device_choice))
        except Exception as exc:  # noqa: BLE001 - reported in the window, not raised
            self.failed.emit(f"cannot load PyTorch or the model zoo: {exc}")
            return
        self.loaded.emit(infos, device)
        try:
            from explorer.models.torchvision_models import classifier_names, torchvision_info

            others = [torchvision_info(name) for name in classifier_names()]
        except Exception:  # noqa: BLE001 - the zoo works without them; they open by name still
            others = []
        self.others_loaded.emit(others)


class MainWindow(QMainWindow):
    """Top-level window. ``initial_model`` is opened as soon as the zoo has loaded."""

    ready = Signal()  # the core is loaded and the panels exist
    model_shown = Signal(str)  # the graph of this model is drawn

    def __init__(
        self,
        settings: Settings | None = None,
        initial_model: str | None = None,
        data_dir: str | None = None,
    ) -> None:
        super().__init__()
        # Garbage holding Qt wrappers must never be collected on a worker thread.
        collect_on_main_thread(QApplication.instance())
        self.settings = settings or Settings()
        # --data-dir applies to this session only; it does not overwrite the saved setting.
        self._data_dir = data_dir
        self._initial_model = initial_model or self.settings.get("last_model")
        from explorer.weights_choice import WeightsMemory

        self.weights_memory = WeightsMemory()
        self.session = Session(device=self.settings.get("device") or "auto",
                               recall_weights=self.weights_memory.recall,
                               remember_weights=self.weights_memory.remember)
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(self.session.model_changed, self._on_model_changed)
        self._subscriptions.connect(self.session.message, self._show_message)
        self.builder = None
        self.opener = None  # opens model files; made with the panels, once torch has loaded
        self._core_ready = False
        self._titles: dict[str, str] = {}
        self.graph_overlay = self.feature_panel = self.training_panel = None
        self.side_by_side = self.scoreboard = self.lessons = None

        self.setWindowTitle("cnn-explorer")
        self.resize(1440, 900)
        self.setAcceptDrops(True)

        self.picker = ModelPicker()
        self.picker.model_chosen.connect(self._on_model_chosen)
        dock = QDockWidget("Models", self)
        dock.setObjectName("models-dock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setWidget(self.picker)
        dock.setMinimumWidth(170)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self._models_dock = dock

        self._stack = QStackedWidget()
        # Before torch has loaded the graph is already drawn (from its snapshot, by the
        # graph service) beside a progress line where the live feature maps will be. The
        # graph panel itself is made right after the first paint (_create_graph_panel).
        self.graph_panel = None
        self._loading = QLabel("Loading PyTorch for the live feature maps…")
        self._loading.setObjectName("core-loading")
        self._loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._loading.setWordWrap(True)
        font = self._loading.font()
        font.setPixelSize(15)
        self._loading.setFont(font)
        secondary(self._loading)
        self._loading_bar = QProgressBar()
        self._loading_bar.setRange(0, 0)  # busy: an import has no fraction to show
        self._loading_bar.setMaximumWidth(320)
        self._preview_widget = self._preview_page()
        self._stack.addWidget(self._preview_widget)
        self.setCentralWidget(self._stack)

        self._device_label = QLabel("Device: …")
        self._device_label.setContentsMargins(8, 0, 8, 0)
        self.statusBar().addPermanentWidget(self._device_label)
        self.statusBar().showMessage("Starting…")
        if self.weights_memory.warning:
            self._show_message(self.weights_memory.warning)

        self._build_menus()
        # The model list comes from the registry snapshot at once: it is usable (search,
        # choose) while torch loads; a choice made meanwhile opens when the core is ready.
        catalog, why = snapshots.load_catalog()
        if catalog is not None:
            self.picker.set_models([SimpleNamespace(**entry) for entry in catalog.entries.values()])
            self._titles = {name: entry["title"] for name, entry in catalog.entries.items()}
            if self._initial_model in self.picker.names:
                self._preview(self._initial_model)
        elif why:
            self._show_message(f"{why}; the model list appears once PyTorch has loaded")
        self._show_recent_models()
        # The graph worker process answers a zoo model from its snapshot and imports torch
        # in parallel with the loader thread, so the first graph is not kept waiting for it.
        GraphWorkerClient.shared().start()
        self._loader = _CoreLoader(self.settings.get("device") or "auto", self)
        self._loader.loaded.connect(self._on_core_loaded)
        self._loader.others_loaded.connect(self._on_others_loaded)
        self._loader.failed.connect(self._on_core_failed)
        self._loader.graph_view_loaded.connect(self._create_graph_panel)
        self._loader.start()

    # ----- set-up -------------------------------------------------------------------------

    def _build_menus(self) -> None:
        from explorer.ui.recent_models import RecentMenu, RecentModels

        file_menu = self.menuBar().addMenu("&File")
        self._core_actions: list[QAction] = []
        open_model = file_menu.addAction("Open &model…")
        open_model.setShortcut(QKeySequence("Ctrl+Shift+O"))
        open_model.setToolTip("Open a torch.export program (.pt2) or a network class in a Python file (.py)")
        open_model.triggered.connect(self._open_model_file)
        self.recent_menu = RecentMenu(RecentModels(self.settings), self)
        self.recent_menu.chosen.connect(self._on_model_chosen)
        self.recent_menu.cleared.connect(self._show_recent_models)
        self._core_actions += [open_model, file_menu.addMenu(self.recent_menu)]
        for action in self._core_actions:
            action.setEnabled(False)  # enabled once the core has loaded
        file_menu.addSeparator()
        for text, shortcut, slot in (
            ("&Open image…", QKeySequence.StandardKey.Open, self._open_image),
            ("&Paste image", QKeySequence.StandardKey.Paste, self._paste_image),
            ("Load &weights…", None, self._load_weights),
            ("&Export graph…", QKeySequence("Ctrl+E"), self._export_graph),
            ("Choose &data folder…", None, self._choose_data_folder),
        ):
            action = file_menu.addAction(text)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            action.setEnabled(False)  # enabled once the core has loaded
            self._core_actions.append(action)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        view_menu = self.menuBar().addMenu("&View")
        for text, slot in (("&Side by side", self._show_side_by_side), ("Zoo &scoreboard", self._show_scoreboard)):
            self._core_actions.append(view_menu.addAction(text))  # enabled once the core has loaded
            self._core_actions[-1].triggered.connect(slot)
            self._core_actions[-1].setEnabled(False)
        view_menu.addSeparator()
        theme_group = QActionGroup(self)
        self._theme_actions: dict[str, QAction] = {}
        for theme in ("light", "dark"):
            action = view_menu.addAction(f"{theme.capitalize()} theme")
            action.setCheckable(True)
            action.setChecked(theme == self.settings.get("theme"))
            action.setData(theme)
            theme_group.addAction(action)
            self._theme_actions[theme] = action
        theme_group.triggered.connect(self._on_theme_action)
        view_menu.addSeparator()
        self._across_action = view_menu.addAction("Graph &left to right")
        self._across_action.setCheckable(True)
        self._across_action.setToolTip("Lay the architecture graph out left to right instead of top to bottom")
        self._across_action.toggled.connect(self._on_across_toggled)
        for action in self._core_actions:  # no widget is disabled without saying why
            action.setStatusTip("Available once PyTorch has loaded (a few seconds after start)")

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&Keyboard shortcuts…").triggered.connect(self.show_shortcuts)
        help_menu.addAction("&About cnn-explorer").triggered.connect(self._about)

    def _preview_page(self) -> QWidget:
        """The graph column (filled by ``_create_graph_panel``) beside the loading line,
        until the core has loaded."""
        waiting = QWidget()
        column = QVBoxLayout(waiting)
        column.addStretch(1)
        column.addWidget(self._loading)
        column.addWidget(self._loading_bar, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(1)
        self._graph_column = QSplitter(Qt.Orientation.Vertical)
        page = QSplitter(Qt.Orientation.Horizontal)
        page.addWidget(self._graph_column)
        page.addWidget(waiting)
        page.setSizes([580, 600])
        return page

    def _create_graph_panel(self) -> None:
        """The graph panel, made once the loader thread has imported its modules, so the
        model list answers while they load."""
        if self.graph_panel is not None:
            return
        from explorer.ui.graph.panel import GraphPanel

        self.graph_panel = GraphPanel(self.session, theme=self.settings.get("theme") or "light")
        self.graph_panel.graph_ready.connect(self._on_graph_ready)
        self.graph_panel.failed.connect(self._show_message)
        self.graph_panel.exported.connect(self._on_graph_exported)
        self._graph_column.addWidget(self.graph_panel)
        self._graph_column.addWidget(self.graph_panel.details_widget)
        self._graph_column.setSizes([700, 160])
        if not self._core_ready and self._initial_model in self.picker.names:
            self.graph_panel.show_model(self._initial_model)

    def _preview(self, name: str) -> None:
        """Draw ``name``'s graph before the core has loaded; it opens fully once it has (a
        model file only then: its graph would run its code)."""
        self._initial_model = name
        self.picker.select(name)
        if self.graph_panel is not None and name in self.picker.names:
            self.graph_panel.show_model(name)
        from explorer.loading import display_name  # no torch: the core has not loaded yet

        self.setWindowTitle(f"{self._titles.get(name) or display_name(name)} — cnn-explorer")

    def _on_core_loaded(self, infos: list, device: str) -> None:
        import pyqtgraph

        from explorer.ui.compare.scoreboard import ScoreboardView
        from explorer.ui.compare.side_by_side import SideBySideView
        from explorer.ui.explore_page import explore_page
        from explorer.ui.graph.overlay import GraphOverlay
        from explorer.ui.lessons.view import LessonsView
        from explorer.ui.maps.panel import FeatureMapPanel
        from explorer.ui.module_builder import ModuleBuilder
        from explorer.ui.open_model import ModelOpener
        from explorer.ui.training.panel import TrainingPanel

        # Set before the first plot is made (the panels below); not at start-up, where
        # importing pyqtgraph (0.4 s with numpy) would hold up the model list.
        pyqtgraph.setConfigOptions(imageAxisOrder="row-major", antialias=True)
        self._create_graph_panel()  # when the core loaded before the first paint

        self._device_label.setText(f"Device: {device}")
        self._device_label.setToolTip("Where forward passes and training run")
        if self.picker.names != [info.name for info in infos]:
            self.picker.set_models(infos)

        self.builder = ModuleBuilder(self.session, self)
        self.opener = ModelOpener(self.session, self.settings, self.weights_memory.recall, self)
        self.opener.recent_changed.connect(self._show_recent_models)
        self.opener.failed.connect(self._on_open_failed)
        # None lets the panels resolve the folder when they need it (env, settings, cache).
        self.feature_panel = FeatureMapPanel(self.session, data_root=self._data_dir)
        # A concatenation's source unit shown on the Unit page: the graph highlights it too.
        self.feature_panel.unit_view.highlight_node.connect(self.graph_panel.highlight_node)
        self.training_panel = TrainingPanel(self.session, data_dir=self._data_dir)
        self.graph_overlay = GraphOverlay(self.session, self.graph_panel)
        # Both build their models or read their data only once their tab is shown.
        self.side_by_side = SideBySideView(self.session)
        self.scoreboard = ScoreboardView(self.session)
        self.scoreboard.model_opened.connect(self._show_feature_maps)
        self.training_panel.run_opened.connect(self._show_feature_maps)  # "Open in explorer"
        self.lessons = LessonsView(self.session)  # lists its lessons once its tab is shown
        self.lessons.view_requested.connect(self.show_view)

        explore = explore_page(self.graph_panel, self.feature_panel, self.graph_overlay.above(self.graph_panel))

        self._tabs = QTabWidget()
        self._tabs.addTab(explore, "Architecture")
        self._tabs.addTab(self.training_panel, "Training")
        self._tabs.addTab(self.side_by_side, "Side by side")
        self._tabs.addTab(self.scoreboard, "Scoreboard")
        self._tabs.addTab(self.lessons, "Lessons")
        self._add_step_keys()
        size_before = self.size()
        self._stack.addWidget(self._tabs)
        self._stack.setCurrentWidget(self._tabs)
        # The graph and its details now live in the explore page; the rest goes.
        self._stack.removeWidget(self._preview_widget)
        self._preview_widget.deleteLater()
        # While the panels settle their minimum is briefly wider than it ends (the layer
        # details move out of the graph panel), and Qt widens the window for it and never
        # narrows it back: give the window the size it had once the layouts have settled.
        self._size_before_load = size_before
        QTimer.singleShot(0, self, self._restore_size)

        self.set_theme(self.settings.get("theme") or "light", remember=False)
        for action in self._core_actions:
            action.setEnabled(True)
            action.setStatusTip("")
        self._core_ready = True
        self.statusBar().showMessage("Ready. Pick a model; drop an image on the window to see its feature maps.", 8000)
        self.ready.emit()
        from explorer.models import list_models
        from explorer.settings import DEFAULTS
        from explorer.ui.recent_models import remembered_problem

        if self._initial_model == self.settings.get("last_model") and self._initial_model not in list_models():
            # A remembered file that moved or is no longer trusted, or a name this version
            # does not have: open the default instead.
            problem = remembered_problem(self._initial_model)
            if problem:
                self._show_message(f"{problem}; opening {DEFAULTS['last_model']}")
                self._initial_model = DEFAULTS["last_model"]
        if self._initial_model:
            self.open_model(self._initial_model)

    def _on_others_loaded(self, infos: list) -> None:
        from explorer.models.torchvision_models import FAMILY
        from explorer.ui.model_picker import entries_of

        self.picker.set_group(FAMILY, entries_of(infos), expanded=False)

    def _show_recent_models(self) -> None:
        """The model list's "Your models": the Recent files (File > Open Recent)."""
        from explorer.models.sources import USER_FAMILY
        from explorer.ui.recent_models import recent_entries

        self.picker.set_group(USER_FAMILY, recent_entries(self.recent_menu.recent.sources), first=True)

    def _open_model_file(self) -> None:
        self.opener.choose_file()

    def _on_open_failed(self, _source: str, message: str) -> None:
        if self.session.model_name is None:  # at start-up: a remembered file that fails
            from explorer.settings import DEFAULTS

            self._show_message(f"{message}; opening {DEFAULTS['last_model']}")
            self.open_model(DEFAULTS["last_model"])

    def _restore_size(self) -> None:
        wanted = self._size_before_load.expandedTo(self.minimumSizeHint())
        if wanted != self.size():
            self.resize(wanted)

    def _on_core_failed(self, message: str) -> None:
        self._loading_bar.hide()
        self._loading.setText(message)
        self._show_message(message)

    # ----- models -------------------------------------------------------------------------

    @property
    def current_model(self) -> str | None:
        """The model the explorer shows (the session's)."""
        return self.session.model_name

    def open_model(self, name: str, weights: WeightsChoice | None = None) -> None:
        """Show ``name`` in every view, with ``weights`` or the ones it last ran with. A
        model file loads first, and shows only if it loads (``ModelOpener``)."""
        from explorer.models import ModelError, get_model_info
        from explorer.models.sources import is_file_source

        if is_file_source(name):
            if self.opener is None:
                self._preview(name)
            else:
                self.opener.open_source(name, weights, expected=self.recent_menu.recent.stamp(name))
            return
        try:
            get_model_info(name)
        except ModelError as exc:
            self._show_message(str(exc))
            return
        self.session.set_model(name, weights)

    def _on_model_chosen(self, name: str) -> None:
        if self._core_ready:
            if name in self.recent_menu.recent.sources:
                self.opener.open_recent(name)  # one that moved is removed from the list
            else:
                self.open_model(name)
            return
        # Chosen from the snapshot's list before the core loaded: its graph now, the rest
        # when the core is ready.
        self._preview(name)
        self.statusBar().showMessage(f"Opening {name} once PyTorch has loaded…")

    def _on_model_changed(self, session: Session, change: str) -> None:
        from explorer.loading import display_name
        from explorer.models import ModelError, get_model_info

        if change == "loaded":
            self._show_message(session.loaded.notice)
            return
        if change == "failed":
            self._show_message(f"{display_name(session.model_name)}: {session.load_error}")
            return
        if change != "model":
            return
        name = session.model_name
        try:
            title = get_model_info(name).title
        except ModelError:  # a file that changed since it was read: named by its file
            title = display_name(name)
        self.picker.select(name)
        self.setWindowTitle(f"{title} — cnn-explorer")
        try:
            self.settings.set("last_model", name)
        except ValueError:
            pass  # a source over 4096 characters: not remembered
        self.statusBar().showMessage(f"Building {title}…")

    def _on_graph_ready(self, graph) -> None:
        if self.current_model:
            self.model_shown.emit(self.current_model)

    def _add_step_keys(self) -> None:
        """Left and Right step the feature maps wherever the focus is while the Explore page
        is shown (the graph, the model list, a button), not only in the maps panel; a text
        field keeps them (it claims them before a shortcut: ShortcutOverride). Other pages
        get their own keys back (the time machine's scrubber, the forms)."""
        self._step_keys: list[QShortcut] = []
        for key, step, what in ((Qt.Key.Key_Left, self.feature_panel.step_back, "Maps › Previous node"),
                                (Qt.Key.Key_Right, self.feature_panel.step_forward, "Maps › Next node")):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setWhatsThis(what)  # what Help > Keyboard shortcuts says it does
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(step)
            self._step_keys.append(shortcut)
        self._tabs.currentChanged.connect(self._on_tab_changed)

    def _on_tab_changed(self, index: int) -> None:
        for shortcut in self._step_keys:
            shortcut.setEnabled(index == 0)

    # ----- actions ------------------------------------------------------------------------

    def _show_feature_maps(self) -> None:
        self._tabs.setCurrentIndex(0)

    def _show_side_by_side(self) -> None:
        self._tabs.setCurrentWidget(self.side_by_side)

    def _show_scoreboard(self) -> None:
        self._tabs.setCurrentWidget(self.scoreboard)

    def show_view(self, view: str) -> None:
        """Bring a lesson link's ``view`` to the front (the session already shows its model
        and node): graph, maps and the receptive-field tracer (the Channel page, where a
        unit is clicked) on the Architecture tab; training and the time machine."""
        def page_holding(tabs: QTabWidget, widget: QWidget) -> None:
            tabs.setCurrentIndex(next((i for i in range(tabs.count()) if tabs.widget(i).isAncestorOf(widget)), 0))

        if view in ("training", "timemachine"):
            self._tabs.setCurrentWidget(self.training_panel)
            if view == "timemachine":
                page_holding(self.training_panel.pages, self.training_panel.time_machine)
            return
        self._show_feature_maps()
        if view == "tracer":
            page_holding(self.feature_panel.detail_tabs, self.feature_panel.field)

    def _open_image(self) -> None:
        self._show_feature_maps()
        self.feature_panel.open_image_dialog()

    def _paste_image(self) -> None:
        self._show_feature_maps()
        self.feature_panel.paste_image()

    def _load_weights(self) -> None:
        if not self.current_model:
            self._show_message("pick a model before loading weights")
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Load weights (a state_dict file)", str(Path.home()),
            "PyTorch weights (*.pt *.pth *.ckpt);;All files (*)")
        if path:
            self.load_weights_file(path)

    def load_weights_file(self, path: str) -> None:
        """Run the current model with a user's state_dict file, loaded off the GUI thread;
        a bad file is one line in the status bar and the weights shown before come back."""
        self.session.set_weights(WeightsChoice("file", path=str(path)))

    def _export_graph(self) -> None:
        self.graph_panel.export_dialog()

    def _on_graph_exported(self, path: str) -> None:
        self._show_message(f"graph saved to {path}")

    def _choose_data_folder(self) -> None:
        from explorer.settings import data_dir

        folder = QFileDialog.getExistingDirectory(
            self, "Folder holding FashionMNIST/raw", str(data_dir(self._data_dir, self.settings)))
        if folder:
            self.set_data_folder(folder)

    def set_data_folder(self, folder: str) -> None:
        """Use ``folder`` (holding FashionMNIST/raw) from now on, and remember it."""
        self._data_dir = folder
        self.settings.set("data_dir", folder)
        self.feature_panel.refresh_data_folder(folder)
        self.training_panel.set_data_dir(folder)
        raw = Path(folder) / "FashionMNIST" / "raw"
        if (raw / "t10k-images-idx3-ubyte").exists():
            self._show_message(f"Fashion-MNIST found in {raw}")
        else:
            self._show_message(f"no Fashion-MNIST in {raw}: training will try to download it there")

    def set_theme(self, name: str, remember: bool = True) -> None:
        from PySide6.QtWidgets import QApplication

        from explorer.ui.theme import apply_theme

        apply_theme(QApplication.instance(), name)
        if self.graph_panel is not None:
            self.graph_panel.set_theme(name)
        self._theme_actions[name].setChecked(True)
        if remember:
            self.settings.set("theme", name)

    def _on_across_toggled(self, across: bool) -> None:
        if self.graph_panel is None:
            return
        self.graph_panel.set_direction("LR" if across else "TB")

    def _on_theme_action(self, action: QAction) -> None:
        self.set_theme(action.data())

    def show_shortcuts(self):
        """Help > Keyboard shortcuts…: every shortcut of the window as it is now (panels
        made once PyTorch has loaded add theirs); the dialog shown is returned."""
        from explorer.ui.shortcuts import ShortcutsDialog

        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _about(self) -> None:
        QMessageBox.about(
            self, "About cnn-explorer",
            f"<b>cnn-explorer {__version__}</b><p>Look inside the classic convolutional "
            "networks: architecture graphs, live feature maps, and training on Fashion-MNIST.</p>")

    def _show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    # ----- drag and drop ------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and self.feature_panel is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        if self.feature_panel is None:
            event.ignore()
            return
        self._show_feature_maps()
        urls = list(event.mimeData().urls())
        images = self.opener.open_dropped(urls)  # a model file opens as a model
        if images or len(images) == len(urls):
            self.feature_panel.handle_drop(images)
        event.acceptProposedAction()

    # ----- closing ------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        # Closing during a run asks first; the run's last checkpoint stays either way.
        if self.training_panel is not None and not self.training_panel.confirm_close(self):
            event.ignore()
            return
        self._subscriptions.clear()
        if self.training_panel is not None:
            self.training_panel.shutdown()
        for panel in (self.graph_overlay, self.side_by_side, self.scoreboard, self.lessons, self.graph_panel,
                      self.feature_panel):
            if panel is not None:
                panel.close()  # stops and waits for their workers (closeEvent)
        if self.opener is not None:
            self.opener.stop()
        if self.builder is not None:
            self.builder.stop()
        if not self._loader.wait(30_000):
            qWarning("the core loader thread is still running after 30 s")
        event.accept()
