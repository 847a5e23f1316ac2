"""What a run leaves behind: its entry in the run history and its checkpoint file.

``RunJournal`` keeps both up to date after each epoch and closes the record with the
run's status, so the engine only says what happened.
"""

from __future__ import annotations

import contextlib
import re
import dataclasses
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import nn

from explorer import settings
from explorer.errors import UserError
from explorer.train.checkpoint import CheckpointLock, save_checkpoint
from explorer.train.config import TrainConfig
from explorer.train.events import RunFinished
from explorer.train.history import RunHistory
from explorer.train.records import Curves, FinalFigures, RunRecord


def new_run_id(model: str) -> str:
    """A new run's key, which names its record and checkpoint files: the time, the model and
    a random tail. A model opened from a file is named by its title (``TinyNet (net.py)``),
    made file-safe, not by its path."""
    from explorer.models.sources import is_file_source, parse_source

    name = model
    if is_file_source(model):
        try:
            name = parse_source(model).title
        except UserError:
            name = "model"
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.")[:48] or "model"
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(2)}"


def default_checkpoint_path(run_id: str) -> Path:
    return settings.user_data_dir() / "checkpoints" / f"{run_id}.pt"


class RunJournal:
    """The history record and checkpoint of one run.

    Args:
        history: where the record goes (None: not recorded).
        checkpoint: ``False`` for none, ``None``/``True`` for the default path, or a path.
        config: the run's options.
        run_id: the run's key (a resumed run keeps its own).
        curves: the run's curves so far (empty for a new run); each epoch brings new ones.
        resuming: continue the history entry of ``run_id`` if there is one.

    ``record`` is the run's record as last written (a frozen value, replaced on each change).
    """

    def __init__(
        self,
        history: RunHistory | None,
        checkpoint: str | os.PathLike | bool | None,
        config: TrainConfig,
        run_id: str,
        curves: Curves,
        *,
        resuming: bool = False,
    ) -> None:
        self.history = history
        self.config = config
        if checkpoint is False:
            self.checkpoint_path: Path | None = None
        elif checkpoint in (None, True):
            self.checkpoint_path = default_checkpoint_path(run_id)
        else:
            self.checkpoint_path = Path(checkpoint)
        # Before anything is written: a second run on the same file stops here.
        self.lock = CheckpointLock(self.checkpoint_path).acquire() if self.checkpoint_path else None
        record = None
        if history is not None and resuming:
            with contextlib.suppress(OSError, ValueError):
                record = history.load(run_id)
        record = record or RunRecord(
            run_id=run_id,
            model=config.model,
            config=config.to_dict(),
            started=datetime.now().isoformat(timespec="seconds"),
        )
        self.record = dataclasses.replace(
            record,
            status="running",
            config=config.to_dict(),
            curves=curves,
            checkpoint=str(self.checkpoint_path) if self.checkpoint_path else None,
        )
        try:
            # A run that cannot be recorded stops here, before any training, with the reason.
            self.save_record(strict=True)
        except BaseException:
            self.close()
            raise

    def save_record(self, strict: bool = False) -> None:
        """Write the record, keeping a name the user gave the run meanwhile (under the
        record's lock, so a rename and this save never undo each other).

        Args:
            strict: raise when it cannot be written (at the start); later, losing the
                history entry must not end a run that is training fine.
        """
        if self.history is None:
            return

        def merge(on_disk: RunRecord | None) -> RunRecord:
            if on_disk is not None:
                self.record = dataclasses.replace(self.record, name=on_disk.name)
            return self.record

        try:
            self.history.update(self.record.run_id, merge)
        except OSError as exc:
            if strict:
                raise UserError(f"cannot record the run: {exc}") from None
            self.record = dataclasses.replace(self.record, message=f"cannot write run history: {exc}")

    def end_epoch(self, curves: Curves, model: nn.Module, optimizer_state: dict[str, Any], facts: dict[str, Any]) -> Path | None:
        """Save the checkpoint (if any) and the record after the epoch ``curves`` end with.

        Args:
            curves: the run's curves, the epoch just finished included.
            model: the model to save.
            optimizer_state: the optimiser's state dict.
            facts: the final figures that are not curves (``FinalFigures.after``'s
                ``train_time_s``, ``train_images``, ``test_images``, ``device``).

        Returns:
            The checkpoint written, or None.
        """
        epoch = curves.epoch[-1]
        checkpoint = None
        if self.checkpoint_path is not None:
            checkpoint = save_checkpoint(
                self.checkpoint_path,
                model_name=self.config.model,
                config=self.config.to_dict(),
                epoch=epoch,
                run_id=self.record.run_id,
                model_state=model.state_dict(),
                optimizer_state=optimizer_state,
                curves=curves.to_dict(),
            )
        self.record = dataclasses.replace(self.record, curves=curves, final=FinalFigures.after(curves, **facts))
        self.save_record()
        return checkpoint

    def finish(self, status: str, message: str, curves: Curves | None = None) -> RunFinished:
        """Close the record: ``completed``, ``stopped`` or ``failed`` with a reason.

        Args:
            status: how the run ended.
            message: why (empty when it completed).
            curves: the curves to record, when they grew since the last epoch (the
                batch losses of an epoch that did not finish).
        """
        self.record = dataclasses.replace(
            self.record,
            status=status,
            message=message,
            finished=datetime.now().isoformat(timespec="seconds"),
            curves=self.record.curves if curves is None else curves,
        )
        self.save_record()
        self.close()
        return RunFinished(status=status, message=message, record=self.record)

    def close(self) -> None:
        """Let go of the checkpoint file (idempotent)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
