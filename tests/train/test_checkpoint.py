"""Atomic checkpoints, stale temporaries, weights_only loading, and the run history."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from explorer.train import CheckpointError, RunHistory, RunRecord, clean_stale_temporaries, load_checkpoint, save_checkpoint


def save_version(path, version: int):
    return save_checkpoint(path, model_name="tiny", config={"lr": 0.1}, epoch=version,
                           model_state={"w": torch.full((3,), float(version))})


def test_round_trip(tmp_path):
    path = save_version(tmp_path / "sub" / "run.pt", 1)
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["model_state"]["w"], torch.ones(3))
    assert state["format"] == "cnn-explorer-checkpoint"
    assert not list(path.parent.glob(".*.tmp"))


KILL_DURING_SAVE = textwrap.dedent(
    """
    import os, sys, torch
    from explorer import files
    from explorer.train import checkpoint
    # Die the way a kill would: no cleanup, no exception handlers, right before the rename.
    files.replace = lambda tmp, path: os._exit(9)
    checkpoint.save_checkpoint(sys.argv[1], model_name="tiny", config={}, epoch=2,
                               model_state={"w": torch.full((3,), 2.0)})
    """
)


def test_kill_between_write_and_replace_leaves_old_checkpoint(tmp_path):
    path = save_version(tmp_path / "run.pt", 1)
    result = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, str(path)], capture_output=True, timeout=120)
    assert result.returncode == 9, result.stderr.decode()[-2000:]
    stale = list(tmp_path.glob(".run.pt.*.tmp"))
    assert len(stale) == 1 and stale[0].stat().st_size > 0  # the new data was written...
    assert load_checkpoint(path)["epoch"] == 1  # ...but the checkpoint is the old, whole one
    save_version(path, 3)  # the next save cleans the stale temporary up
    assert not list(tmp_path.glob(".run.pt.*.tmp"))
    assert load_checkpoint(path)["epoch"] == 3


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_clean_stale_temporaries_only_touches_this_checkpoint(tmp_path):
    dead = _dead_pid()
    mine = tmp_path / f".run.pt.{dead}.abcd.tmp"
    other = tmp_path / f".other.pt.{dead}.abcd.tmp"
    live = tmp_path / f".run.pt.{os.getpid()}.beef.tmp"
    for f in (mine, other, live):
        f.write_bytes(b"x")
    assert clean_stale_temporaries(tmp_path / "run.pt") == [mine]  # its writer is gone
    assert other.exists() and live.exists()  # another checkpoint's; a live writer's
    old = time.time() - 2 * 24 * 3600
    os.utime(live, (old, old))
    assert clean_stale_temporaries(tmp_path / "run.pt") == [live]  # a day old: abandoned


class Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_refuses_anything_but_tensors_and_plain_data(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "cnn-explorer-checkpoint", "version": 1, "model_name": "tiny", "config": {},
                "epoch": 1, "model_state": {"w": torch.zeros(1)}, "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="this file contains pickled code .*: refused"):
        load_checkpoint(path)


def test_refuses_a_pickled_module(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError, match="contains pickled code"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip file at all", "corrupt or truncated"),
        (b"junk", "corrupt or truncated"),
        (None, "not a cnn-explorer training checkpoint"),
    ],
)
def test_corrupt_or_foreign_files(tmp_path, content, message):
    path = tmp_path / "x.pt"
    if content is None:
        torch.save({"weights": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_truncated_checkpoint_is_corrupt(tmp_path):
    path = save_version(tmp_path / "run.pt", 1)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_unwritable_folder_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CheckpointError, match="cannot save checkpoint"):
        save_version(blocker / "run.pt", 1)


def test_history_lists_runs_and_skips_corrupt_files(tmp_path):
    history = RunHistory(tmp_path)
    history.save(RunRecord(run_id="b", model="lenet", config={"lr": 0.9}, started="2026-01-02T10:00:00",
                           final={"test_acc": 0.8}))
    history.save(RunRecord(run_id="a", model="lenet", config={}, started="2026-01-01T10:00:00"))
    (tmp_path / "c.json").write_text("{broken")
    with pytest.warns(UserWarning, match="skipping unreadable run record"):
        runs = history.list_runs()
    assert [r.run_id for r in runs] == ["a", "b"]
    assert "test 0.800" in runs[1].label
    history.delete("a")
    assert not os.path.exists(history.path_of("a"))


def test_history_defaults_to_the_platform_data_folder(isolated_folders):
    assert RunHistory().folder == isolated_folders / "data-home" / "runs"
