"""Continuing a run from its checkpoint: the checkpoint's options, epochs done and curves.

``load_checkpoint`` has already checked every entry against what ``Trainer`` writes
(``checkpoint.check_metadata``), so a hand-edited or foreign file ends in one
``CheckpointError`` line, not a TypeError deep in the loop.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import torch
from torch import nn

from explorer.errors import UserError
from explorer.train.checkpoint import CheckpointError, checkpoint_curves, load_checkpoint
from explorer.train.config import TrainConfig
from explorer.train.records import Curves


@dataclasses.dataclass
class ResumeState:
    """What a run continues from.

    Attributes:
        config: the checkpoint's config, with ``epochs`` and ``device`` from the caller.
        start_epoch: epochs already done.
        curves: the curves so far.
        run_id: the run's history key, if the checkpoint names one.
        model_state: the model's tensors.
        optimizer_state: the optimiser's state, if saved.
    """

    config: TrainConfig
    start_epoch: int
    curves: Curves
    run_id: str | None
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None


def load_resume_state(
    path: str | os.PathLike, config: TrainConfig, overrides: tuple[str, ...] = ("device",)
) -> ResumeState:
    """Read and check ``path`` for a run that continues it.

    Args:
        path: the checkpoint.
        config: the caller's options. Its ``epochs`` raise the checkpoint's total (to go on);
            the fields named in ``overrides`` replace the checkpoint's own.
        overrides: fields taken from ``config``; ``epochs`` among them sets the total as given.

    Raises:
        CheckpointError: the file is unreadable, not a checkpoint, or damaged.
        UserError: its options are invalid, or it already finished the epochs asked for.
    """
    state = load_checkpoint(path)  # checked against the checkpoint schema there
    stored = TrainConfig.from_dict(dict(state["config"]))
    epochs = config.epochs if "epochs" in overrides else max(config.epochs, stored.epochs)
    changes = {key: getattr(config, key) for key in overrides}
    merged = stored.replace(**{**changes, "epochs": epochs}).validate()
    start_epoch = state["epoch"]
    if start_epoch >= merged.epochs:
        raise UserError(f"checkpoint {path} already finished {start_epoch} epochs; ask for more with --epochs")
    curves = checkpoint_curves(state)
    if any(v is not None and not math.isfinite(v) for v in curves.train_loss + curves.test_loss):
        raise CheckpointError(f"checkpoint {path} was saved from a diverged run (its losses are not finite)")
    return ResumeState(
        config=merged,
        start_epoch=start_epoch,
        curves=curves,
        run_id=state.get("run_id"),
        model_state=dict(state["model_state"]),
        optimizer_state=state.get("optimizer_state"),
    )


def restore_model(state: ResumeState, model: nn.Module, path: str | os.PathLike) -> None:
    """Load the checkpoint's weights into ``model``, checked against it first.

    Raises:
        UserError: the weights are of the wrong kind or do not fit the model.
    """
    from explorer.models.weights import validate_state_dict

    validate_state_dict(state.model_state, f"checkpoint {path}", model)
    try:
        model.load_state_dict(state.model_state)
    except RuntimeError as exc:
        raise UserError(f"checkpoint {path} does not fit {state.config.model}: {str(exc).splitlines()[0]}") from None


def restore_optimizer(state: ResumeState, optimizer: torch.optim.Optimizer, path: str | os.PathLike) -> None:
    """Load the checkpoint's optimiser state, if it has one.

    Raises:
        UserError: it does not fit the optimiser.
    """
    if state.optimizer_state is None:
        return
    try:
        optimizer.load_state_dict(state.optimizer_state)
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
        # torch checks the groups' sizes (ValueError) but not every entry's type.
        raise UserError(
            f"checkpoint {path} holds an optimiser state that does not fit "
            f"{state.config.optimizer} on {state.config.model} ({type(exc).__name__})"
        ) from None
