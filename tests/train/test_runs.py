"""The run table: names, status (stopped, completed, interrupted), CSV export, the CLI."""

from __future__ import annotations

import csv
import json

import pytest

from explorer.cli import main
from explorer.errors import UserError
from explorer.train import RunHistory, RunRecord, TrainConfig, TrainControl, Trainer
from explorer.train.checkpoint import CheckpointLock
from explorer.train.runs import export_curves_csv, find_run, run_row, run_status


def train_run(tiny_data, model, tmp_path, name, epochs=2, stop=False):
    cfg = TrainConfig(model="tiny", epochs=epochs, batch_size=64, lr=3e-3, optimizer="adam", device="cpu")
    control = TrainControl()
    trainer = Trainer(cfg, data=tiny_data, model=model, history=RunHistory(),
                      checkpoint_path=tmp_path / f"{name}.pt", control=control)
    for event in trainer.run():
        if stop and getattr(event, "epoch", 0) == 2 and type(event).__name__ == "EpochMetrics":
            control.stop()
    return trainer.record


def test_status_tells_stopped_completed_interrupted_and_running(tiny_data, make_tiny, tmp_path):
    done = train_run(tiny_data, make_tiny(), tmp_path, "a", epochs=2)
    stopped = train_run(tiny_data, make_tiny(), tmp_path, "b", epochs=5, stop=True)
    assert run_status(done) == "completed" and run_status(stopped) == "stopped"
    killed = RunRecord(run_id="k", model="tiny", config={}, status="running", checkpoint=str(tmp_path / "k.pt"))
    assert run_status(killed) == "interrupted"
    with CheckpointLock(tmp_path / "k.pt"):
        assert run_status(killed) == "running"
    row = run_row(stopped)
    assert row["epochs_done"] == 2 and row["options"]["epochs"] == 5
    assert row["snapshot_epochs"] == [0, 1, 2] and 0 <= row["final"]["test_acc"] <= 1


def test_names_survive_and_find_run_matches(tiny_data, make_tiny, tmp_path):
    record = train_run(tiny_data, make_tiny(), tmp_path, "a", epochs=1)
    history = RunHistory()
    history.rename(record.run_id, "  baseline ")
    assert find_run(history, "baseline").run_id == record.run_id
    assert find_run(history, record.run_id[:10]).name == "baseline"
    assert history.load(record.run_id).label.startswith("baseline")
    with pytest.raises(UserError, match="no run"):
        find_run(history, "nothing-like-it")


def test_foreign_json_in_the_run_folder_is_not_listed(tmp_path):
    history = RunHistory(tmp_path)
    history.save(RunRecord(run_id="mine", model="tiny", config={}))
    (tmp_path / "other.json").write_text(json.dumps({"run_id": "mine", "model": "x", "config": {}}))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.warns(UserWarning):
        runs = history.list_runs()
    assert [r.run_id for r in runs] == ["mine"]


def test_csv_has_one_row_per_epoch(tiny_data, make_tiny, tmp_path):
    record = train_run(tiny_data, make_tiny(), tmp_path, "a", epochs=2)
    rows = list(csv.DictReader(export_curves_csv(record, tmp_path / "c.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[1]["test_acc"]) == record.curves["test_acc"][1]
    with pytest.raises(UserError, match="no finished epoch"):
        export_curves_csv(RunRecord(run_id="e", model="m", config={}), tmp_path / "e.csv")


def test_cli_lists_renames_and_exports(tiny_data, make_tiny, tmp_path, capsys):
    record = train_run(tiny_data, make_tiny(), tmp_path, "a", epochs=1)
    assert main(["runs", "rename", record.run_id, "first"]) == 0
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["status"]) for r in rows] == [("first", "completed")]
    assert main(["runs"]) == 0
    assert "first" in capsys.readouterr().out
    assert main(["runs", "export", "first", "--csv", str(tmp_path / "x.csv")]) == 0
    assert len(list(csv.DictReader((tmp_path / "x.csv").open()))) == 1
    assert main(["runs", "export", "missing", "--csv", str(tmp_path / "y.csv")]) == 1
    assert "no run" in capsys.readouterr().err
