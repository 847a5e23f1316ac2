"""The model picker: a searchable tree of the zoo, grouped by family, with years, and
groups of models from elsewhere (torchvision's other classifiers, the user's own files)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QLabel, QLineEdit, QTreeView, QVBoxLayout, QWidget

from explorer.ui.theme import secondary

NAME_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclasses.dataclass(frozen=True)
class PickerEntry:
    """One model of a group that is not the zoo's.

    Attributes:
        name: what choosing it emits (a torchvision name, a file's source string).
        label: the row's text.
        tooltip: the row's tooltip, which is also what the search matches.
    """

    name: str
    label: str
    tooltip: str


@dataclasses.dataclass(frozen=True)
class _Group:
    entries: tuple[PickerEntry, ...]
    first: bool
    expanded: bool


class ModelPicker(QWidget):
    """Shows every registered model under its family; emits ``model_chosen(name)``.

    It is given plain ``ModelInfo`` records (no torch needed to show it), and stays usable
    while they load: until ``set_models`` is called it says so. Groups of other models
    (``set_group``) sit above (the user's files) or below (torchvision) the zoo and stay when
    the zoo's list is replaced.
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
        self._status.setWordWrap(True)  # the other groups' counts must not widen the dock

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._search)
        layout.addWidget(self._tree, 1)
        layout.addWidget(self._status)

        self._search.textChanged.connect(self._on_search)
        self._tree.activated.connect(self._on_activated)
        self._tree.clicked.connect(self._on_activated)
        self._items: dict[str, QStandardItem] = {}
        self._zoo: list[str] = []
        self._families = 0
        self._groups: dict[str, _Group] = {}
        self._group_rows: dict[str, QStandardItem] = {}

    def set_models(self, infos: Sequence) -> None:
        """Fill the tree from ModelInfo records, keeping registry (paper) order."""
        self._model.clear()
        self._items.clear()
        self._group_rows.clear()
        families: dict[str, QStandardItem] = {}
        for info in infos:
            family = families.get(info.family)
            if family is None:
                family = _family_row(info.family)
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
        self._zoo = [info.name for info in infos]
        self._families = len(families)
        for name in self._groups:
            self._fill_group(name)
        self._expand()
        self._show_count()

    def set_group(self, family: str, entries: Sequence[PickerEntry], *, first: bool = False,
                  expanded: bool = True) -> None:
        """Show ``entries`` under ``family`` above the zoo (``first``) or below it, in the
        order given; no entries, no group. The zoo's names (``names``) do not include them."""
        self._groups[family] = _Group(tuple(entries), first, expanded)
        self._fill_group(family)
        self._expand()
        self._show_count()

    def group_names(self, family: str) -> list[str]:
        """The names listed under ``family`` (a group of ``set_group``)."""
        group = self._groups.get(family)
        return [entry.name for entry in group.entries] if group is not None else []

    def _fill_group(self, family: str) -> None:
        old = self._group_rows.pop(family, None)
        if old is not None:
            for row in range(old.rowCount()):
                name = old.child(row).data(NAME_ROLE)
                if self._items.get(name) is old.child(row):
                    del self._items[name]
            self._model.removeRow(old.row())
        group = self._groups[family]
        if not group.entries:
            return
        row = _family_row(family)
        for entry in group.entries:
            item = QStandardItem(entry.label)
            item.setData(entry.name, NAME_ROLE)
            item.setToolTip(entry.tooltip)
            row.appendRow(item)
            self._items.setdefault(entry.name, item)  # a zoo model keeps its own row
        if group.first:
            self._model.insertRow(0, row)
        else:
            self._model.appendRow(row)
        self._group_rows[family] = row

    def _expand(self) -> None:
        """Everything open, but a collapsed group while no search is typed (torchvision's
        64 classifiers would push the zoo's last families out of sight)."""
        self._tree.expandAll()
        if self._search.text():
            return
        for family, row in self._group_rows.items():
            if not self._groups[family].expanded:
                self._tree.collapse(self._proxy.mapFromSource(row.index()))

    def _show_count(self) -> None:
        if not self._zoo:
            return
        text = f"{len(self._zoo)} models in {self._families} families"
        others = [f"{len(group.entries)} in {family}" for family, group in self._groups.items() if group.entries]
        self._status.setText(", ".join([text, *others]))

    def select(self, name: str) -> None:
        """Highlight ``name`` in the tree without emitting ``model_chosen`` (nothing, when it
        is not listed)."""
        item = self._items.get(name)
        if item is None:
            self._tree.setCurrentIndex(self._proxy.index(-1, -1))
            self._tree.clearSelection()
            return
        index = self._proxy.mapFromSource(item.index())
        self._tree.setCurrentIndex(index)
        self._tree.scrollTo(index)

    @property
    def names(self) -> list[str]:
        """Every zoo model listed, in registry order (not the other groups')."""
        return list(self._zoo)

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
        self._expand()

    def _on_activated(self, index) -> None:
        name = index.data(NAME_ROLE)
        if name:
            self.model_chosen.emit(name)


def entries_of(infos: Sequence) -> list[PickerEntry]:
    """Rows for ModelInfo records outside the zoo (torchvision's), labelled as the zoo's are."""
    return [PickerEntry(info.name, f"{info.title}  ({info.year})" if info.year else info.title,
                        f"{info.name} · {info.family} · {info.year or ''} · {info.form}\n{info.paper}")
            for info in infos]


def _family_row(family: str) -> QStandardItem:
    row = QStandardItem(family)
    row.setSelectable(False)
    row.setToolTip(family)
    font = row.font()
    font.setBold(True)
    row.setFont(font)
    return row
