"""The graph's context menu for the knockout lab: right-click a node or a closed block to
switch off the Inception branch, residual shortcut, dense-layer input group or auxiliary
head it belongs to. The choice goes to the session's knockout list (``set_knockouts``);
the Knockout tab measures it. Only the graph is read here (milliseconds).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtWidgets import QGraphicsView, QMenu

from explorer.explain.knockout_choices import knockout_choices
from explorer.session import Session
from explorer.ui.graph.items import NodeItem


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
