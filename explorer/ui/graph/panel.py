"""The architecture graph panel: view, toolbar, search, legend and details.

A view of the :class:`~explorer.session.Session`: another model in the session is traced
and drawn here, the session's node is highlighted, and clicking a node sets the session's
node (the feature maps then run to it). Zoo models are traced and laid out in the graph
subprocess; a user's own ``nn.Module`` (which cannot be rebuilt by name there) is traced in
a worker thread (both in :mod:`explorer.ui.graph.source`). The GUI thread only builds
items, in chunks, so the window keeps answering; each chunk is a deferred call with this
panel as its context, so none fires after the panel is gone.

Over 400 lines because toolbar, view-state changes (open, close, fold),
chunked population and selection all act on one (graph, view, layout, state) quadruple
and its generation; the legend, search and graph source already live apart.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.errors import UserError
from explorer.graph import (
    Layout,
    ModelGraph,
    ViewGraph,
    ViewState,
    collapse,
    default_state,
    expand,
    expanded_state,
    unfold,
    why_nothing_folds,
)
from explorer.graph.model_graph import BLOCK, EDGE_KINDS
from explorer.graph.notes import note_for
from explorer.loading import display_name
from explorer.models.sources import source_stamp
from explorer.session import Session
from explorer.ui.file_export import save_export
from explorer.ui.graph.details import NodeDetails
from explorer.ui.graph.export import FILE_CHOICES, choice_for_filter, export_view
from explorer.ui.graph.glyphs import glyph_kind
from explorer.ui.graph.knockouts import GraphKnockoutMarks, GraphKnockoutMenu
from explorer.ui.graph.legend import GraphSidebar
from explorer.ui.graph.scene import GraphScene
from explorer.ui.graph.search import find_hits, hits_label
from explorer.ui.graph.source import GraphSource, freeze_startup_objects
from explorer.ui.graph.view import GraphView
from explorer.ui.subscriptions import Subscriptions


class GraphPanel(QWidget):
    """Shows a model's architecture graph and lets the user open it up level by level.

    Signals:
        graph_ready(object): a :class:`ModelGraph` is shown, the scene populated and fitted.
        failed(str): the graph could not be made; the message is for the user.
        exported(str): the graph was written to this file.
    """

    graph_ready = Signal(object)
    failed = Signal(str)
    exported = Signal(str)

    def __init__(self, session: Session | None = None, parent: QWidget | None = None, *,
                 theme: str = "light") -> None:
        super().__init__(parent)
        self.session = session if session is not None else Session()
        self.graph: ModelGraph | None = None
        self.view_graph: ViewGraph | None = None
        self.layout_data: Layout | None = None
        self.state: ViewState | None = None
        self._source: tuple[str, Any] | None = None
        self._file_stamp: tuple[int, int] | None = None  # of the model file whose graph is shown
        self._generation = 0
        self._populating = None
        self._pending_anchor: str | None = None
        self._emit_ready = False
        self._highlight_node: str | None = None
        self._picked: str | None = None  # the node the user's last click gave the session
        self._following = False  # True while the selection follows the session's node
        self._hits: list[tuple[str, str]] = []
        self._query = ""
        self._hit_index = -1
        self._direction = "TB"
        self._export_folder: str | None = None

        self.scene = GraphScene(theme, self)
        self.view = GraphView(self.scene, self)
        self.sidebar = GraphSidebar(self.view, self)
        self.legend = self.sidebar.legend
        self.minimap = self.sidebar.minimap
        self.details_widget = NodeDetails(self)
        self.source = GraphSource(self)
        self.source.prepared.connect(self._on_source_prepared)
        self.source.failed.connect(self._on_source_failed)
        self.source.notice.connect(self.session.notify)
        self.client = self.source.client

        self.fit_button = self._tool("Fit", "Fit the graph to the window (0)", self.view.fit_to_window)
        self.expand_button = self._tool("Expand all", "Show every layer", self.expand_all)
        self.collapse_button = self._tool("Blocks", "Close every block (default view)", self.collapse_all)
        self.fold_button = self._tool("Fold runs", "Fold runs of identical blocks", self._on_fold_toggled)
        self.fold_button.setCheckable(True)
        self.fold_button.setChecked(True)
        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText("Find layer or type (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self.next_hit)
        self.search_edit.textChanged.connect(self.search)
        self.prev_button = self._tool("◀", "Previous hit (Shift+F3)", self.previous_hit)
        self.next_button = self._tool("▶", "Next hit (F3)", self.next_hit)
        self.hits_label = QLabel("", self)
        self.export_button = self._tool("Export…", "Save the whole graph as SVG, PNG or JSON",
                                        self.export_dialog)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.banner = QLabel("", self)
        self.banner.setWordWrap(True)
        self.banner.hide()

        # A QToolBar: in a narrow window what does not fit moves behind its » button
        # instead of widening the panel (the window holds from 1024 px wide).
        toolbar = QToolBar(self)
        toolbar.setIconSize(QSize(16, 16))
        for w in (self.fit_button, self.expand_button, self.collapse_button, self.fold_button):
            toolbar.addWidget(w)
        self.search_edit.setMinimumWidth(90)
        toolbar.addWidget(self.search_edit)
        for w in (self.prev_button, self.next_button, self.hits_label, self.export_button):
            toolbar.addWidget(w)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 4, 0)
        top.addWidget(toolbar, 1)
        top.addWidget(self.progress)  # shown and hidden: a toolbar's widgets cannot be
        graph_area = QWidget(self)
        beside = QHBoxLayout(graph_area)
        beside.setContentsMargins(0, 0, 0, 0)
        beside.setSpacing(2)
        beside.addWidget(self.view, 1)
        beside.addWidget(self.sidebar)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(graph_area)
        splitter.addWidget(self.details_widget)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([900, 300])
        self.details_widget.setMaximumWidth(420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        for keys, slot, what in (
            (QKeySequence.StandardKey.Find, self._focus_search, "Graph › Find a layer or type"),
            (QKeySequence.StandardKey.FindNext, self.next_hit, "Graph › Next search hit"),
            (QKeySequence.StandardKey.FindPrevious, self.previous_hit, "Graph › Previous search hit"),
        ):
            QShortcut(keys, self, slot).setWhatsThis(what)  # Help > Keyboard shortcuts lists it
        self.scene.selectionChanged.connect(self._on_selection)
        self.view.node_activated.connect(self.toggle_unit)
        self.view.frame_activated.connect(self.collapse_module)
        self.knockout_menu = GraphKnockoutMenu(self.view, self.session, lambda: self.graph, self)
        # the network as it runs now: the session's knockouts struck through, on every view
        self.knockout_marks = GraphKnockoutMarks(
            self.scene, self.session, lambda: (self.graph, self.view_graph),
            lambda marks: self.legend.set_knocked_out(bool(marks)), self)
        self.set_theme(theme)
        self._set_enabled(False)
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(self.session.model_changed, self._on_model_changed)
        self._subscriptions.connect(self.session.node_changed, self._on_node_changed)
        if self.session.model_name is not None:
            self.show_model(self.session.model_name)
        freeze_startup_objects()

    def _tool(self, text: str, tip: str, slot) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.fit_button, self.expand_button, self.collapse_button, self.fold_button,
                  self.export_button, self.search_edit, self.prev_button, self.next_button):
            w.setEnabled(enabled)

    # ---------------------------------------------------------------- public API

    def show_model(self, name: str, builder_kwargs: dict | None = None) -> None:
        """Trace and show a registered model (or ``torchvision.<name>``); returns at once."""
        self._source = ("name", (name, dict(builder_kwargs or {})))
        self._file_stamp = source_stamp(name)
        self._clear()
        self._start_busy(f"Preparing {display_name(name)}…")
        self.source.open_name(self._generation, name, dict(builder_kwargs or {}), self._direction)

    def show_module(self, module, input_shape, name: str) -> None:
        """Trace and show a user's own ``nn.Module`` in a worker thread; returns at once."""
        self._source = ("module", (module, tuple(input_shape), name))
        self._clear()
        self._start_busy(f"Preparing {name}…")
        self.source.open_module(self._generation, module, tuple(input_shape), name, self._direction)

    def highlight_node(self, node_id: str | None) -> None:
        """Mark the session's current node (or the closed block holding it), scroll to it,
        and make it the selection whose details the panel shows: stepping the feature maps
        (Left/Right, the step buttons) moves the selection and the details along."""
        self._highlight_node = node_id
        unit = self.view_graph.unit_of.get(node_id) if (self.view_graph and node_id) else None
        self.scene.set_highlight(unit)
        if unit is None or unit not in self.scene.nodes:
            return
        self.view.ensureVisible(self.scene.nodes[unit], 60, 60)
        picked, self._picked = self._picked, None
        if node_id == picked and self.scene.selected_unit() == unit:
            return  # the user's own click set this node: its details are shown already
        self._follow(unit)
        self._show_details(unit, node_id, why="stepped to")

    def _follow(self, unit: str) -> None:
        """Select ``unit`` for the session's node without handing the selection back to the
        session (a closed block's selection would otherwise move the node to its output)."""
        if self.scene.selected_unit() == unit:
            return
        self._following = True
        try:
            self.scene.clearSelection()
            self.scene.nodes[unit].setSelected(True)
        finally:
            self._following = False

    def set_theme(self, name: str) -> None:
        """Switch the graph between "light" and "dark"."""
        self.scene.set_theme(name)
        self.sidebar.set_theme(name)
        self.view.viewport().update()

    @property
    def theme(self) -> str:
        return self.scene.theme_name

    @property
    def direction(self) -> str:
        """How the graph is laid out: "TB" (top to bottom) or "LR" (left to right)."""
        return self._direction

    def set_direction(self, direction: str) -> None:
        """Lay the graph out top to bottom ("TB") or left to right ("LR"); kept for later models."""
        if direction not in ("TB", "LR"):
            raise ValueError(f"direction {direction!r} is not TB or LR")
        if direction == self._direction:
            return
        self._direction = direction
        if self.state is not None:
            self._change_state(self.state)

    def expand_all(self) -> None:
        if self.graph is not None:
            self._change_state(expanded_state(self.graph))

    def collapse_all(self) -> None:
        if self.graph is not None:
            self._change_state(default_state(self.graph, fold=self.fold_button.isChecked()))

    def set_folding(self, fold: bool) -> None:
        self.fold_button.setChecked(fold)
        self._on_fold_toggled()

    def toggle_unit(self, unit: str) -> None:
        """Open a closed block, unfold a folded run, or close the open block around a layer."""
        if self.graph is None or self.state is None:
            return
        if unit.startswith("m:"):
            self._change_state(expand(self.state, unit[2:]), anchor=unit)
        elif unit.startswith("fold:"):
            self._change_state(unfold(self.state, unit[5:]), anchor=unit)
        elif unit in self.graph.graph:
            open_blocks = [p for p in self.graph.enclosing_modules(unit)
                           if self.graph.modules[p].kind == BLOCK and p in self.state.expanded]
            if open_blocks:
                self.collapse_module(open_blocks[-1])

    def collapse_module(self, path: str) -> None:
        if self.graph is not None and self.state is not None and path in self.graph.modules:
            self._change_state(collapse(self.graph, self.state, path), anchor="m:" + path)

    # ------------------------------------------------------------------- search

    def _focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()

    def search(self, text: str) -> list[tuple[str, str]]:
        """Find nodes by name, module path or type; marks the units holding them."""
        self._query = text.strip().lower()
        self._hit_index = -1
        self._hits = (find_hits(self.graph, self.view_graph, text)
                      if self.graph is not None and self.view_graph is not None else [])
        self.scene.set_search_hits([u for u, _ in self._hits])
        self._update_hits_label()
        return self._hits

    def next_hit(self) -> None:
        self._step_hit(+1)

    def previous_hit(self) -> None:
        self._step_hit(-1)

    def _step_hit(self, step: int) -> None:
        if not self._hits:
            return
        self._hit_index = (self._hit_index + step) % len(self._hits)
        unit, node_id = self._hits[self._hit_index]
        item = self.scene.nodes.get(unit)
        if item is not None:
            self.scene.clearSelection()
            item.setSelected(True)
            self.view.centerOn(item)
            self._show_details(unit, node_id)
        self._update_hits_label()

    def _update_hits_label(self) -> None:
        self.hits_label.setText(hits_label(self._query, self._hits, self._hit_index))

    # ---------------------------------------------------------------- internals

    def _start_busy(self, message: str) -> None:
        self._generation += 1
        self._emit_ready = True
        self._set_banner("")
        self.progress.show()
        self.progress.setToolTip(message)

    def _set_banner(self, text: str, warning: bool = False) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet("QLabel { padding: 4px 8px; border-radius: 4px; background: %s; }"
                                  % ("#fff3bf; color: #5c4400" if warning else "#ffe3e3; color: #7a0010"))
        self.banner.setVisible(bool(text))

    def _change_state(self, state: ViewState, anchor: str | None = None) -> None:
        if self._source is None or self.graph is None:
            return
        state = dataclasses.replace(state, direction=self._direction)
        self._pending_anchor = self._anchor_node(anchor)
        self._generation += 1
        generation = self._generation
        self.progress.show()
        kind, payload = self._source
        if kind == "name":
            name, kwargs = payload
            self.source.view_name(generation, name, kwargs, state)
        else:
            self.source.view_module(generation, self.graph, state)

    def _anchor_node(self, unit: str | None) -> str | None:
        if unit is None or self.view_graph is None or unit not in self.view_graph.graph:
            return None
        members = self.view_graph.graph.nodes[unit].get("members") or []
        return members[0] if members else None

    def _on_source_prepared(self, result: tuple) -> None:
        generation, graph, view, layout, ready = result
        self._on_prepared(generation, graph or self.graph, view, layout, ready=ready)

    def _on_source_failed(self, failure: tuple) -> None:
        generation, message = failure
        self._on_error(generation, UserError(message))

    def _on_error(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self.progress.hide()
        message = str(exc) if isinstance(exc, UserError) else f"cannot draw the graph: {exc!r}"
        self._set_banner(message)
        self.failed.emit(message)

    def _on_prepared(self, generation: int, graph: ModelGraph, view: ViewGraph, layout: Layout,
                     ready: bool = False) -> None:
        if generation != self._generation:
            return
        self.graph, self.view_graph, self.layout_data, self.state = graph, view, layout, view.state
        self.fold_button.blockSignals(True)
        self.fold_button.setChecked(view.state.fold)
        self.fold_button.blockSignals(False)
        self.details_widget.clear()
        steps = self.scene.populate_steps(view, layout)
        self._populating = (generation, steps, ready)
        self._continue_populating()

    def _continue_populating(self) -> None:
        if self._populating is None:
            return
        generation, steps, ready = self._populating
        if generation != self._generation:
            self._populating = None
            return
        try:
            next(steps)
        except StopIteration:
            self._populating = None
            self._finish(ready)
            return
        QTimer.singleShot(0, self, self._continue_populating)

    def _finish(self, ready: bool) -> None:
        self.progress.hide()
        self._set_enabled(True)
        self._offer_folding()
        graph = self.graph
        self._update_legend()
        if graph.warning:
            self._set_banner(graph.warning, warning=True)
        anchor = self._pending_anchor
        self._pending_anchor = None
        if ready or anchor is None:
            self.view.fit_to_window()
        else:
            unit = self.view_graph.unit_of.get(anchor)
            if unit in self.scene.nodes:
                self.view.centerOn(self.scene.nodes[unit])
        if self._highlight_node:
            self.highlight_node(self._highlight_node)
        if self._query:
            self.search(self._query)
        if ready and self._emit_ready:
            self._emit_ready = False
            self.graph_ready.emit(graph)

    def _update_legend(self) -> None:
        seen: dict[tuple[str, str | None], None] = {}
        glyphs: set[str] = set()
        for unit in self.view_graph.order:
            a = self.view_graph.graph.nodes[unit]
            seen[(a.get("category", "other"), a.get("block_type") or None)] = None
            glyphs.add(glyph_kind(a))
        kinds = {a.get("kind", "plain") for _, _, a in self.view_graph.graph.edges(data=True)}
        self.legend.set_content(list(seen), [k for k in EDGE_KINDS if k in kinds], sorted(glyphs - {""}))

    def _offer_folding(self) -> None:
        """Fold runs is enabled only where a run would fold; otherwise its tooltip says why
        not (ResNet-50's longest run is 5 blocks, every block open, no blocks at all)."""
        why = why_nothing_folds(self.graph, self.state)
        self.fold_button.setEnabled(not why)
        self.fold_button.setToolTip(why or f"Fold runs of {self.state.min_run} or more identical "
                                           "blocks into one (double-click a fold to open it)")

    def _on_fold_toggled(self) -> None:
        if self.state is not None:
            self._change_state(dataclasses.replace(self.state, fold=self.fold_button.isChecked(),
                                                   unfolded=frozenset()))

    def _on_selection(self) -> None:
        unit = self.scene.selected_unit()
        if unit is None or self.view_graph is None or self._following:
            return
        members = self.view_graph.graph.nodes[unit].get("members") or [unit]
        node_id = unit if unit in self.graph.graph else self._output_member(unit, members)
        self._show_details(unit, node_id if unit in self.graph.graph else None)
        self._picked = node_id
        self.session.set_node(node_id)

    def _output_member(self, unit: str, members: list[str]) -> str:
        member_set = set(members)
        for node_id in reversed(members):
            if any(s not in member_set for s in self.graph.graph.successors(node_id)):
                return node_id
        return members[-1]

    def _show_details(self, unit: str, node_id: str | None, why: str = "search hit") -> None:
        """Show ``unit``'s details; for a closed block or a fold, ``node_id`` names the node
        inside it that brought it up (``why``: a search hit, the node stepped to)."""
        unit_attrs = self.view_graph.graph.nodes[unit]
        if unit_attrs.get("unit") == "node":
            attrs = dict(self.graph.graph.nodes[unit])
            extra = []
        else:
            attrs = dict(unit_attrs)
            extra = [("layers", str(len(unit_attrs.get("members", []))))]
            if node_id and node_id != unit:
                found = self.graph.graph.nodes[node_id]
                name, what = found.get("title") or found.get("module_path"), found.get("summary", "")
                extra.append((why, name if not what or f"({what})" in name else f"{name} ({what})"))
        title = attrs.get("title") or attrs.get("module_path") or "node"
        self.details_widget.show_node(title, attrs, note_for(attrs), extra)

    def export_dialog(self) -> None:
        """Ask where (and as what) to save the whole graph; the model names the file."""
        if self.graph is None:
            return
        folder = self._export_folder or str(Path.home())
        name = self.graph.name.replace("/", "_") or "graph"
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export graph", str(Path(folder) / f"{name}.svg"),
            ";;".join(text for text, _suffix, _scale in FILE_CHOICES), FILE_CHOICES[0][0])
        if path:
            typed = path
            path, scale = choice_for_filter(chosen, path)
            # The dialog asked before replacing the name it returned; a suffix added from
            # the filter names another file, which export_to asks about itself.
            self.export_to(path, scale=scale, confirmed=path == typed)

    def export_to(self, path: str | Path, scale: float = 1.0, *, confirmed: bool = False) -> Path | None:
        """Write the whole graph as ``cnn-explorer graph --out`` does, in the colours shown
        (a "Colour by" overlay's included); None (and a banner) when it cannot be written,
        or when the file exists and the user would not replace it (asked unless
        ``confirmed``: the save dialog already asked for this path)."""
        if self.graph is None or self.view_graph is None:
            return None
        tints = self.scene.node_tints()
        out = save_export(self, path, lambda checked: export_view(
            self.graph, self.view_graph, self.layout_data, checked, theme=self.theme, scale=scale,
            tints=tints), report=self._set_banner, confirmed=confirmed)
        if out is None:
            return None
        self._set_banner("")
        self._export_folder = str(out.parent)
        self.exported.emit(str(out))
        return out

    # ------------------------------------------------------------ session events

    def _on_model_changed(self, session: Session, change: str) -> None:
        # The graph depends on the structure (model and builder options), not the weights:
        # other weights of the same network reuse the graph shown.
        if change == "model" and session.model_name is not None:
            self._highlight_node = None
            self.show_model(session.model_name)
        elif change == "loaded" and session.loaded is not None:
            name, options = session.loaded.structure
            # A model file opened again after it changed: the same name, another structure.
            if self._source != ("name", (name, dict(options))) or source_stamp(name) != self._file_stamp:
                self.show_model(name, dict(options))

    def _on_node_changed(self, session: Session) -> None:
        self.highlight_node(session.node)

    def _clear(self) -> None:
        """Nothing of the previous graph stays on screen while the next one is prepared."""
        self._populating = None
        self.graph = self.view_graph = self.layout_data = self.state = None
        self.scene.clear_items()
        self.details_widget.clear()
        self.legend.set_content([], [])
        self._set_enabled(False)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Ignore late replies and wait for tracing threads; False (and a Qt warning) when
        they do not finish in time."""
        self._generation += 1  # late replies and thread results are ignored from now on
        self._subscriptions.clear()
        self.knockout_marks.stop()
        return self.source.stop(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
