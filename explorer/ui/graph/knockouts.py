"""The graph and the session's knockouts.

:class:`GraphKnockoutMenu`: right-click a node or a closed block to switch off the
Inception branch, residual shortcut, dense-layer input group or auxiliary head it belongs
to. The choice goes to the session's knockout list (``set_knockouts``); the Knockout tab
measures it. Only the graph is read here (milliseconds).

:class:`GraphKnockoutMarks`: the graph shows the network as it runs now, the session's
knockouts drawn struck through (see :mod:`explorer.explain.knockout_view` for where, and
:mod:`explorer.ui.graph.knockout_style` for how).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtWidgets import QGraphicsView, QMenu

from explorer.errors import UserError
from explorer.explain.knockout_choices import knockout_choices
from explorer.explain.knockout_spec import Knockout, parse_knockout
from explorer.explain.knockout_view import ViewMarks, view_marks
from explorer.graph import ModelGraph, ViewGraph
from explorer.session import Session
from explorer.ui.graph.items import NodeItem
from explorer.ui.graph.scene import GraphScene
from explorer.ui.subscriptions import Subscriptions


class GraphKnockoutMarks(QObject):
    """Keeps the graph's knockout marks in step with the session: on another knockout
    list, on another model (none then) and on every new view (another model, blocks opened
    or closed). The specs are parsed against the session's loaded module; while it loads
    (other weights) the specs read last are kept: knockouts name modules, not weights.

    Attributes:
        marks: what the scene draws now (empty: nothing knocked out, or no graph).
        knockouts: the parsed knockouts those marks show.
    """

    def __init__(self, scene: GraphScene, session: Session,
                 shown: Callable[[], tuple[ModelGraph | None, ViewGraph | None]],
                 on_marks: Callable[[ViewMarks], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.session = session
        self._shown = shown  # the panel's (graph, view), either None while preparing
        self._on_marks = on_marks
        self._read: tuple[tuple[str, tuple[str, ...]], list[Knockout]] | None = None
        self.knockouts: list[Knockout] = []
        self.marks = ViewMarks()
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.knockouts_changed, lambda _s: self.apply())
        self._subscriptions.connect(session.model_changed, self._on_model_changed)
        scene.populated.connect(self.apply)

    def _on_model_changed(self, _session: Session, change: str) -> None:
        if change in ("model", "loaded"):  # another model has none; a loaded one is read
            self.apply()

    def _parse(self, graph: ModelGraph) -> list[Knockout]:
        specs = self.session.knockouts
        if not specs or graph.name != self.session.model_name:
            return []
        key = (graph.name, specs)
        if self._read is not None and self._read[0] == key:
            return self._read[1]
        module = self.session.module
        if module is None:  # loading: nothing to read the specs against yet
            return []
        out = []
        for spec in dict.fromkeys(specs):
            try:
                out.append(parse_knockout(spec, graph, module))
            except UserError:
                continue  # a spec this graph cannot show: the Knockout pane says why
        self._read = (key, out)
        return out

    def apply(self) -> None:
        """Draw the session's knockouts on the view shown (or clear them)."""
        graph, view = self._shown()
        self.knockouts = self._parse(graph) if graph is not None and view is not None else []
        self.marks = view_marks(self.knockouts, graph, view) if self.knockouts else ViewMarks()
        self.scene.set_knockout_marks(self.marks)
        if self._on_marks is not None:
            self._on_marks(self.marks)

    def stop(self) -> None:
        self._subscriptions.clear()


class GraphKnockoutMenu(QObject):
    """Owns the graph view's context menu (one menu, rebuilt per click, shown with popup).

    Attributes:
        menu: the menu last shown (tests trigger its actions).
        choices: its (label, spec) pairs.
    """

    def __init__(self, view: QGraphicsView, session: Session, graph_of, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.session = session
        self._graph_of = graph_of  # returns the panel's ModelGraph (or None while loading)
        self.menu = QMenu(view)
        self.choices: list[tuple[str, str]] = []
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._on_requested)

    def unit_at(self, pos: QPoint) -> str | None:
        item = self.view.itemAt(pos)
        while item is not None and not isinstance(item, NodeItem):
            item = item.parentItem()
        return item.unit if item is not None else None

    def _on_requested(self, pos: QPoint) -> None:
        graph = self._graph_of()
        unit = self.unit_at(pos)
        module = self.session.module
        if graph is None or unit is None or module is None or graph.name != self.session.model_name:
            return
        self.choices = [(label, spec) for label, spec in knockout_choices(graph, module, unit)
                        if spec not in self.session.knockouts]
        if not self.choices:
            return
        self.menu.clear()
        for label, spec in self.choices:
            action = self.menu.addAction(label)
            action.setData(spec)
            action.triggered.connect(self._on_triggered)
        self.menu.popup(self.view.viewport().mapToGlobal(pos))

    def _on_triggered(self) -> None:
        action = self.sender()
        spec = action.data() if action is not None else None
        if spec and spec not in self.session.knockouts:
            self.session.set_knockouts((*self.session.knockouts, spec))
