"""The time machine's store: each epoch's weights and summaries, beside the run's checkpoint.

A run checkpointed at ``checkpoints/RUN.pt`` keeps ``checkpoints/RUN.epochs/``:

- ``epoch-0000.pt`` the starting weights, ``epoch-0001.pt`` ... each epoch's weights, in
  **fp16** (half the disk; the time machine replays them, it does not resume from them:
  resuming uses the full-precision checkpoint). Written atomically and read back with
  ``weights_only`` loads, validated like any weights file.
- ``epoch-0001.json`` ... the epoch's per-layer summaries (``summaries.py``), its test
  confusion matrix, and the test predictions and labels (so the test images in any
  confusion-matrix cell can be listed). These are small and never thinned.

``TrainConfig.keep_epochs`` and ``snapshot_cap_mb`` bound the weights: the oldest epoch
snapshots (never the starting weights) are removed to honour both.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explorer.errors import UserError, describe_os_error
from explorer.files import WriteError, write_atomic
from explorer.train.checkpoint import CheckpointError, save_checkpoint
from explorer.train.records import TEST_ACC, EpochSummary

SNAPSHOT_FORMAT = "cnn-explorer-snapshot"
_WEIGHTS = re.compile(r"^epoch-(\d{4,})\.pt$")
_RECORD = re.compile(r"^epoch-(\d{4,})\.json$")
CLASSES = 10  # Fashion-MNIST's: the confusion matrix is CLASSES x CLASSES


def snapshot_folder(checkpoint: str | os.PathLike) -> Path:
    """The snapshot folder that belongs to a run's checkpoint file."""
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}.epochs")


FP16_MAX = 65504.0


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors in fp16 on the CPU; integer buffers unchanged. A tensor with values
    beyond fp16's range (a diverging run's) stays float32, so its snapshot still loads."""
    out = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point() and (value.numel() == 0 or float(value.abs().max()) <= FP16_MAX):
            value = value.to(torch.float16)
        out[key] = value
    return out


class SnapshotStore:
    """Reads and writes one run's per-epoch snapshots.

    Args:
        folder: the run's snapshot folder (``snapshot_folder(checkpoint)``).
        keep_epochs: how many epoch weight snapshots to keep, newest first (None: all).
        cap_mb: the most disk the weight snapshots may take.
    """

    def __init__(self, folder: str | os.PathLike, keep_epochs: int | None = None, cap_mb: float | None = None) -> None:
        self.folder = Path(folder)
        self.keep_epochs = keep_epochs
        self.cap_bytes = None if cap_mb is None else int(cap_mb * 1024 * 1024)
        self.damaged: dict[int, str] = {}  # epochs whose summary could not be read, and why

    # ---------------------------------------------------------------- writing

    def save_weights(self, epoch: int, model: nn.Module | dict[str, torch.Tensor], model_name: str) -> Path | None:
        """Store ``epoch``'s weights (0: the start) in fp16, then thin; None if not kept."""
        if epoch > 0 and self.keep_epochs == 0:
            return None
        state = model.state_dict() if isinstance(model, nn.Module) else model
        path = self.folder / f"epoch-{epoch:04d}.pt"
        save_checkpoint(path, kind=SNAPSHOT_FORMAT, model_name=model_name, epoch=epoch, model_state=half_state(state))
        self._thin()
        return path if path.exists() else None

    def save_record(self, epoch: int, record: dict[str, Any]) -> Path:
        """Store ``epoch``'s summaries (an ``EpochSummary`` or its JSON form), confusion
        matrix and predictions as JSON."""
        path = self.folder / f"epoch-{epoch:04d}.json"
        if isinstance(record.get("summaries"), EpochSummary):
            record = {**record, "summaries": record["summaries"].to_dict()}
        data = json.dumps({"epoch": epoch, **record}, allow_nan=True).encode()
        try:
            write_atomic(path, data, action="save epoch summary")
        except WriteError as exc:
            raise CheckpointError(str(exc)) from None
        return path

    def _thin(self) -> None:
        epochs = [e for e in self.weight_epochs() if e > 0]
        drop: list[int] = []
        if self.keep_epochs is not None and len(epochs) > self.keep_epochs:
            drop = epochs[: len(epochs) - self.keep_epochs]
        if self.cap_bytes is not None:
            sizes = {e: self.weights_path(e).stat().st_size for e in self.weight_epochs()}
            total = sum(sizes.values())
            for e in epochs:
                if total <= self.cap_bytes:
                    break
                if e not in drop:
                    drop.append(e)
                total -= sizes[e]
        for e in drop:
            self.weights_path(e).unlink(missing_ok=True)

    # ---------------------------------------------------------------- reading

    def weights_path(self, epoch: int) -> Path:
        return self.folder / f"epoch-{epoch:04d}.pt"

    def _numbers(self, pattern: re.Pattern) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := pattern.match(p.name)))

    def weight_epochs(self) -> list[int]:
        """Epochs whose weights are kept (0 is the start), ascending."""
        return self._numbers(_WEIGHTS)

    def record_epochs(self) -> list[int]:
        """Epochs with summaries, ascending."""
        return self._numbers(_RECORD)

    def disk_bytes(self) -> int:
        """Bytes the snapshot folder takes."""
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def load_weights(self, epoch: int, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """Epoch ``epoch``'s weights as float32 (fp16 on disk), validated; loaded into
        ``model`` too when given.

        Raises:
            UserError: that epoch's weights were not kept, or the file is not a snapshot.
        """
        from explorer.models.weight_files import read_torch_file, validate_state_dict

        path = self.weights_path(epoch)
        if not path.exists():
            kept = ", ".join(map(str, self.weight_epochs())) or "none"
            raise UserError(f"no weights kept for epoch {epoch} in {self.folder} (kept: {kept})")
        payload = read_torch_file(path, what="epoch snapshot", error=CheckpointError)
        if not isinstance(payload, dict) or payload.get("kind") != SNAPSHOT_FORMAT:
            raise CheckpointError(f"{path} is not a cnn-explorer epoch snapshot")
        state = {k: v.float() if v.is_floating_point() else v for k, v in payload["model_state"].items()}
        state = validate_state_dict(state, str(path), model)
        if model is not None:
            # Cast back to the model's own dtypes (fp16 on disk only).
            own = model.state_dict()
            model.load_state_dict({k: v.to(own[k].dtype) if k in own else v for k, v in state.items()})
        return state

    def load_record(self, epoch: int) -> dict[str, Any]:
        """Epoch ``epoch``'s ``summaries`` (an ``EpochSummary``), ``confusion``,
        ``predictions``, ``labels`` and test accuracy (``records.TEST_ACC``), checked
        (``check_epoch_record``) before anything draws them.

        Raises:
            UserError: there is none, or it is damaged (one line naming the file).
        """
        from explorer.files import read_json

        path = self.folder / f"epoch-{epoch:04d}.json"
        try:
            return check_epoch_record(read_json(path), epoch)
        except FileNotFoundError:
            raise UserError(f"no summary for epoch {epoch} in {self.folder}") from None
        except OSError as exc:
            raise UserError(f"cannot read {path}: {describe_os_error(exc)}") from None
        except ValueError as exc:
            raise UserError(f"epoch {epoch}'s summary {path} is damaged: {' '.join(str(exc).split())}") from None

    def confusion(self, epoch: int) -> list[list[int]]:
        """The 10x10 test confusion matrix at ``epoch`` (rows: true class)."""
        return self.load_record(epoch)["confusion"]

    def cell_indices(self, epoch: int, true_class: int, predicted_class: int) -> list[int]:
        """Indices into the test split of the images in one confusion-matrix cell."""
        record = self.load_record(epoch)
        pairs = zip(record["labels"], record["predictions"], strict=True)
        return [i for i, (t, p) in enumerate(pairs) if t == true_class and p == predicted_class]

    def summaries(self) -> dict[int, EpochSummary]:
        """Every epoch's per-layer summaries, by epoch. A damaged epoch is left out with a
        one-line warning (also kept in ``damaged``), so the others still show."""
        found: dict[int, EpochSummary] = {}
        self.damaged: dict[int, str] = {}
        for epoch in self.record_epochs():
            try:
                found[epoch] = self.load_record(epoch)["summaries"]
            except UserError as exc:
                self.damaged[epoch] = str(exc)
                warnings.warn(f"skipping {exc}", stacklevel=2)
        return found


class EpochRecordError(ValueError):
    """An epoch record does not match what ``save_record`` writes."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _class_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < CLASSES
                                              for v in value):
        raise EpochRecordError(f"{what} is not a list of class numbers 0-{CLASSES - 1}")
    return value


def check_epoch_record(data: Any, epoch: int) -> dict[str, Any]:
    """``data`` if it is a whole epoch record (what ``save_record`` writes), with its
    ``summaries`` as an ``EpochSummary``; else ValueError saying what is wrong: its
    summaries, a 10 x 10 confusion matrix of counts, predictions and labels of one length.
    Missing optional parts read as empty."""
    if not isinstance(data, dict):
        raise EpochRecordError("not a JSON object")
    if data.get("epoch", epoch) != epoch:
        raise EpochRecordError(f"holds epoch {data.get('epoch')!r}")
    data["summaries"] = EpochSummary.from_dict(data.get("summaries", {}))
    confusion = data.get("confusion")
    if confusion is not None and not (
        isinstance(confusion, list) and len(confusion) == CLASSES
        and all(isinstance(row, list) and len(row) == CLASSES for row in confusion)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for row in confusion for v in row)
    ):
        raise EpochRecordError(f"'confusion' is not a {CLASSES} x {CLASSES} table of counts")
    predictions, labels = data.get("predictions"), data.get("labels")
    if (predictions is not None or labels is not None) and len(_class_list(predictions, "'predictions'")) != len(
        _class_list(labels, "'labels'")
    ):
        raise EpochRecordError(f"{len(predictions)} predictions for {len(labels)} labels")
    if data.get(TEST_ACC) is not None and not _number(data[TEST_ACC]):
        raise EpochRecordError(f"{TEST_ACC!r} is not a number")
    return data
