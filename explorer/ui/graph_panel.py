"""The architecture graph panel: view, toolbar, search, legend and details.

Zoo models are traced and laid out in the graph subprocess; a user's own ``nn.Module``
(which cannot be rebuilt by name there) is traced in a worker thread. Either way the
GUI thread only builds items, in chunks, so the window keeps answering.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSplitter,
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
)
from explorer.graph.model_graph import BLOCK, EDGE_KINDS
from explorer.graph.notes import note_for
from explorer.ui import theme as themes
from explorer.ui.graph_items import NodeItem
from explorer.ui.graph_scene import GraphScene
from explorer.ui.graph_view import GraphView
from explorer.ui.graph_worker import GraphWorkerClient
from explorer.ui.node_details import NodeDetails

_CATEGORY_NAMES = {"depthwise": "depthwise conv", "norm": "normalisation", "concat": "concat",
                   "add": "add (residual)", "block": "block"}


class GraphLegend(QWidget):
    """Category colours and edge styles present in the current view."""

    ROW = 16

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = "light"
        self.categories: list[tuple[str, str | None]] = []
        self.edge_kinds: list[str] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)

    def set_content(self, categories: list[tuple[str, str | None]], edge_kinds: list[str]) -> None:
        self.categories = categories
        self.edge_kinds = edge_kinds
        self.resize(self.sizeHint())
        self.update()

    @staticmethod
    def _name(category: str, block_type: str | None) -> str:
        if block_type:
            return block_type.replace("_", " ")
        return _CATEGORY_NAMES.get(category, category)

    def sizeHint(self) -> QSize:
        fm = QFontMetrics(self._font())
        names = [self._name(c, b) for c, b in self.categories] + [f"{k} edge" for k in self.edge_kinds]
        width = max((fm.horizontalAdvance(n) for n in names), default=40) + 46
        rows = len(self.categories) + len(self.edge_kinds)
        return QSize(width, rows * self.ROW + 12)

    def _font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(8.0)
        return font

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bg = themes.graph_color("background", self.theme)
        bg.setAlpha(225)
        painter.setPen(QPen(themes.graph_color("frame_border", self.theme), 1))
        painter.setBrush(bg)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        painter.setFont(self._font())
        y = 6
        text_color = themes.graph_color("node_text", self.theme)
        for category, block_type in self.categories:
            painter.setPen(QPen(themes.graph_color("node_border", self.theme), 1))
            painter.setBrush(themes.category_color(category, self.theme, block_type))
            painter.drawRoundedRect(QRectF(8, y + 2, 24, self.ROW - 4), 3, 3)
            painter.setPen(text_color)
            painter.drawText(QRectF(38, y, self.width() - 40, self.ROW),
                             Qt.AlignmentFlag.AlignVCenter, self._name(category, block_type))
            y += self.ROW
        for kind in self.edge_kinds:
            style = themes.edge_style(kind, self.theme)
            pen = QPen(themes.color(style["color"]), float(style["width"]))
            pen.setStyle({"dash": Qt.PenStyle.DashLine, "dot": Qt.PenStyle.DotLine}.get(
                style.get("style"), Qt.PenStyle.SolidLine))
            painter.setPen(pen)
            painter.drawLine(8, y + self.ROW // 2, 32, y + self.ROW // 2)
            painter.setPen(text_color)
            painter.drawText(QRectF(38, y, self.width() - 40, self.ROW),
                             Qt.AlignmentFlag.AlignVCenter, f"{kind} edge")
            y += self.ROW
        painter.end()


class _LegendGraphView(GraphView):
    """The graph view with the legend pinned to its top-right corner."""

    def __init__(self, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.legend = GraphLegend(self)

    def place_legend(self) -> None:
        hint = self.legend.sizeHint()
        self.legend.setGeometry(self.width() - hint.width() - 10, 10, hint.width(), hint.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.place_legend()


_startup_frozen = False


def _freeze_startup_objects() -> None:
    """Keep the garbage collector's full passes off the objects the app starts with.

    By the time the first graph panel opens, torch, Qt and the model zoo have made a few
    hundred thousand objects that live as long as the app. Each graph reply adds tens of
    thousands more, and every few replies Python runs a full collection over all of
    them: a 200 ms stall of the GUI thread seen on a 2-core machine. Frozen (after one
    collection, so no garbage is kept), they are skipped; collections then scan only
    what came later. Once per process.
    """
    global _startup_frozen
    if not _startup_frozen:
        _startup_frozen = True
        gc.collect()
        gc.freeze()


class GraphPanel(QWidget):
    """Shows a model's architecture graph and lets the user open it up level by level.

    Signals:
        node_selected(str): a traced node id (for a block, its output node) was clicked.
        graph_ready(object): a :class:`ModelGraph` is shown, the scene populated and fitted.
        failed(str): the graph could not be made; the message is for the user.
    """

    node_selected = Signal(str)
    graph_ready = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, theme: str = "light") -> None:
        super().__init__(parent)
        self.graph: ModelGraph | None = None
        self.view_graph: ViewGraph | None = None
        self.layout_data: Layout | None = None
        self.state: ViewState | None = None
        self._source: tuple[str, Any] | None = None
        self._request_id: int | None = None
        self._generation = 0
        self._populating = None
        self._pending_anchor: str | None = None
        self._emit_ready = False
        self._highlight_node: str | None = None
        self._hits: list[tuple[str, str]] = []
        self._query = ""
        self._hit_index = -1
        self._thread_workers: list[Any] = []

        self.scene = GraphScene(theme, self)
        self.view = _LegendGraphView(self.scene, self)
        self.details_widget = NodeDetails(self)
        self.client = GraphWorkerClient.shared()
        self.client.replied.connect(self._on_reply)
        self.client.crashed.connect(self._on_crash)
        # Start the worker now: it needs a second or two to import torch, and forking a
        # small process is cheaper than forking the window after it has loaded models.
        self.client.start()

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
        self.export_button = self._tool("Export…", "Save the current view as PNG or SVG", self._on_export)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.banner = QLabel("", self)
        self.banner.setWordWrap(True)
        self.banner.hide()

        toolbar = QHBoxLayout()
        toolbar.setContentsMargins(4, 4, 4, 0)
        for w in (self.fit_button, self.expand_button, self.collapse_button, self.fold_button):
            toolbar.addWidget(w)
        toolbar.addSpacing(8)
        toolbar.addWidget(self.search_edit, 1)
        for w in (self.prev_button, self.next_button, self.hits_label):
            toolbar.addWidget(w)
        toolbar.addWidget(self.progress)
        toolbar.addWidget(self.export_button)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.view)
        splitter.addWidget(self.details_widget)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([900, 300])
        self.details_widget.setMaximumWidth(420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(toolbar)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        QShortcut(QKeySequence.StandardKey.Find, self, self._focus_search)
        QShortcut(QKeySequence.StandardKey.FindNext, self, self.next_hit)
        QShortcut(QKeySequence.StandardKey.FindPrevious, self, self.previous_hit)
        self.scene.selectionChanged.connect(self._on_selection)
        self.view.node_activated.connect(self.toggle_unit)
        self.view.frame_activated.connect(self.collapse_module)
        self.set_theme(theme)
        self._set_enabled(False)
        _freeze_startup_objects()

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
        self._start_busy(f"Preparing {name}…")
        self._request_id = self.client.request(
            {"op": "open", "name": name, "kwargs": dict(builder_kwargs or {}), "state": None})

    def show_module(self, module, input_shape, name: str) -> None:
        """Trace and show a user's own ``nn.Module`` in a worker thread; returns at once."""
        from superqt.utils import create_worker

        from explorer.graph import build_graph, prepare_view

        self._source = ("module", (module, tuple(input_shape), name))
        self._start_busy(f"Preparing {name}…")
        generation = self._generation

        def work():
            graph = build_graph(module, tuple(input_shape), name=name, fallback=True)
            view, layout = prepare_view(graph)
            return graph, view, layout

        worker = create_worker(work, _start_thread=False)
        worker.returned.connect(lambda result: self._on_prepared(generation, *result, ready=True))
        worker.errored.connect(lambda exc: self._on_error(generation, exc))
        worker.finished.connect(lambda: self._thread_workers.remove(worker)
                                if worker in self._thread_workers else None)
        self._thread_workers.append(worker)
        worker.start()

    def highlight_node(self, node_id: str | None) -> None:
        """Mark the stepper's current node (or the closed block holding it) and scroll to it."""
        self._highlight_node = node_id
        unit = self.view_graph.unit_of.get(node_id) if (self.view_graph and node_id) else None
        self.scene.set_highlight(unit)
        if unit is not None and unit in self.scene.nodes:
            self.view.ensureVisible(self.scene.nodes[unit], 60, 60)
            # The details follow the stepper until the user picks a node of their own.
            if self.scene.selected_unit() is None:
                self._show_details(unit, node_id)

    def set_theme(self, name: str) -> None:
        """Switch the graph between "light" and "dark"."""
        self.scene.set_theme(name)
        self.view.legend.theme = name
        self.view.legend.update()
        self.view.viewport().update()

    @property
    def theme(self) -> str:
        return self.scene.theme_name

    def export(self, path) -> None:
        """Save what the view shows (legend included) as PNG or SVG."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            if not self.view.grab().save(str(path)):
                raise UserError(f"cannot write {path}")
        elif suffix == ".svg":
            from PySide6.QtSvg import QSvgGenerator

            generator = QSvgGenerator()
            generator.setFileName(str(path))
            generator.setSize(self.view.size())
            generator.setViewBox(QRectF(0, 0, self.view.width(), self.view.height()))
            generator.setTitle(self.graph.name if self.graph else "graph")
            painter = QPainter(generator)
            self.view.render(painter)
            painter.end()
        else:
            raise UserError(f"cannot export to {path.name}: use a .png or .svg file name")
        if not path.exists() or path.stat().st_size == 0:
            raise UserError(f"cannot write {path}")

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
        self._hits, self._hit_index = [], -1
        query = text.strip().lower()
        self._query = query
        if self.graph is not None and self.view_graph is not None and query:
            seen_units: set[str] = set()
            for node_id in self.graph.order:
                a = self.graph.graph.nodes[node_id]
                haystack = " ".join(str(a.get(k, "")) for k in
                                    ("id", "module_path", "layer_type", "category", "summary")).lower()
                unit = self.view_graph.unit_of.get(node_id)
                if unit is None:
                    continue
                if query in haystack or (unit not in seen_units and query in " ".join(
                        str(self.view_graph.graph.nodes[unit].get(k, ""))
                        for k in ("label", "layer_type", "block_type")).lower()):
                    self._hits.append((unit, node_id))
                    seen_units.add(unit)
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
        if not self._query:
            self.hits_label.setText("")
        elif not self._hits:
            self.hits_label.setText("no match")
        else:
            self.hits_label.setText(f"{self._hit_index + 1 if self._hit_index >= 0 else 0}/{len(self._hits)}")

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
        self._pending_anchor = self._anchor_node(anchor)
        self._generation += 1
        generation = self._generation
        self.progress.show()
        kind, payload = self._source
        if kind == "name":
            name, kwargs = payload
            self._request_id = self.client.request(
                {"op": "view", "name": name, "kwargs": kwargs, "state": state.to_dict()})
        else:
            from superqt.utils import create_worker

            from explorer.graph import prepare_view

            graph = self.graph
            worker = create_worker(lambda: prepare_view(graph, state), _start_thread=False)
            worker.returned.connect(lambda result: self._on_prepared(generation, graph, *result))
            worker.errored.connect(lambda exc: self._on_error(generation, exc))
            worker.finished.connect(lambda: self._thread_workers.remove(worker)
                                    if worker in self._thread_workers else None)
            self._thread_workers.append(worker)
            worker.start()

    def _anchor_node(self, unit: str | None) -> str | None:
        if unit is None or self.view_graph is None or unit not in self.view_graph.graph:
            return None
        members = self.view_graph.graph.nodes[unit].get("members") or []
        return members[0] if members else None

    def _on_reply(self, reply: dict) -> None:
        if reply.get("id") != self._request_id:
            return  # an answer to a request this panel has since replaced
        self._request_id = None
        generation = self._generation
        if not reply.get("ok"):
            self._on_error(generation, UserError(reply.get("error", "unknown error")))
            return
        # Rebuilding the graph (DenseNet-201: 713 nodes, 1,900 edges) and the view are
        # separate turns of the event loop, so neither adds to the time the window is
        # busy with the reply's JSON.
        QTimer.singleShot(0, lambda: self._parse_reply(generation, reply))

    def _parse_reply(self, generation: int, reply: dict, graph: ModelGraph | None = None) -> None:
        if generation != self._generation:
            return
        if graph is None and "graph" in reply:
            graph = ModelGraph.from_dict(reply["graph"])
            QTimer.singleShot(0, lambda: self._parse_reply(generation, reply, graph))
            return
        view = ViewGraph.from_dict(reply["view"])
        layout = Layout.from_dict(reply["layout"])
        self._on_prepared(generation, graph or self.graph, view, layout, ready="graph" in reply)

    def _on_crash(self, message: str) -> None:
        if self._request_id is not None:
            self._request_id = None
            self._on_error(self._generation, UserError(message))

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
        QTimer.singleShot(0, self._continue_populating)

    def _finish(self, ready: bool) -> None:
        self.progress.hide()
        self._set_enabled(True)
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
        for unit in self.view_graph.order:
            a = self.view_graph.graph.nodes[unit]
            seen[(a.get("category", "other"), a.get("block_type") or None)] = None
        kinds = {a.get("kind", "plain") for _, _, a in self.view_graph.graph.edges(data=True)}
        self.view.legend.set_content(list(seen), [k for k in EDGE_KINDS if k in kinds])
        self.view.place_legend()

    def _on_fold_toggled(self) -> None:
        if self.state is not None:
            import dataclasses

            self._change_state(dataclasses.replace(self.state, fold=self.fold_button.isChecked(),
                                                   unfolded=frozenset()))

    def _on_selection(self) -> None:
        unit = self.scene.selected_unit()
        if unit is None or self.view_graph is None:
            return
        members = self.view_graph.graph.nodes[unit].get("members") or [unit]
        node_id = unit if unit in self.graph.graph else self._output_member(unit, members)
        self._show_details(unit, node_id if unit in self.graph.graph else None)
        self.node_selected.emit(node_id)

    def _output_member(self, unit: str, members: list[str]) -> str:
        member_set = set(members)
        for node_id in reversed(members):
            if any(s not in member_set for s in self.graph.graph.successors(node_id)):
                return node_id
        return members[-1]

    def _show_details(self, unit: str, node_id: str | None) -> None:
        unit_attrs = self.view_graph.graph.nodes[unit]
        if unit_attrs.get("unit") == "node":
            attrs = dict(self.graph.graph.nodes[unit])
            title = attrs.get("module_path") or unit
            extra = [("node id", unit)]
        else:
            attrs = dict(unit_attrs)
            title = unit_attrs.get("module_path") or unit
            extra = [("layers", str(len(unit_attrs.get("members", []))))]
            if node_id and node_id != unit:
                found = self.graph.graph.nodes[node_id]
                extra.append(("search hit", f"{found.get('module_path') or node_id} ({found.get('summary', '')})"))
        self.details_widget.show_node(title, attrs, note_for(attrs), extra)

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export graph", "graph.png",
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            try:
                self.export(path)
            except UserError as exc:
                self._set_banner(str(exc))

    def closeEvent(self, event) -> None:
        self._generation += 1  # late replies and thread results are ignored from now on
        super().closeEvent(event)
