"""Faults around the shipped weights (issue 17): a writer killed or interrupted between a
weights file and its manifest record, a full disk at each write, and every malformed
manifest shape, for each reader (zoo list, inspect, compare, scoreboard, loading, the
window's default weights).

Each test works on a copy of the shipped manifest and two small weight files in tmp_path,
with ``manifest.weights_folder`` pointed at it: the real resources are never touched.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from explorer import files
from explorer.cli import main
from explorer.errors import ModelError
from explorer.models import get_model, manifest, shipped

REAL = shipped.weights_folder()
NAME, OTHER = "lenet_small", "lenet5_small"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def weights(tmp_path, monkeypatch, isolated_folders) -> Path:
    """A copy of the shipped manifest with lenet_small's and lenet5_small's files, made
    the package's weights folder."""
    folder = tmp_path / "resources" / "weights"
    folder.mkdir(parents=True)
    for file in (shipped.MANIFEST, f"{NAME}.pt", f"{OTHER}.pt"):
        shutil.copy(REAL / file, folder / file)
    # The manifest module holds the package's folder for every reader (``shipped`` too).
    monkeypatch.setattr(manifest, "weights_folder", lambda: folder)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _litter(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name == shipped.JOURNAL)


def _new_weights(seed: int = 1) -> bytes:
    torch.manual_seed(seed)
    return shipped.compact_bytes(get_model(NAME))


def _record() -> dict:
    record = json.loads((REAL / shipped.MANIFEST).read_text(encoding="utf-8"))["models"][NAME]
    return {**record, "test_accuracy": 0.1234, "train_accuracy": 0.25}


def _loads_with_matching_hash(folder: Path) -> shipped.ShippedEntry:
    entry = shipped.load_shipped(get_model(NAME), NAME, folder)  # raises on a hash mismatch
    assert shipped.sha256_file(folder / entry.file) == entry.sha256
    return entry


# ------------------------------------------------ killed between weights and manifest

KILLER = textwrap.dedent("""
    import os, sys
    from explorer import files
    from explorer.models import shipped
    folder, step, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    real, calls = getattr(files, step), [0]
    def killed(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n and step == "replace":
            os._exit(9)  # before this rename; no cleanup at all, as SIGKILL or a power cut
        done = real(*args, **kwargs)
        if calls[0] == n:
            os._exit(9)  # this temporary written whole, nothing after
        return done
    setattr(files, step, killed)
    shipped.commit_weights("lenet_small", open(sys.argv[4], "rb").read(), dict(eval(sys.argv[5])), folder)
    os._exit(0)
""")

# write_temporary (killed after it): 1 weights, 2 manifest, 3 journal; replace (killed
# before it): 1 journal, 2 weights, 3 manifest. Until the journal is in place the old pair
# stands; from then on the new one.
KILL_POINTS = [("write_temporary", 1, "old"), ("write_temporary", 2, "old"), ("write_temporary", 3, "old"),
               ("replace", 1, "old"), ("replace", 2, "new"), ("replace", 3, "new")]


@pytest.mark.parametrize("step,n,kept", KILL_POINTS, ids=[f"{s}-{n}" for s, n, _ in KILL_POINTS])
def test_a_writer_killed_at_any_step_leaves_a_pair_that_loads(weights, tmp_path, step, n, kept):
    old = shipped.shipped_entry(NAME, weights)
    new = _new_weights()
    (tmp_path / "new.pt").write_bytes(new)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", KILLER, str(weights), step, str(n), str(tmp_path / "new.pt"),
                           repr(_record())], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert _litter(weights), "the kill should have left something half done"
    # The next reader finishes (or rolls back) the replacement and cleans up.
    entry = _loads_with_matching_hash(weights)
    expected = shipped.hashlib.sha256(new).hexdigest() if kept == "new" else old.sha256
    assert entry.sha256 == expected
    assert entry.test_accuracy == (0.1234 if kept == "new" else old.test_accuracy)
    assert _litter(weights) == []
    assert shipped.shipped_entry(OTHER, weights) == shipped.shipped_entry(OTHER, REAL)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ctrl_c_during_the_renames_finishes_them_or_leaves_the_old_pair(weights, monkeypatch, n):
    before = _snapshot(weights)
    real, calls = files.replace, [0]

    def interrupted(*args):
        calls[0] += 1
        if calls[0] == n:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(files, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        shipped.commit_weights(NAME, _new_weights(), _record(), weights)
    assert _litter(weights) == []  # finished in place: nothing left for the next reader
    entry = _loads_with_matching_hash(weights)
    if n == 1:  # before the journal: nothing changed
        assert _snapshot(weights) == before
    else:
        assert entry.test_accuracy == 0.1234


# ------------------------------------------------------------------ a full disk


@pytest.mark.parametrize("n", [1, 2, 3], ids=["weights", "manifest", "journal"])
def test_disk_full_at_each_write_keeps_the_old_pair_and_no_temporaries(weights, monkeypatch, n):
    before = _snapshot(weights)
    real, calls = files.write_temporary, [0]

    def full(path, data):
        calls[0] += 1
        if calls[0] == n:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(files, "write_temporary", full)
    with pytest.raises(files.WriteError) as caught:
        shipped.commit_weights(NAME, _new_weights(), _record(), weights)
    message = str(caught.value)
    assert "disk full (" in message and "free in" in message and "\n" not in message
    assert _snapshot(weights) == before and _litter(weights) == []
    _loads_with_matching_hash(weights)


def test_save_compact_on_a_full_disk_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    path.write_bytes(b"old")
    monkeypatch.setattr(files, "write_temporary",
                        lambda p, d: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(files.WriteError, match="disk full"):
        shipped.save_compact(get_model(NAME), path)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.pt"]


def _zoo_train(root: Path, out: Path, *models: str) -> int:
    return main(["zoo", "train", "--models", *models, "--epochs", "1", "--subset", "100", "--threads", "1",
                 "--data-dir", str(root), "--device", "cpu", "--out", str(out)])


def test_zoo_train_on_a_full_disk_says_so_and_leaves_nothing(weights, tiny_fashion_root, monkeypatch, capsys):
    before = _snapshot(weights)
    monkeypatch.setattr(files, "write_temporary",
                        lambda p, d: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    assert _zoo_train(tiny_fashion_root, weights, NAME) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: cannot write") and "disk full (" in err and "needed)" in err
    assert "unexpected" not in err and "inline_container" not in err
    assert _snapshot(weights) == before and _litter(weights) == []


def test_zoo_train_on_a_real_full_disk(tiny_fashion_root, tmp_path, capsys):
    out = tmp_path / "small"
    out.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(out)],
                                           check=False, capture_output=True).returncode != 0:
        pytest.skip("mounting a 64 KB tmpfs needs root (and a system that allows it)")
    try:
        assert _zoo_train(tiny_fashion_root, out, NAME) == 1  # lenet_small.pt is ~127 KB
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "disk full (" in err and "unexpected" not in err
        assert list(out.iterdir()) == []
    finally:
        subprocess.run(["umount", str(out)], check=False)


def test_an_interrupted_zoo_train_keeps_the_models_it_finished(weights, tiny_fashion_root, monkeypatch, capsys):
    old_other = shipped.shipped_entry(OTHER, weights)
    real, calls = shipped.commit_weights, [0]

    def then_ctrl_c(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt  # Ctrl+C while the second model is being stored
        return real(*args, **kwargs)

    monkeypatch.setattr(shipped, "commit_weights", then_ctrl_c)
    assert _zoo_train(tiny_fashion_root, weights, NAME, OTHER) == 130
    entry = _loads_with_matching_hash(weights)
    assert entry.epochs == 1 and entry.command.endswith("--subset 100")  # the finished one's record
    assert shipped.shipped_entry(OTHER, weights) == old_other
    shipped.load_shipped(get_model(OTHER), OTHER, weights)
    assert _litter(weights) == []


# ------------------------------------------------------------ malformed manifests


def _outside_copy(folder: Path) -> Path:
    """A real lenet_small weights file outside the weights folder (its hash matches the
    record, so only the path check keeps it out)."""
    outside = folder.parent.parent / "x.pt"
    shutil.copy(REAL / f"{NAME}.pt", outside)
    return outside


def _edit(folder: Path, change) -> None:
    path = folder / shipped.MANIFEST
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data, data["models"][NAME], folder)
    path.write_text(json.dumps(data), encoding="utf-8")


def _set(key, value):
    return lambda data, record, folder: record.__setitem__(key, value)


ENTRY_CASES = {
    "missing key": lambda data, record, folder: record.pop("test_accuracy"),
    "non-numeric accuracy": _set("test_accuracy", "0.9x"),
    "NaN accuracy": _set("test_accuracy", float("nan")),
    "accuracy out of range": _set("train_accuracy", 91.2),
    "file not text": _set("file", 5),
    "bytes not a number": _set("bytes", "big"),
    "epochs a bool": _set("epochs", True),
    "sha256 not hex": _set("sha256", "x" * 64),
    "record not a table": lambda data, record, folder: data["models"].__setitem__(NAME, "lenet_small.pt"),
    "path traversal": lambda data, record, folder: record.update(
        file=os.path.relpath(_outside_copy(folder), folder)),
    "absolute path": lambda data, record, folder: record.update(file=str(_outside_copy(folder))),
    "windows traversal": _set("file", "..\\..\\x.pt"),
}

WHOLE_CASES = {
    "invalid JSON": '{"models": {"lenet_small": ',
    "not an object": "[1, 2]",
    "models not a table": '{"format": 1, "models": ["lenet_small"]}',
    "newer format": '{"format": 99, "models": {}}',
    "nested too deep": "[" * 200_000 + "]" * 200_000,
    "not UTF-8": b"\xff\xfe{}",
}


def _inspect_json(capsys) -> dict:
    assert main(["inspect", NAME, "sample", "--device", "cpu", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _small_points(tmp_path):
    from explorer.metrics.scoreboard import small_points
    from explorer.train import RunHistory, RunRecord

    history = RunHistory(tmp_path / "runs")
    history.save(RunRecord(run_id="r1", model=NAME, config={}, status="completed", final={"test_acc": 0.5}))
    with pytest.MonkeyPatch.context() as patch:
        # Measuring every small form takes seconds and is not what is tested here.
        patch.setattr("explorer.models.model_stats", lambda name: {"macs": 1e6, "params": 1000})
        return {(p["source"], p["name"]) for p in small_points(history)}


@pytest.mark.parametrize("case", ENTRY_CASES)
def test_a_bad_entry_costs_only_itself(weights, tmp_path, capsys, case):
    _edit(weights, ENTRY_CASES[case])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # zoo list: the other entries, and one warning naming the manifest and the entry
        assert main(["zoo", "list"]) == 0
        listed = capsys.readouterr().out
        assert OTHER in listed and f"\n{NAME} " not in listed
        said = [str(w.message) for w in caught]
        assert len(said) == 1 and str(weights / shipped.MANIFEST) in said[0] and repr(NAME) in said[0]
        assert "\n" not in said[0]
        # inspect: random weights, saying why
        payload = _inspect_json(capsys)
        assert payload["trained"] is False
        assert any("unavailable" in n and "using random weights" in n for n in payload["notices"])
        # compare: the same, in its weights column; the other model keeps its weights
        from explorer.compare import load_subject

        assert "unavailable" in load_subject(NAME).weights
        assert load_subject(OTHER).weights == "shipped Fashion-MNIST weights"
        # scoreboard: every other row
        assert _small_points(tmp_path) >= {("shipped", OTHER), ("run", NAME)}
        assert ("shipped", NAME) not in _small_points(tmp_path)
    # loading says why; the window falls back to random weights with that reason
    with pytest.raises(ModelError, match=f"shipped weights for {NAME} unavailable: manifest"):
        shipped.load_shipped(get_model(NAME), NAME)
    from explorer.loading import load_model

    built = load_model(NAME, None)
    assert built.fallback and built.weights.kind == "random"
    assert "unavailable" in built.notice and "random weights" in built.notice
    assert not load_model(OTHER, None).fallback


@pytest.mark.parametrize("case", WHOLE_CASES)
def test_an_unusable_manifest_says_shipped_weights_are_unavailable(weights, tmp_path, capsys, case):
    text = WHOLE_CASES[case]
    (weights / shipped.MANIFEST).write_bytes(text if isinstance(text, bytes) else text.encode())
    assert main(["zoo", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: shipped weights unavailable: ") and err.count("\n") == 1
    assert str(weights / shipped.MANIFEST) in err
    payload = _inspect_json(capsys)
    assert payload["trained"] is False
    assert any(n.startswith("shipped weights unavailable: ") for n in payload["notices"])
    from explorer.compare import load_subject

    assert load_subject(OTHER).weights.startswith("shipped weights unavailable: ")
    with pytest.warns(UserWarning, match="shipped weights unavailable"):
        points = _small_points(tmp_path)
    assert points == {("run", NAME)}  # the runs are still shown
    with pytest.raises(shipped.ManifestError, match="^shipped weights unavailable: "):
        shipped.load_shipped(get_model(NAME), NAME)
    from explorer.loading import load_model

    built = load_model(NAME, None)
    assert built.fallback and built.notice.startswith("shipped weights unavailable: ")
    # zoo train refuses before training rather than overwrite what it cannot read
    assert main(["zoo", "train", "--models", NAME, "--out", str(weights)]) == 1
    assert "shipped weights unavailable" in capsys.readouterr().err


def test_a_missing_manifest_ships_nothing_quietly(weights, capsys):
    (weights / shipped.MANIFEST).unlink()
    assert main(["zoo", "list"]) == 0 and "no shipped weights" in capsys.readouterr().out
    assert shipped.unavailable_reason(NAME) is None and shipped.shipped_entry(NAME) is None


@pytest.mark.parametrize("file", ["../x.pt", "a/../../x.pt", "/etc/passwd", "C:\\x.pt", "\\\\host\\share\\x.pt",
                                  "..\\x.pt", "", "."])
def test_paths_outside_the_folder_are_refused(tmp_path, file):
    assert shipped.file_problem(tmp_path, file) is not None


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "outside.pt").write_bytes(b"x")
    (tmp_path / "inside" / "link.pt").symlink_to(tmp_path / "outside.pt")
    assert "outside" in shipped.file_problem(tmp_path / "inside", "link.pt")
    assert shipped.file_problem(tmp_path / "inside", "sub/../ok.pt") is None
