"""Fault tests for checkpoints: two real processes on one file, a full disk, hand-made
checkpoints, and continuing a killed CLI run."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from explorer.cli import main
from explorer.train import CheckpointError, TrainConfig, Trainer, load_checkpoint, save_checkpoint
from explorer import files as files_module
from explorer.train.checkpoint import CheckpointLock

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


# ---- two writers --------------------------------------------------------------------

SAVE_LOOP = textwrap.dedent(
    """
    import sys, torch
    from explorer.train import save_checkpoint
    path, tag, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    state = {"w": torch.full((50_000,), tag)}
    for i in range(n):
        save_checkpoint(path, model_name="tiny", config={}, epoch=i, model_state=state)
    print("done")
    """
)


def test_two_processes_saving_the_same_file_both_finish(tmp_path):
    """The issue's failure: one writer removed the other's in-flight temporary (7 of 7)."""
    path = tmp_path / "run.pt"
    writers = [
        subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(path), str(tag), "40"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for tag in (1, 2)
    ]
    results = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, results):
        assert writer.returncode == 0 and out.strip() == "done", err[-2000:]
    state = load_checkpoint(path)
    assert float(state["model_state"]["w"][0]) in (1.0, 2.0)  # whole, from one of them
    assert not list(tmp_path.glob(".run.pt.*.tmp"))


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from explorer.train.checkpoint import CheckpointLock
    with CheckpointLock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def test_a_second_run_on_the_same_out_is_refused_naming_the_first(tmp_path, tiny_data, make_tiny):
    path = tmp_path / "run.pt"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True,
                              env=_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        trainer = Trainer(TrainConfig(epochs=1, device="cpu"), data=tiny_data, model=make_tiny(),
                          checkpoint_path=path, history=False)
        with pytest.raises(CheckpointError, match=f"being written by another run \\(process {holder.pid} "):
            next(trainer.run())
        assert not path.exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder died without cleaning up: the system dropped its lock, so a run may start.
    with CheckpointLock(path):
        pass


def test_the_lock_is_released_when_a_run_ends_or_is_abandoned(tmp_path, tiny_data, make_tiny):
    path = tmp_path / "run.pt"
    config = TrainConfig(epochs=1, device="cpu", batch_size=64)
    list(Trainer(config, data=tiny_data, model=make_tiny(), checkpoint_path=path, history=False).run())
    run = Trainer(config.replace(epochs=2), data=tiny_data, model=make_tiny(), checkpoint_path=path,
                  history=False).run()
    next(run)
    run.close()  # abandoned after it started
    with CheckpointLock(path):
        pass


# ---- a full disk --------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_a_save_names_the_file_and_the_free_space(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, model_name="tiny", config={}, epoch=1, model_state={"w": torch.ones(3)})
    monkeypatch.setattr(files_module, "write_temporary", _disk_full)
    with pytest.raises(CheckpointError) as excinfo:
        save_checkpoint(path, model_name="tiny", config={}, epoch=2, model_state={"w": torch.ones(3)})
    message = str(excinfo.value)
    assert message.startswith(f"cannot save checkpoint {path}: disk full (")
    assert " free in " in message and "needed" in message and "\n" not in message
    assert load_checkpoint(path)["epoch"] == 1  # the old one is whole


def test_disk_full_on_a_real_write_is_an_oserror_we_report(tmp_path, monkeypatch):
    """torch.save to a full file raises RuntimeError from its zip writer; the checkpoint is
    serialised in memory and written with plain file writes, whose ENOSPC we see."""
    real_open = open

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def full_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return FullFile(handle) if "w" in mode and str(file).endswith(".tmp") else handle

    monkeypatch.setattr(files_module, "open", full_open, raising=False)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(tmp_path / "run.pt", model_name="tiny", config={}, epoch=1, model_state={"w": torch.ones(3)})
    assert not list(tmp_path.glob(".run.pt.*.tmp"))


def test_disk_full_for_the_cli_log(tiny_fashion_root, tmp_path, capsys, monkeypatch):
    from explorer.commands import train as train_command

    real = train_command.csv.DictWriter

    class FullWriter(real):
        def writerow(self, row):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train_command.csv, "DictWriter", FullWriter)
    log = tmp_path / "run.csv"
    code = main(["train", "lenet_small", "--epochs", "1", "--subset", "100", "--data-dir", str(tiny_fashion_root),
                 "--device", "cpu", "--log", str(log)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: cannot write log {log}: disk full (" in err and "unexpected" not in err


# ---- hand-made checkpoints ------------------------------------------------------------


def _good(**changes):
    model = torch.nn.Linear(2, 2)
    payload = dict(model_name="lenet_small", config=TrainConfig(epochs=3).to_dict(), epoch=1, run_id="r1",
                   model_state=model.state_dict(),
                   optimizer_state=torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
                   curves={"epoch": [1], "train_loss": [0.5], "test_acc": [0.8], "batch_loss": [0.7, 0.6]})
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(epoch="3"), "epoch is '3'"),
        (dict(epoch=True), "epoch is True"),
        (dict(epoch=-1), "epoch is -1"),
        (dict(config="lr=0.1"), "config is not a table"),
        (dict(config={"lr": "fast"}), "options are invalid .*lr must be float"),
        (dict(config={"epochs": 2.5}), "options are invalid .*epochs must be int"),
        (dict(curves={"train_loss": "0.5"}), "curve 'train_loss' is not a list"),
        (dict(curves=[1, 2]), "curves is not a table"),
        (dict(curves={"epoch": [1, 2]}), "curves do not cover its 1 epochs"),
        (dict(optimizer_state={"state": 3}), "optimizer_state is not an optimiser's state"),
        (dict(optimizer_state=[1]), "optimizer_state is not an optimiser's state"),
        (dict(model_state={"w": torch.tensor([float("nan")])}), "holds NaN or infinite values"),
        (dict(model_state={"w": [1.0]}), "holds no state dict"),
        (dict(run_id="../../etc/passwd"), "run_id .* is not a run name"),
        (dict(model_name=3), "model_name is not a name"),
    ],
)
def test_hand_made_checkpoints_are_refused_on_load(changes, message, tmp_path):
    path = tmp_path / "hand.pt"
    save_checkpoint(path, **_good(**changes))
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is damaged: .*{message}"):
        load_checkpoint(path)


def test_an_optimizer_state_that_does_not_fit_is_a_user_error(tmp_path, tiny_data):
    from explorer.models import get_model

    model = get_model("lenet_small")
    other = torch.nn.Linear(3, 3)
    path = tmp_path / "hand.pt"
    save_checkpoint(path, **_good(model_state=model.state_dict(),
                                  optimizer_state=torch.optim.SGD(other.parameters(), lr=0.1).state_dict(),
                                  curves={}))
    trainer = Trainer(TrainConfig(model="lenet_small", device="cpu"), data=tiny_data, resume=path, history=False)
    with pytest.raises(CheckpointError.__mro__[1], match="optimiser state that does not fit"):
        next(trainer.run())


# ---- continuing a killed CLI run ---------------------------------------------------------


def _train(args, root) -> tuple[int, str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "train", *args, "--data-dir", str(root), "--device", "cpu", "--json"],
        capture_output=True, text=True, timeout=600, env=_env(),
    )
    return result.returncode, result.stdout, result.stderr


def test_resume_continues_a_run_and_a_rerun_does_not_replace_it(tiny_fashion_root, tmp_path):
    out = tmp_path / "run.pt"
    code, _, err = _train(["lenet_small", "--epochs", "2", "--subset", "300", "--batch-size", "64",
                           "--optimizer", "adam", "--lr", "0.003", "--out", str(out)], tiny_fashion_root)
    assert code == 0, err[-2000:]
    first = load_checkpoint(out)
    # A rerun of the same command (after a kill, say) must not overwrite two epochs with one.
    code, _, err = _train(["lenet_small", "--epochs", "4", "--out", str(out)], tiny_fashion_root)
    assert code == 1 and f"{out} already holds a checkpoint; continue that run with --resume" in err
    assert load_checkpoint(out)["epoch"] == 2
    code, stdout, err = _train(["--resume", str(out), "--epochs", "3"], tiny_fashion_root)
    assert code == 0, err[-2000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["epochs"] == 3 and result["run_id"] == first["run_id"]
    assert result["config"]["optimizer"] == "adam" and result["config"]["subset"] == 300  # kept
    after = load_checkpoint(out)
    assert after["epoch"] == 3 and after["curves"]["epoch"] == [1, 2, 3]
    assert "epoch 3/3" in err and "epoch 1/3" not in err


def test_resume_refuses_options_that_cannot_change(tiny_fashion_root, tmp_path, capsys):
    out = tmp_path / "run.pt"
    save_checkpoint(out, **_good(curves={}))
    code = main(["train", "--resume", str(out), "--optimizer", "adam", "--data-dir", str(tiny_fashion_root)])
    assert code == 1 and "--optimizer cannot change when resuming" in capsys.readouterr().err
