"""The table of runs in the Training tab: sorting, renaming in place (persisted), overlays
by selection, the smoothing slider, CSV and PNG export, and a stopped run that does not
look finished."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QLabel, QLineEdit, QSlider

from explorer.session import Session
from explorer.train import RunHistory, RunRecord
from explorer.train.records import Curves
from explorer.ui.training.panel import TrainingPanel
from explorer.ui.training.runs_model import COLUMNS, STATUS

from .export_checks import assert_export_is_safe


def column(title: str) -> int:
    return [c[0] for c in COLUMNS].index(title)


def record(run_id: str, status: str, test_acc: list[float], lr: float, checkpoint: str | None = None) -> RunRecord:
    epochs = list(range(1, len(test_acc) + 1))
    return RunRecord(
        run_id=run_id, model="lenet_small", config={"optimizer": "adam", "lr": lr, "batch_size": 32, "epochs": 3},
        status=status, started=f"2026-01-0{run_id[-1]}T10:00:00",
        curves={"epoch": epochs, "train_acc": [a + 0.01 for a in test_acc], "test_acc": test_acc,
                "train_loss": [1.0 / e for e in epochs], "lr": [lr] * len(epochs),
                "batch_loss": [1.0, 0.2, 0.9, 0.1, 0.8, 0.15]},
        final={"test_acc": test_acc[-1], "train_acc": test_acc[-1] + 0.01, "epochs": len(epochs)},
        checkpoint=checkpoint)


@pytest.fixture
def history(tmp_path):
    history = RunHistory(tmp_path / "runs")
    snapshots = tmp_path / "ckpt" / "b.epochs"
    snapshots.mkdir(parents=True)
    (snapshots / "epoch-0000.pt").write_bytes(b"\0" * (3 * 2**20 // 2))  # 1.5 MB of snapshots
    history.save(record("run-1", "completed", [0.5, 0.7, 0.8], 0.01))
    history.save(record("run-2", "stopped", [0.6, 0.9], 0.001, checkpoint=str(tmp_path / "ckpt" / "b.pt")))
    history.save(record("run-3", "completed", [0.4, 0.6, 0.65], 0.1))
    # A run of another run folder (another app or a test's) is never listed.
    RunHistory(tmp_path / "elsewhere").save(record("run-9", "completed", [0.99], 0.01))
    return history


@pytest.fixture
def panel(qtbot, history):
    session = Session()
    widget = TrainingPanel(session, history=history)
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    widget.view.pages.setCurrentWidget(widget.runs)
    yield widget
    widget.shutdown()


def cell(table, row: int, title: str):
    return table.model().index(row, column(title))


def test_only_this_apps_runs_are_listed_and_they_sort(panel):
    runs = panel.runs
    assert sorted(runs.run_ids()) == ["run-1", "run-2", "run-3"]
    header = runs.table.horizontalHeader()
    header.sectionClicked.emit(column("Test acc"))  # what a click on the header does
    runs.table.sortByColumn(column("Test acc"), Qt.SortOrder.AscendingOrder)
    assert runs.run_ids() == ["run-3", "run-1", "run-2"]
    runs.table.sortByColumn(column("Test acc"), Qt.SortOrder.DescendingOrder)
    assert runs.run_ids() == ["run-2", "run-1", "run-3"]
    runs.table.sortByColumn(column("LR"), Qt.SortOrder.AscendingOrder)  # numerically, not as text
    assert runs.run_ids() == ["run-2", "run-1", "run-3"]
    row = runs.row_of("run-2")
    assert cell(runs.table, row, "Snapshots MB").data() == "1.5"
    assert cell(runs.table, runs.row_of("run-1"), "Snapshots MB").data() == "0.0"
    assert cell(runs.table, row, "Epochs").data() == "2"


def test_a_stopped_run_looks_unlike_a_finished_one(panel):
    table = panel.runs.table
    stopped = table.model().index(panel.runs.row_of("run-2"), STATUS)
    finished = table.model().index(panel.runs.row_of("run-1"), STATUS)
    assert (stopped.data(), finished.data()) == ("stopped", "finished")
    assert stopped.data(Qt.ItemDataRole.ForegroundRole) != finished.data(Qt.ItemDataRole.ForegroundRole)
    assert stopped.data(Qt.ItemDataRole.FontRole).italic() and not finished.data(Qt.ItemDataRole.FontRole).italic()


def test_renaming_in_place_is_written_to_the_run_record(qtbot, panel, history):
    table = panel.runs.table
    index = cell(table, panel.runs.row_of("run-1"), "Name")
    assert index.data() == "run-1"  # unnamed: the id stands in
    table.setCurrentIndex(index)
    table.edit(index)
    editor = table.viewport().findChild(QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, "baseline adam")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on a queued call
    qtbot.waitUntil(lambda: history.load("run-1").name == "baseline adam", timeout=10_000)
    assert RunHistory(history.folder).load("run-1").name == "baseline adam"  # on disk
    assert cell(table, panel.runs.row_of("run-1"), "Name").data() == "baseline adam"


def test_selected_runs_are_overlaid(panel):
    runs, curves = panel.runs, panel.view.curves
    table = runs.table
    table.selectRow(runs.row_of("run-1"))
    assert curves.overlays == ["run-1"]
    selection = table.selectionModel()
    selection.select(table.model().index(runs.row_of("run-3"), 0),
                     selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
    assert sorted(curves.overlays) == ["run-1", "run-3"]
    assert curves.overlay_points("run-3") == [1.0, 2.0, 3.0]
    panel.refresh_runs()  # a new epoch elsewhere reloads the table: the overlays stay
    assert sorted(curves.overlays) == ["run-1", "run-3"] and runs.selected == {"run-1", "run-3"}
    table.clearSelection()
    assert curves.overlays == []


def test_smoothing_slider_changes_the_drawn_loss(panel):
    curves = panel.view.curves
    curves.show_past_epochs(Curves.from_dict({"epoch": [1, 2], "train_acc": [0.5, 0.6], "val_acc": [0.4, 0.45],
                                              "test_acc": [0.4, 0.5], "batch_loss": [1.0, 0.2, 0.9, 0.1, 0.8, 0.15]}))
    before = curves.series("smooth_loss")[1]
    slider = panel.findChild(QSlider, "smoothing")
    slider.setValue(0)
    raw = curves.series("loss")[1]
    assert curves.series("smooth_loss")[1] == pytest.approx(raw)  # no smoothing: the raw points
    slider.setValue(90)
    smooth = curves.series("smooth_loss")[1]
    assert smooth != pytest.approx(before) and smooth != pytest.approx(raw)
    assert max(smooth) - min(smooth) < max(raw) - min(raw)
    assert panel.findChild(QLabel, "smoothing_value").text() == "0.90"


def test_export_csv_and_png_write_files_and_say_so(qtbot, panel, tmp_path, monkeypatch):
    messages = []
    panel._session.message.connect(messages.append)
    runs = panel.runs
    runs.table.selectRow(runs.row_of("run-2"))
    target = tmp_path / "out.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV files (*.csv)"))
    qtbot.mouseClick(runs.csv_button, Qt.MouseButton.LeftButton)
    rows = list(csv.DictReader(target.open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and [float(r["test_acc"]) for r in rows] == [0.6, 0.9]
    assert str(target) in messages[-1]
    picture = tmp_path / "plots.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(picture), "PNG images (*.png)"))
    qtbot.mouseClick(runs.png_button, Qt.MouseButton.LeftButton)
    image = QImage(str(picture))
    assert not image.isNull() and image.width() > 300 and str(picture) in messages[-1]


@pytest.mark.parametrize("kind", ["png", "csv"])
def test_exports_ask_before_replacing_keep_the_old_file_on_a_full_disk_and_avoid_the_runs_folder(
        panel, tmp_path, monkeypatch, kind):
    messages = [""]
    panel._session.message.connect(messages.append)
    runs = panel.runs
    runs.table.selectRow(runs.row_of("run-2"))
    export = runs.export_png if kind == "png" else runs.export_csv
    folder = tmp_path / "exports"
    folder.mkdir()
    assert_export_is_safe(lambda path, confirmed: export(str(path), confirmed=confirmed), lambda: messages[-1],
                          folder, f"curves.{kind}", monkeypatch)
