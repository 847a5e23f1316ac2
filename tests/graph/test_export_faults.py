"""Exports on a full disk and into the app's own folders (issue 17).

A full disk is injected where every write lands (``files.write_temporary`` raises ENOSPC):
`runs export`, `graph --out` SVG/PNG/JSON, `bench --out` and the PNGs of `inspect`,
`explain` and `compare` then leave the existing file as
it was, no temporary beside it, exit 1 with one line saying "disk full (", and never the
"-> file" of a success. An export never writes into the runs, settings, cache or shipped
weights folders.
"""

from __future__ import annotations

import errno
import json
import types

import pytest

from explorer import cli, files, settings
from explorer.errors import UserError
from explorer.exports import check_export_path
from explorer.train.history import RunHistory, RunRecord, runs_dir

OLD = b"the previous export, whole\n" * 40
RUN_ID = "20260101-000000-lenet5"


@pytest.fixture
def full_disk(monkeypatch):
    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(files, "write_temporary", no_space)


@pytest.fixture
def run_record():
    RunHistory().save(RunRecord(run_id=RUN_ID, model="lenet5", config={"epochs": 3}, status="completed",
                                curves={"epoch": [1, 2, 3], "test_acc": [0.5, 0.6, 0.7]}))
    return RUN_ID


def _fake_bench(monkeypatch):
    from explorer.bench import command as bench

    suite = types.SimpleNamespace(run=lambda quick: {"suite": "graph", "checks": []})
    monkeypatch.setattr(bench, "importlib", types.SimpleNamespace(import_module=lambda name: suite))


def _argv(kind: str, path) -> list[str]:
    if kind == "csv":
        return ["runs", "export", RUN_ID, "--csv", str(path)]
    if kind == "bench":
        return ["bench", "graph", "--out", str(path)]
    if kind == "inspect":
        return ["inspect", "lenet5", "sample", "--out", str(path)]
    if kind == "explain":
        return ["explain", "lenet5", "sample", "--out", str(path)]
    if kind == "compare":
        return ["compare", "lenet5", "lenet5", "--image", "sample", "--out", str(path)]
    return ["graph", "lenet5", "--out", str(path)]


def _suffix(kind: str) -> str:
    return {"csv": ".csv", "bench": ".json", "inspect": ".png", "explain": ".png",
            "compare": ".png"}.get(kind, f".{kind}")


KINDS = ["csv", "svg", "png", "json", "bench", "inspect", "explain", "compare"]


@pytest.mark.parametrize("kind", KINDS)
def test_full_disk_keeps_the_old_file_and_says_so(kind, tmp_path, run_record, full_disk, monkeypatch, capsys):
    _fake_bench(monkeypatch)
    target = tmp_path / f"export{_suffix(kind)}"
    target.write_bytes(OLD)
    assert cli.main(_argv(kind, target)) == 1
    out, err = capsys.readouterr()
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "disk full (" in errors[0] and "needed)" in errors[0], err
    assert "unexpected" not in err and "->" not in out


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_fault_the_file_is_replaced_whole(kind, tmp_path, run_record, monkeypatch, capsys):
    _fake_bench(monkeypatch)
    target = tmp_path / f"export{_suffix(kind)}"
    target.write_bytes(OLD)
    assert cli.main(_argv(kind, target)) == 0
    data = target.read_bytes()
    assert data != OLD
    if kind in ("json", "bench"):
        json.loads(data)
    elif kind == "svg":
        assert data.rstrip().endswith(b"</svg>")
    elif kind in ("png", "inspect", "explain", "compare"):
        assert data.startswith(b"\x89PNG")
    else:
        assert data.decode().splitlines()[0].startswith("epoch,") and len(data.decode().splitlines()) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("suffix", [".json", ".svg", ".png"])
def test_graph_out_never_overwrites_a_run_record(suffix, run_record, capsys):
    record = runs_dir() / f"{RUN_ID}{suffix}"
    if suffix != ".json":
        record.write_bytes(OLD)
    before = record.read_bytes()
    assert cli.main(["graph", "lenet5", "--out", str(record)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to write ") and "runs folder" in err and err.count("\n") == 1
    assert record.read_bytes() == before
    assert RunHistory().load(RUN_ID).model == "lenet5"


def test_runs_export_refuses_the_settings_folder(run_record, capsys):
    target = settings.config_dir() / "curves.csv"
    assert cli.main(["runs", "export", RUN_ID, "--csv", str(target)]) == 1
    assert "settings folder" in capsys.readouterr().err
    assert not target.exists()


def test_app_folders_are_refused_and_other_places_allowed(tmp_path):
    from explorer.models.shipped import weights_folder

    for folder in (runs_dir(), settings.config_dir(), settings.cache_dir(), weights_folder(),
                   settings.data_dir() / "FashionMNIST" / "raw"):
        with pytest.raises(UserError, match="refusing to write"):
            check_export_path(folder / "x.json")
    # Through a relative path and a ".." it is the same folder.
    runs = runs_dir()
    runs.mkdir(parents=True, exist_ok=True)
    with pytest.raises(UserError, match="runs folder"):
        check_export_path(runs / ".." / "runs" / "x.json")
    assert check_export_path(tmp_path / "x.json") == tmp_path / "x.json"
