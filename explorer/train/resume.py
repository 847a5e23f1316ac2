"""Continuing a run from its checkpoint: what is read back, checked before any of it is used.

A checkpoint passes ``load_checkpoint`` when it unpickles as tensors and plain data; that
says nothing about the values. Everything a resumed run reads (epoch, config, curves,
states) is checked here against the shape ``Trainer`` writes, so a hand-edited or foreign
file ends in one ``CheckpointError`` line instead of a TypeError deep in the loop.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

import torch

from explorer.errors import UserError
from explorer.train.checkpoint import CheckpointError, load_checkpoint
from explorer.train.config import TrainConfig

CURVE_KEYS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "lr",
    "images_per_s",
    "batch_loss",
)


@dataclasses.dataclass
class ResumeState:
    """What a run continues from.

    Attributes:
        config: the checkpoint's config, with ``epochs`` and ``device`` from the caller.
        start_epoch: epochs already done.
        curves: the curves so far (every key of ``CURVE_KEYS``).
        run_id: the run's history key, if the checkpoint names one.
        model_state: the model's tensors.
        optimizer_state: the optimiser's state, if saved.
    """

    config: TrainConfig
    start_epoch: int
    curves: dict[str, list]
    run_id: str | None
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None


def empty_curves() -> dict[str, list]:
    return {key: [] for key in CURVE_KEYS}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_metadata(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Check a loaded checkpoint's entries against what ``Trainer`` writes.

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
    model_state = state.get("model_state")
    if not isinstance(model_state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model_state.items()
    ):
        raise bad("model_state is not tensors by parameter name")
    optimizer_state = state.get("optimizer_state")
    if optimizer_state is not None and not (
        isinstance(optimizer_state, Mapping)
        and isinstance(optimizer_state.get("state"), Mapping)
        and isinstance(optimizer_state.get("param_groups"), list)
        and all(isinstance(g, Mapping) for g in optimizer_state["param_groups"])
    ):
        raise bad("optimizer_state is not an optimiser's state")
    curves = state.get("curves", {})
    if not isinstance(curves, Mapping):
        raise bad("curves is not a table of lists")
    for key in CURVE_KEYS:
        values = curves.get(key, [])
        if not isinstance(values, list) or not all(v is None or _is_number(v) for v in values):
            raise bad(f"curve {key!r} is not a list of numbers")
    per_epoch = [len(curves.get(key, [])) for key in CURVE_KEYS if key != "batch_loss"]
    if any(n != epoch for n in per_epoch if n):
        raise bad(f"its curves do not cover its {epoch} epochs")


def load_resume_state(path: str | os.PathLike, config: TrainConfig) -> ResumeState:
    """Read and check ``path`` for a run that continues it.

    Args:
        path: the checkpoint.
        config: the caller's options; only ``epochs`` (more than the checkpoint's, to go on)
            and ``device`` override the checkpoint's own.

    Raises:
        CheckpointError: the file is unreadable, not a checkpoint, or damaged.
        UserError: its options are invalid, or it already finished the epochs asked for.
    """
    state = load_checkpoint(path)
    check_metadata(state, path)
    try:
        stored = TrainConfig.from_dict(dict(state["config"]))
        stored.validate()
    except (UserError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} holds invalid options: {exc}") from None
    merged = stored.replace(epochs=max(config.epochs, stored.epochs), device=config.device)
    start_epoch = state["epoch"]
    if start_epoch >= merged.epochs:
        raise UserError(f"checkpoint {path} already finished {start_epoch} epochs; ask for more with --epochs")
    curves = empty_curves()
    curves.update({k: list(v) for k, v in state.get("curves", {}).items() if k in curves})
    if any(v is not None and not math.isfinite(v) for v in curves["train_loss"] + curves["test_loss"]):
        raise CheckpointError(f"checkpoint {path} was saved from a diverged run (its losses are not finite)")
    return ResumeState(
        config=merged,
        start_epoch=start_epoch,
        curves=curves,
        run_id=state.get("run_id"),
        model_state=dict(state["model_state"]),
        optimizer_state=state.get("optimizer_state"),
    )
