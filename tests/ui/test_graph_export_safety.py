"""The window's graph export (issue 17): it asks before replacing an existing file the save
dialog did not ask about, never writes into the app's own folders, and on a full disk keeps
the old file and says why in the banner."""

from __future__ import annotations

import errno

import pytest
from PySide6.QtWidgets import QMessageBox
from torch import nn

from explorer import files
from explorer.session import Session
from explorer.train.history import runs_dir
from explorer.ui.graph.panel import GraphPanel

OLD = b"an older drawing\n"


def _small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))


@pytest.fixture
def panel(qtbot):
    widget = GraphPanel(Session())
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    with qtbot.waitSignal(widget.graph_ready, timeout=30000):
        widget.show_module(_small(), (1, 1, 28, 28), "small")
    return widget


@pytest.fixture
def answers(monkeypatch):
    """Answer the replace question from a list; record each question's text."""
    asked: list[str] = []
    replies: list[QMessageBox.StandardButton] = []

    def question(_parent, _title, text, *args, **kwargs):
        asked.append(text)
        return replies.pop(0)

    monkeypatch.setattr("explorer.ui.file_export.QMessageBox.question", question)
    return asked, replies


@pytest.mark.parametrize("suffix", [".svg", ".png", ".json"])
def test_an_existing_file_is_replaced_only_when_the_user_agrees(panel, answers, tmp_path, suffix):
    asked, replies = answers
    target = tmp_path / f"g{suffix}"
    target.write_bytes(OLD)
    replies.append(QMessageBox.StandardButton.No)
    assert panel.export_to(target) is None
    assert target.read_bytes() == OLD and len(asked) == 1 and target.name in asked[0]
    replies.append(QMessageBox.StandardButton.Yes)
    assert panel.export_to(target) == target
    assert target.read_bytes() != OLD and len(asked) == 2


def test_a_new_file_or_one_the_dialog_confirmed_is_not_asked_about(panel, answers, tmp_path):
    asked, _replies = answers
    assert panel.export_to(tmp_path / "new.svg") is not None
    assert panel.export_to(tmp_path / "new.svg", confirmed=True) is not None
    assert asked == []


def test_a_suffix_added_from_the_filter_names_a_file_the_dialog_never_asked_about(
        panel, answers, tmp_path, monkeypatch):
    asked, replies = answers
    existing = tmp_path / "view.svg"
    existing.write_bytes(OLD)
    monkeypatch.setattr("explorer.ui.graph.panel.QFileDialog.getSaveFileName",
                        lambda _parent, _title, _default, filters, _selected: (str(tmp_path / "view"),
                                                                                filters.split(";;")[0]))
    replies.append(QMessageBox.StandardButton.No)
    panel.export_dialog()
    assert len(asked) == 1 and existing.read_bytes() == OLD


def test_the_runs_folder_is_refused(panel, tmp_path):
    folder = runs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "20260101-000000-lenet5.json"
    record.write_bytes(OLD)
    assert panel.export_to(record, confirmed=True) is None
    assert record.read_bytes() == OLD
    assert panel.banner.isVisible() and "refusing to write" in panel.banner.text()


@pytest.mark.parametrize("suffix", [".svg", ".png", ".json"])
def test_full_disk_keeps_the_old_file(panel, tmp_path, monkeypatch, suffix):
    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(files, "write_temporary", no_space)
    saved: list[str] = []
    panel.exported.connect(saved.append)
    target = tmp_path / f"g{suffix}"
    target.write_bytes(OLD)
    assert panel.export_to(target, confirmed=True) is None
    assert target.read_bytes() == OLD and [p.name for p in tmp_path.iterdir()] == [target.name]
    assert "disk full (" in panel.banner.text() and saved == []
