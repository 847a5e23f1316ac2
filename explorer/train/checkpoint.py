"""Checkpoints that a kill, a full disk or a second run cannot break, loaded without running
pickled code.

Saving serialises in memory, writes a temporary file in the destination folder (named
after this process and a random token, so two writers never share one), fsyncs it, then
``os.replace``s it over the old checkpoint: the rename is atomic on one file system, so at
any moment the path holds either the previous complete checkpoint or the new one. A kill
between write and rename leaves a stray temporary; a later save removes it once its writer
is gone (its process no longer runs, or it is a day old), never while it may be in flight.

A training run holds ``CheckpointLock`` on its file for as long as it runs, so a second
run given the same ``--out`` is refused at its start, naming the process that holds it.

Loading uses ``torch.load(weights_only=True)`` (``explorer.models.weights.read_torch_file``):
only tensors and plain containers and scalars are accepted, and a file holding pickled
code is refused by name without being run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from explorer.errors import UserError
from explorer.files import WriteError, clean_stale_temporaries, write_atomic, write_failure
from explorer.train.records import Curves, RecordError

FORMAT = "cnn-explorer-checkpoint"
VERSION = 1


class CheckpointError(UserError):
    """A checkpoint cannot be written, read, or holds more than tensors and plain data."""


def save_checkpoint(path: str | os.PathLike, **contents: Any) -> Path:
    """Atomically write a checkpoint holding ``contents`` (tensors and plain data only).

    Typical contents: ``model_name``, ``config`` (dict), ``epoch``, ``model_state``,
    ``optimizer_state``, ``curves``, ``run_id``.

    Raises:
        CheckpointError: the folder is not writable or the disk is full (naming the file and
            the free space); the previous checkpoint is left whole.
    """
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **contents}
    # Serialise in memory: torch.save reports a failed write to a file as a RuntimeError
    # from its zip writer, without the errno; our own write raises a plain OSError.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(path)
        write_atomic(path, data, action="save checkpoint")
    except WriteError as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(write_failure("save checkpoint", path, exc, len(data))) from None
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``.

    Raises:
        CheckpointError: missing, unreadable, not a checkpoint of this app, or holding
            anything but tensors and plain metadata.
    """
    from explorer.models.weights import read_torch_file

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    payload = read_torch_file(path, what="checkpoint", error=CheckpointError)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a cnn-explorer training checkpoint")
    version = payload.get("version", 0)
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path} was written by a newer cnn-explorer (format {version!r})")
    for key in ("model_name", "config", "epoch", "model_state"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks {key!r}")
    check_metadata(payload, path)
    if str(map_location) != "cpu":
        payload = _to_device(payload, map_location)
    return payload


def _to_device(obj: Any, device: str | torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj


def checkpoint_curves(state: Mapping[str, Any]) -> Curves:
    """The curves a loaded checkpoint holds (empty when it has none).

    Raises:
        RecordError: they are not curves (``load_checkpoint`` has checked that already).
    """
    return Curves.from_dict(state.get("curves", {}))


def check_metadata(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Check a loaded checkpoint's entries against what ``Trainer`` writes: the schema
    every reader (a resumed run, the training panel) relies on.

    Raises:
        CheckpointError: naming the first entry that does not fit.
    """

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {path} is damaged: {what}")

    if not isinstance(state.get("model_name"), str):
        raise bad("model_name is not a name")
    epoch = state.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise bad(f"epoch is {epoch!r}, not a count of epochs")
    if not isinstance(state.get("config"), Mapping) or not all(isinstance(k, str) for k in state["config"]):
        raise bad("config is not a table of options")
    run_id = state.get("run_id")
    if run_id is not None and (not isinstance(run_id, str) or not run_id or os.sep in run_id or "/" in run_id):
        raise bad(f"run_id {run_id!r} is not a run name")
    from explorer.models.weights import validate_state_dict

    try:
        validate_state_dict(state.get("model_state"), "its model_state")
    except UserError as exc:
        raise bad(str(exc)) from None
    optimizer_state = state.get("optimizer_state")
    if optimizer_state is not None and not (
        isinstance(optimizer_state, Mapping)
        and isinstance(optimizer_state.get("state"), Mapping)
        and isinstance(optimizer_state.get("param_groups"), list)
        and all(isinstance(g, Mapping) for g in optimizer_state["param_groups"])
    ):
        raise bad("optimizer_state is not an optimiser's state")
    if not isinstance(state.get("curves", {}), Mapping):
        raise bad("curves is not a table of lists")
    try:
        curves = checkpoint_curves(state)
    except RecordError as exc:
        raise bad(str(exc)) from None
    if curves.epochs not in (0, epoch):
        raise bad(f"its curves do not cover its {epoch} epochs")

    from explorer.train.config import TrainConfig

    try:
        TrainConfig.from_dict(dict(state["config"])).validate()
    except (UserError, TypeError) as exc:
        raise bad(f"its options are invalid ({exc})") from None


class CheckpointLock:
    """Held by a run on its checkpoint file while it trains, so two runs cannot share one.

    An advisory lock (``flock``) on ``.<name>.lock`` beside the checkpoint: the system drops
    it when its process dies, so a killed run never blocks the next one. The file records
    who holds it, for the message a second run gets.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.lock_path = self.path.parent / f".{self.path.name}.lock"
        self._fd: int | None = None

    def acquire(self) -> CheckpointLock:
        """Take the lock.

        Raises:
            CheckpointError: another run holds it (naming its process), or the folder
                cannot be written.
        """
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; runs are not guarded there
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tries = 0
            while True:
                # O_NONBLOCK: a FIFO in the lock's place must not hang the start.
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o644)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    raise CheckpointError(f"cannot lock checkpoint {self.path}: {self.lock_path} is not a "
                                          f"regular file; remove it")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    tries += 1
                    if tries < 20:
                        # The runs table tests the lock for a moment (never longer): look again.
                        time.sleep(0.01)
                        continue
                    holder = self._holder()
                    raise CheckpointError(
                        f"checkpoint {self.path} is being written by another run ({holder}); "
                        f"choose another --out or wait for that run to end"
                    ) from None
                # The previous holder may have removed the file after we opened it: then
                # the lock is on a deleted file; start over on the new one.
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.lock_path))
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
            info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())
        except OSError as exc:
            raise CheckpointError(write_failure("lock checkpoint", self.path, exc)) from None
        self._fd = fd
        return self

    def _holder(self) -> str:
        from explorer.files import read_regular

        try:
            info = json.loads(read_regular(self.lock_path, limit=4096).decode("utf-8"))
            return f"process {int(info['pid'])} on {info.get('host', '?')}, started {info.get('started', '?')}"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that is starting"

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()  # while still held, so no one locks the old file after
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> CheckpointLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
