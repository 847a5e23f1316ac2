"""The model picker: a searchable tree of the zoo, grouped by family, with years."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QLabel, QLineEdit, QTreeView, QVBoxLayout, QWidget

from explorer.ui.theme import secondary

NAME_ROLE = Qt.ItemDataRole.UserRole + 1


class ModelPicker(QWidget):
    """Shows every registered model under its family; emits ``model_chosen(name)``.

    It is given plain ``ModelInfo`` records (no torch needed to show it), and stays usable
    while they load: until ``set_models`` is called it says so.
    """

    model_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._search = QLineEdit(placeholderText="Search models (name, family, year)…")
        self._search.setClearButtonEnabled(True)
        self._model = QStandardItemModel(self)
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self._model)
        self._proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._proxy.setRecursiveFilteringEnabled(True)
        self._proxy.setFilterRole(Qt.ItemDataRole.ToolTipRole)
        self._tree = QTreeView()
        self._tree.setModel(self._proxy)
        self._tree.setHeaderHidden(True)
        self._tree.setUniformRowHeights(True)
        self._tree.setEditTriggers(QTreeView.EditTrigger.NoEditTriggers)
        self._status = secondary(QLabel("Loading the model zoo…"))
        self._status.setContentsMargins(2, 2, 2, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._search)
        layout.addWidget(self._tree, 1)
        layout.addWidget(self._status)

        self._search.textChanged.connect(self._on_search)
        self._tree.activated.connect(self._on_activated)
        self._tree.clicked.connect(self._on_activated)
        self._items: dict[str, QStandardItem] = {}

    def set_models(self, infos: Sequence) -> None:
        """Fill the tree from ModelInfo records, keeping registry (paper) order."""
        self._model.clear()
        self._items.clear()
        families: dict[str, QStandardItem] = {}
        for info in infos:
            family = families.get(info.family)
            if family is None:
                family = QStandardItem(info.family)
                family.setSelectable(False)
                family.setToolTip(info.family)
                font = family.font()
                font.setBold(True)
                family.setFont(font)
                families[info.family] = family
                self._model.appendRow(family)
            # A small form sits under the reference model whose topology it keeps.
            parent = self._items.get(info.small_of) if info.form == "small" else None
            if parent is None:
                label = f"{info.title}  ({info.year})"
            else:
                height, width = info.input_size
                label = f"small · Fashion-MNIST {height}×{width}"
            item = QStandardItem(label)
            item.setData(info.name, NAME_ROLE)
            # The tooltip doubles as the search text: name, family, year, form and paper.
            item.setToolTip(
                f"{info.name} · {info.family} · {info.year} · {info.form}\n{info.paper}"
            )
            (parent or family).appendRow(item)
            self._items[info.name] = item
        self._tree.expandAll()
        self._status.setText(f"{len(infos)} models in {len(families)} families")

    def select(self, name: str) -> None:
        """Highlight ``name`` in the tree without emitting ``model_chosen``."""
        item = self._items.get(name)
        if item is None:
            return
        index = self._proxy.mapFromSource(item.index())
        self._tree.setCurrentIndex(index)
        self._tree.scrollTo(index)

    @property
    def names(self) -> list[str]:
        """Every model listed, in registry order."""
        return list(self._items)

    def row_rect(self, name: str):
        """Where ``name``'s row is drawn in ``tree.viewport()`` (scrolled into view first)."""
        index = self._proxy.mapFromSource(self._items[name].index())
        self._tree.scrollTo(index)
        return self._tree.visualRect(index)

    @property
    def tree(self) -> QTreeView:
        return self._tree

    def set_status(self, text: str) -> None:
        self._status.setText(text)

    def _on_search(self, text: str) -> None:
        self._proxy.setFilterFixedString(text)
        self._tree.expandAll()

    def _on_activated(self, index) -> None:
        name = index.data(NAME_ROLE)
        if name:
            self.model_chosen.emit(name)
