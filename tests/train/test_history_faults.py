"""Fault cases for run records and what reads them (issue 17): every malformed record
shape, deep nesting and FIFOs are skipped with a one-line warning naming the file; a
rename and the trainer's save never undo each other; names with control characters are
refused; an unrecordable run fails before training; a failed start leaves no lock; a
damaged epoch summary costs only its epoch."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.errors import UserError
from explorer.train import RunHistory, RunRecord, TrainConfig
from explorer.train.checkpoint import CheckpointLock
from explorer.train.history import NAME_LIMIT, check_name
from explorer.train.journal import RunJournal
from explorer.train.records import Curves, FinalFigures
from explorer.train.runs import checkpoint_held, run_status

GOOD = {
    "run_id": "run-good", "model": "lenet_small", "status": "completed", "started": "2026-01-01T10:00:00",
    "finished": "2026-01-01T10:05:00", "config": {"optimizer": "adam", "lr": 0.003, "batch_size": 32, "epochs": 1},
    "curves": {"epoch": [1], "test_acc": [0.8], "batch_loss": [1.0, float("nan")]},
    "final": {"epochs": 1, "test_acc": 0.8, "images_per_s": 900.0, "device": "cpu"},
    "message": "", "checkpoint": None, "name": "",
}

MALFORMED = {
    "final is a list": {"final": []},
    "final metric is text": {"final": {"test_acc": "0.9"}},
    "config is text": {"config": "x"},
    "config nested deep": {"config": {"a": [[[[[1]]]]]}},
    "name is a number": {"name": 123},
    "model is null": {"model": None},
    "model is empty": {"model": ""},
    "status is a list": {"status": ["completed"]},
    "status is unknown": {"status": "exploded"},
    "checkpoint is a number": {"checkpoint": 5},
    "finished is a number": {"finished": 5},
    "started is a table": {"started": {}},
    "message is a list": {"message": []},
    "curves is a list": {"curves": [1, 2]},
    "curve is text": {"curves": {"epoch": "x"}},
    "curve holds text": {"curves": {"epoch": [1, "2"]}},
    "curve holds a table": {"curves": {"test_acc": [{}]}},
    "curves ragged": {"curves": {"epoch": [1, 2], "test_acc": [0.8]}},
    "curve of an unknown metric": {"curves": {"epoch": [1], "top5_acc": [0.9]}},
    "final of an unknown figure": {"final": {"top5_acc": 0.9}},
    "final epochs a fraction": {"final": {"epochs": 1.5}},
    "model with an escape": {"model": "lenet\x1b[2J"},
    "run_id missing": {"run_id": None},
}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def runs(isolated_folders) -> Path:
    """The app's own runs folder (what `cnn-explorer runs` and the window read), with one
    good record."""
    folder = isolated_folders / "data-home" / "runs"
    write(folder, "run-good.json", json.dumps(GOOD))
    return folder


def listed(capsys) -> tuple[int, list[str], str]:
    """`runs` and `runs --json`: exit codes agree; the ids listed; the warnings of the
    table, one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["runs"])
    out, _ = capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["runs", "--json"]) == code
    ids = [row["run_id"] for row in json.loads(capsys.readouterr().out)]
    assert all(run_id in out for run_id in ids)
    return code, ids, "".join(f"warning: {w.message}\n" for w in caught)


@pytest.mark.parametrize("change", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_record_is_skipped_with_one_line_naming_it(change, runs, capsys):
    bad = write(runs, "run-bad.json", json.dumps({**GOOD, "run_id": "run-bad", **change}))
    with pytest.warns(UserWarning, match="skipping unreadable run record") as caught:
        records = RunHistory(runs).list_runs()
    assert [r.run_id for r in records] == ["run-good"]
    assert len(caught) == 1 and str(bad) in str(caught[0].message) and "\n" not in str(caught[0].message)
    code, ids, err = listed(capsys)
    assert code == 0 and ids == ["run-good"]
    assert err.count("\n") == 1 and err.startswith("warning: skipping unreadable run record") and str(bad) in err


@pytest.mark.parametrize("text", [
    "[" * 200_000 + "]" * 200_000,
    '{"run_id": "run-bad", "config": ' + "[" * 200_000 + "]" * 200_000 + "}",
    "not json", "", "\xff\xfe", "null", "[]",
], ids=["array 200000 deep", "config 200000 deep", "not json", "empty", "not utf-8", "null", "a list"])
def test_deep_nesting_and_non_records_are_skipped(text, runs, capsys):
    path = runs / "run-bad.json"
    path.write_bytes(text.encode("latin-1") if text == "\xff\xfe" else text.encode())
    code, ids, err = listed(capsys)
    assert code == 0 and ids == ["run-good"] and str(path) in err and err.count("\n") == 1


def test_skipped_everywhere_the_app_reads_runs(runs):
    """The scoreboard and the weights selector read through the same check."""
    from explorer.loading import available_weights
    from explorer.metrics.scoreboard import small_points

    write(runs, "run-bad.json", json.dumps({**GOOD, "run_id": "run-bad", "final": [], "checkpoint": 5}))
    with pytest.warns(UserWarning, match="run-bad.json"):
        points = small_points(RunHistory(runs))
    assert [p.get("run_id") for p in points if p["source"] == "run"] == ["run-good"]
    with pytest.warns(UserWarning, match="run-bad.json"):
        assert [c.kind for c in available_weights("lenet_small")][-1] == "random"


def test_the_cli_prints_each_skipped_record_in_one_line(runs):
    """Through the real entry point: stderr has one line per damaged file, stdout the rest."""
    for i, change in enumerate(list(MALFORMED.values())[:4]):
        write(runs, f"run-bad{i}.json", json.dumps({**GOOD, "run_id": f"run-bad{i}", **change}))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "explorer", "runs"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0 and "run-good" in done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 4 and all(line.startswith("warning: skipping unreadable run record") for line in lines)
    assert [f"run-bad{i}.json" in line for i, line in enumerate(lines)] == [True] * 4


def test_a_name_with_control_characters_from_an_older_version_is_shown_without_them(runs, capsys):
    write(runs, "run-old.json", json.dumps({**GOOD, "run_id": "run-old", "name": "a\nb\x1b[31mc"}))
    assert RunHistory(runs).load("run-old").name == "a b [31mc"
    assert main(["runs"]) == 0
    assert "\x1b" not in capsys.readouterr().out


@pytest.mark.timeout(20)
def test_a_fifo_named_like_a_record_does_not_hang_the_listing(runs, capsys):
    os.mkfifo(runs / "x.json")
    code, ids, err = listed(capsys)
    assert code == 0 and ids == ["run-good"] and "x.json: not a regular file" in err


@pytest.mark.timeout(20)
def test_a_fifo_as_a_runs_lock_files_does_not_hang_anything(runs, tmp_path, capsys):
    checkpoint = tmp_path / "ck.pt"
    write(runs, "run-live.json", json.dumps({**GOOD, "run_id": "run-live", "status": "running",
                                              "finished": None, "checkpoint": str(checkpoint)}))
    os.mkfifo(tmp_path / ".ck.pt.lock")  # the checkpoint's lock
    os.mkfifo(runs / ".run-live.json.lock")  # the record's update lock
    assert not checkpoint_held(checkpoint)
    code, ids, _ = listed(capsys)
    assert code == 0 and sorted(ids) == ["run-good", "run-live"]
    record = RunHistory(runs).load("run-live")
    assert run_status(record) == "interrupted"
    with pytest.raises(UserError, match="not a regular file"):
        RunHistory(runs).rename("run-live", "x")
    with pytest.raises(UserError, match="not a regular file"):
        CheckpointLock(checkpoint).acquire()


# ---------------------------------------------------------------- the rename race


def journal(history: RunHistory, run_id: str) -> RunJournal:
    config = TrainConfig(model="lenet_small", epochs=1)
    return RunJournal(history, False, config, run_id, Curves())


def test_rename_and_finish_at_once_keep_both_200_times(tmp_path):
    """Two threads, started together by a barrier: the trainer closes the record while the
    user renames it. Whatever the order, the end state holds both."""
    history = RunHistory(tmp_path / "runs")
    errors: list[BaseException] = []

    def together(barrier: threading.Barrier, action, *args) -> threading.Thread:
        def go():
            try:
                barrier.wait()
                action(*args)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        return threading.Thread(target=go)

    for i in range(200):
        run_id = f"run-{i:03d}"
        trainer = journal(history, run_id)
        barrier = threading.Barrier(2)
        threads = [together(barrier, trainer.finish, "completed", ""),
                   together(barrier, history.rename, run_id, f"name {i}")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        record = history.load(run_id)
        assert (record.status, record.name) == ("completed", f"name {i}"), i
        assert record.finished is not None
    assert not list(history.folder.glob(".*")), "no lock file or temporary is left"


def test_rename_between_read_and_write_cannot_undo_the_finish(tmp_path, monkeypatch):
    """The original interleaving forced: the rename reads the record (running), the
    trainer finishes, the rename writes. The rename's read-change-write holds the record's
    lock, so the finish waits for it and then keeps the name."""
    history = RunHistory(tmp_path / "runs")
    trainer = journal(history, "run-x")
    renamer_read, finish_started = threading.Event(), threading.Event()
    load = RunHistory.load

    def slow_load(self, run_id):
        record = load(self, run_id)
        if threading.current_thread().name == "renamer":
            renamer_read.set()
            finish_started.wait(10)  # the trainer's finish is under way (blocked, with the fix)
        return record

    monkeypatch.setattr(RunHistory, "load", slow_load)
    renamer = threading.Thread(target=lambda: history.rename("run-x", "mine"), name="renamer")
    renamer.start()
    assert renamer_read.wait(10)
    finisher = threading.Thread(target=lambda: trainer.finish("completed", ""))
    finisher.start()
    finish_started.set()
    renamer.join()
    finisher.join()
    record = history.load("run-x")
    assert (record.status, record.name) == ("completed", "mine") and record.finished


def test_the_trainers_save_keeps_a_name_given_meanwhile(tmp_path):
    history = RunHistory(tmp_path / "runs")
    trainer = journal(history, "run-y")
    history.rename("run-y", "given while training")
    trainer.record = dataclasses.replace(trainer.record, final=FinalFigures(epochs=1, test_acc=0.5))
    trainer.save_record()
    assert history.load("run-y").name == "given while training"
    assert history.load("run-y").final.test_acc == 0.5


def test_record_updates_across_processes(tmp_path):
    """Two processes rename and finish one record 20 times at once; the lock is the
    system's, so both changes survive each time."""
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from explorer.train import RunHistory
h = RunHistory({str(tmp_path / "runs")!r})
for i in range(20):
    if sys.argv[1] == "rename":
        h.rename(f"run-{{i}}", f"n{{i}}")
    else:
        h.update(f"run-{{i}}", lambda r: __import__("dataclasses").replace(
            r, status="completed", finished="now", name=r.name))
"""
    history = RunHistory(tmp_path / "runs")
    for i in range(20):
        history.save(RunRecord(run_id=f"run-{i}", model="lenet_small", config={}))
    procs = [subprocess.Popen([sys.executable, "-c", script, arg]) for arg in ("rename", "finish")]
    assert [p.wait(120) for p in procs] == [0, 0]
    for i in range(20):
        record = history.load(f"run-{i}")
        assert (record.status, record.finished, record.name) == ("completed", "now", f"n{i}")


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["a\nb", "\x1b[31mred", "tab\there", "bell\a", "nul\x00", "cr\rx",
                                  "rtl\u202eevil", "line\u2028sep", "x" * (NAME_LIMIT + 1)],
                         ids=["newline", "ansi", "tab", "bell", "nul", "cr", "rtl override", "line sep", "too long"])
def test_a_name_with_control_characters_or_too_long_is_refused(name, runs, capsys):
    with pytest.raises(UserError):
        check_name(name)
    assert main(["runs", "rename", "run-good", name]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: a run's name") and err.count("\n") == 1
    assert RunHistory(runs).load("run-good").name == ""


def test_plain_unicode_names_are_kept(runs, capsys):
    assert main(["runs", "rename", "run-good", "  résumé 训练 🎉  "]) == 0
    assert RunHistory(runs).load("run-good").name == "résumé 训练 🎉"
    assert main(["runs", "rename", "run-good", "x" * NAME_LIMIT]) == 0


def test_the_window_refuses_a_name_with_control_characters(runs, qtbot):
    from PySide6.QtCore import Qt

    from explorer.session import Session
    from explorer.ui.training.runs_model import NAME, RunsModel

    session = Session()
    notes: list[str] = []
    session.message.connect(notes.append)
    model = RunsModel(RunHistory(runs), session)
    model.reload()
    assert not model.setData(model.index(0, NAME), "two\nlines", Qt.ItemDataRole.EditRole)
    assert "control characters" in notes[-1] and RunHistory(runs).load("run-good").name == ""


def test_the_runs_table_says_which_record_it_skipped(runs, qtbot):
    from explorer.session import Session
    from explorer.ui.training.runs_model import RunsModel

    write(runs, "run-bad.json", json.dumps({**GOOD, "run_id": "run-bad", "final": []}))
    session = Session()
    notes: list[str] = []
    session.message.connect(notes.append)
    model = RunsModel(RunHistory(runs), session)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.reload()
        model.reload()
    assert [r.run_id for r in model.records] == ["run-good"]
    assert len(notes) == 1 and "run-bad.json" in notes[0] and "\n" not in notes[0]


# ---------------------------------------------------------------- recording a run


def unwritable_runs_folder(isolated_folders, monkeypatch) -> Path:
    """Point the data folder at a path under a regular file: no one, root included, can
    create the runs folder there."""
    blocker = isolated_folders / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CNN_EXPLORER_DATA_HOME", str(blocker / "home"))
    return blocker / "home" / "runs"


def test_train_with_an_unrecordable_run_fails_before_training(tiny_fashion_root, tmp_path, isolated_folders,
                                                              monkeypatch, capsys):
    folder = unwritable_runs_folder(isolated_folders, monkeypatch)
    out = tmp_path / "ck" / "run.pt"
    code = main(["train", "lenet_small", "--epochs", "1", "--subset", "100", "--data-dir", str(tiny_fashion_root),
                 "--device", "cpu", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("error: cannot record the run: ") and str(folder) in captured.err
    assert captured.err.count("\n") == 1 and "epoch 1/1" not in captured.err
    assert not out.exists() and not (out.parent / ".run.pt.lock").exists()


def test_train_with_a_read_only_runs_folder_fails_before_training(tiny_fashion_root, tmp_path, isolated_folders,
                                                                  capsys):
    runs = isolated_folders / "data-home" / "runs"
    runs.mkdir(parents=True)
    runs.chmod(0o555)
    try:
        if os.access(runs, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes (the test above covers root)")
        code = main(["train", "lenet_small", "--epochs", "1", "--subset", "100", "--data-dir",
                     str(tiny_fashion_root), "--device", "cpu", "--out", str(tmp_path / "run.pt")])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("error: cannot record the run: ") and "epoch 1/1" not in err
    finally:
        runs.chmod(0o755)


def test_a_failed_start_leaves_no_lock_and_a_failed_record(tiny_fashion_root, tmp_path, monkeypatch, make_tiny):
    from explorer.train import Trainer, load_fashion_mnist
    from explorer.train.checkpoint import CheckpointError
    from explorer.train.snapshots import SnapshotStore

    def full_disk(*_args, **_kwargs):
        raise CheckpointError("cannot save checkpoint x: disk full (0 bytes free in /d, 9 KB needed)")

    monkeypatch.setattr(SnapshotStore, "save_weights", full_disk)
    history = RunHistory(tmp_path / "runs")
    data = load_fashion_mnist(tiny_fashion_root, "cpu", seed=0)
    checkpoint = tmp_path / "ck.pt"
    config = TrainConfig(model="lenet_small", epochs=1, batch_size=64, device="cpu")
    with pytest.raises(CheckpointError, match="disk full"):
        list(Trainer(config, data=data, history=history, checkpoint_path=checkpoint).run())
    assert not (tmp_path / ".ck.pt.lock").exists()
    [record] = history.list_runs()
    assert record.status == "failed" and "disk full" in record.message and record.finished
    # The same checkpoint can be used at once (the lock was let go).
    with CheckpointLock(checkpoint):
        pass


def test_a_dead_processs_lock_file_is_cleaned_a_live_ones_is_not(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(dead.stdout)  # that process has exited
    checkpoint = tmp_path / "ck.pt"
    lock = tmp_path / ".ck.pt.lock"
    lock.write_text(json.dumps({"pid": pid, "host": __import__("socket").gethostname(), "started": "x"}))
    record = RunRecord(run_id="r", model="lenet_small", config={}, checkpoint=str(checkpoint))
    assert run_status(record) == "interrupted" and not lock.exists()
    # An unreadable lock file may be a run that is starting: left alone while recent.
    lock.write_text("")
    assert run_status(record) == "interrupted" and lock.exists()
    lock.unlink()
    with CheckpointLock(checkpoint):
        assert run_status(record) == "running" and lock.exists()
    assert not lock.exists()


# ---------------------------------------------------------------- epoch summaries


def epoch_record(epoch: int, **change) -> dict:
    confusion = [[10 if i == j else 0 for j in range(10)] for i in range(10)]
    return {"epoch": epoch, "test_acc": 1.0, "confusion": confusion, "predictions": list(range(10)) * 2,
            "labels": list(range(10)) * 2,
            "summaries": {"layers": {"0.weight": {"grad_norm": 0.1, "weight_change": 0.2, "weight_norm": 1.0,
                                                  "histogram": {"min": -1, "max": 1, "counts": [1, 2]}}},
                          "dead_relu": {"1": 0.0}}, **change}


DAMAGED_EPOCHS = {
    "not json": "{",
    "ragged confusion": epoch_record(2, confusion=[[1, 2], [3]]),
    "9 x 10 confusion": epoch_record(2, confusion=[[0] * 10] * 9),
    "negative count": epoch_record(2, confusion=[[-1] * 10] * 10),
    "predictions shorter than labels": epoch_record(2, predictions=[0, 1]),
    "labels missing": epoch_record(2, labels=None),
    "class out of range": epoch_record(2, predictions=[12] * 20),
    "summaries a list": epoch_record(2, summaries=[]),
    "histogram text": epoch_record(2, summaries={"layers": {"w": {"histogram": "x"}}}),
    "grad norm text": epoch_record(2, summaries={"layers": {"w": {"grad_norm": "x"}}}),
    "dead relu text": epoch_record(2, summaries={"dead_relu": {"1": "x"}}),
    "another epoch": epoch_record(7),
    "nested deep": "[" * 200_000 + "]" * 200_000,
}


@pytest.mark.parametrize("content", DAMAGED_EPOCHS.values(), ids=DAMAGED_EPOCHS.keys())
def test_a_damaged_epoch_summary_costs_only_its_epoch(content, tmp_path):
    from explorer.train.snapshots import SnapshotStore

    store = SnapshotStore(tmp_path / "run.epochs")
    for epoch in (1, 3):
        store.save_record(epoch, {k: v for k, v in epoch_record(epoch).items() if k != "epoch"})
    path = write(store.folder, "epoch-0002.json", content if isinstance(content, str) else json.dumps(content))
    with pytest.warns(UserWarning, match="epoch 2's summary") as caught:
        summaries = store.summaries()
    assert sorted(summaries) == [1, 3] and list(store.damaged) == [2]
    assert len(caught) == 1 and str(path) in str(caught[0].message) and "\n" not in str(caught[0].message)
    with pytest.raises(UserError, match="damaged"):
        store.load_record(2)
    with pytest.raises(UserError, match="damaged"):
        store.cell_indices(2, 0, 0)
    assert store.cell_indices(3, 4, 4) == [4, 14]


def test_a_fifo_as_an_epoch_summary_is_skipped(tmp_path):
    from explorer.train.snapshots import SnapshotStore

    store = SnapshotStore(tmp_path / "run.epochs")
    store.save_record(1, {k: v for k, v in epoch_record(1).items() if k != "epoch"})
    os.mkfifo(store.folder / "epoch-0002.json")
    with pytest.warns(UserWarning, match="not a regular file"):
        assert sorted(store.summaries()) == [1]


def test_records_round_trip_through_the_check(tmp_path):
    history = RunHistory(tmp_path / "runs")
    record = RunRecord.from_dict(GOOD)
    history.save(record)
    again = history.load(record.run_id)
    assert dataclasses.asdict(again).keys() == dataclasses.asdict(record).keys()
    assert again.final.to_dict() == GOOD["final"] and again.config == GOOD["config"]
    assert again.final == record.final and again.curves.test_acc == record.curves.test_acc
    assert not list((tmp_path / "runs").glob("*.tmp"))
