"""Checkpoints that a kill cannot break, loaded without running pickled code.

Saving writes a temporary file in the destination folder, flushes and fsyncs it, then
``os.replace``s it over the old checkpoint: the rename is atomic on one file system, so at
any moment the path holds either the previous complete checkpoint or the new one. A kill
between write and rename leaves a stray temporary file, which the next save (or
``clean_stale_temporaries``) removes.

Loading uses ``torch.load(weights_only=True)``: only tensors and plain containers and
scalars are accepted. Anything else (a pickled module, an arbitrary class) is refused.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any

import torch

from explorer.errors import UserError

FORMAT = "cnn-explorer-checkpoint"
VERSION = 1
_TMP_SUFFIX = ".tmp"


class CheckpointError(UserError):
    """A checkpoint cannot be written, read, or holds more than tensors and plain data."""


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def clean_stale_temporaries(path: str | os.PathLike, older_than_s: float = 0.0) -> list[Path]:
    """Remove temporary files an interrupted save of ``path`` left behind.

    Args:
        path: the checkpoint whose temporaries to remove (only files named after it are
            touched, so other runs saving in the same folder are left alone).
        older_than_s: keep temporaries modified more recently than this (a save by
            another process that is still running).

    Returns:
        The removed files.
    """
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    now = time.time()
    for candidate in path.parent.glob(_tmp_prefix(path) + "*" + _TMP_SUFFIX):
        try:
            if now - candidate.stat().st_mtime >= older_than_s:
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:
            pass
    return removed


def _write_and_replace(payload: dict[str, Any], path: Path) -> None:
    tmp = path.parent / f"{_tmp_prefix(path)}{os.getpid()}{_TMP_SUFFIX}"
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # Make the rename itself durable: fsync the folder where the platform allows it.
    if hasattr(os, "O_DIRECTORY"):
        try:
            fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def _replace(tmp: Path, path: Path) -> None:
    # A separate function so tests can simulate a kill between write and rename.
    os.replace(tmp, path)


def save_checkpoint(path: str | os.PathLike, **contents: Any) -> Path:
    """Atomically write a checkpoint holding ``contents`` (tensors and plain data only).

    Typical contents: ``model_name``, ``config`` (dict), ``epoch``, ``model_state``,
    ``optimizer_state``, ``scheduler_state``, ``curves``, ``run_id``.

    Raises:
        CheckpointError: the folder is not writable or the disk is full.
    """
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **contents}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(path)
        _write_and_replace(payload, path)
    except OSError as exc:
        raise CheckpointError(f"cannot save checkpoint {path}: {exc.strerror or exc}") from None
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``.

    Raises:
        CheckpointError: missing, unreadable, not a checkpoint of this app, or holding
            anything but tensors and plain metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        marker = "Unsupported global: GLOBAL "
        if marker not in text:
            # Not a pickle of allowed types at all: bytes that are no checkpoint.
            raise CheckpointError(f"checkpoint {path} is corrupt or truncated (not a torch file)") from None
        # weights_only refuses any global it does not allow: a pickled class or function.
        name = text.split(marker, 1)[1].split()[0]
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain metadata ({name})"
        ) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure of a bad file means the same
        # RuntimeError (bad zip record), EOFError, struct.error (a few stray bytes), ...
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a cnn-explorer training checkpoint")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was written by a newer cnn-explorer (format {payload.get('version')})")
    for key in ("model_name", "config", "epoch", "model_state"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks {key!r}")
    return payload
