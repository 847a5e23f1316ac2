"""The training engine: a generator that yields metrics per batch and per epoch.

The CLI and the Qt panel both iterate ``Trainer.run()``. Between batches it honours a
``TrainControl`` (pause, stop), so either front end can pause or stop within one batch.
Around it: the events it yields (``events.py``), the recipe that builds the model,
optimiser and schedule (``recipe.py``), the evaluation passes (``evaluation.py``) and what
a resumed run reads back (``resume.py``).

Speed comes from keeping the data on the device (``data.py``), preparing batches there
(``augment.py``) and never synchronising with the device inside the step loop: each
batch's loss goes into a device tensor and the correct-prediction count accumulates on the
device; both are read back at most every ``report_interval_s`` (a few times per second) and
at the end of each epoch. A ``BatchMetrics`` is yielded every batch; only those yielded at
a read carry the new per-batch losses.

Over 400 lines because ``Trainer`` is one state machine (set-up, the step loop with its
deferred reads, the divergence watch, end of epoch with its checkpoint, out-of-memory
recovery) over one set of device-side accumulators; its parts already live in the modules
named above.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explorer.errors import UserError
from explorer.train.augment import prepare_batch
from explorer.train.config import TrainConfig
from explorer.train.control import TrainControl
from explorer.train.data import FashionData, load_for_run, move_data
from explorer.train.evaluation import accuracy, evaluate, misclassified, overfitting_notice
from explorer.train.events import (
    BatchMetrics,
    EpochMetrics,
    RunFinished,
    RunStarted,
    StateChanged,
    TrainingError,
    format_duration,
)
from explorer.train.history import RunHistory
from explorer.train.journal import RunJournal, new_run_id
from explorer.train.loss import DivergenceWatch
from explorer.train.recipe import (
    build_model,
    device_options,
    input_geometry,
    lr_at,
    make_criterion,
    make_optimizer,
    resolve_device,
    split_outputs,
    xavier_init,
)
from explorer.train.records import TEST_ACC, Curves, EpochSummary, RunRecord
from explorer.train.resume import load_resume_state, restore_model, restore_optimizer
from explorer.train.snapshots import SnapshotStore, snapshot_folder
from explorer.train.summaries import SummaryRecorder

# Images in the fixed probe batch the dead-ReLU fraction is measured on.
PROBE_IMAGES = 256

# The training panel imports format_duration from here (it moved to events.py).
__all__ = ["Event", "Trainer", "format_duration", "train"]

Event = RunStarted | BatchMetrics | EpochMetrics | StateChanged | RunFinished


class Trainer:
    """One training run; iterate ``run()`` to drive it.

    Args:
        config: the run's options (when resuming, only ``epochs`` and the fields named in
            ``resume_overrides`` count; the run continues with the checkpoint's own options).
        data: already loaded data (tests, benchmarks); otherwise read from ``data_root``.
        data_root: folder holding ``FashionMNIST/raw`` (default ``settings.data_dir()``).
        download: allow torchvision to download a missing data set.
        model: a ready model instead of ``config.model`` from the registry (tests).
        control: pause/stop flags; a fresh one if not given.
        checkpoint_path: where to save after each epoch (default: the data folder's
            ``checkpoints/<run_id>.pt``); ``False`` disables checkpoints.
        resume: a checkpoint to continue from.
        resume_overrides: options of ``config`` that replace the checkpoint's when resuming
            (``epochs`` there sets the total; otherwise it can only raise it).
        history: where to record the run (default: the platform data folder); ``False``
            disables recording.
        report_interval_s: how often per-batch losses are read back from the device.
        record_summaries: record per-layer summaries (gradient norms, weight change,
            dead ReLUs) and, with a checkpoint, per-epoch snapshots (the time machine).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        data: FashionData | None = None,
        data_root: str | os.PathLike | None = None,
        download: bool = False,
        model: nn.Module | None = None,
        control: TrainControl | None = None,
        checkpoint_path: str | os.PathLike | bool | None = None,
        resume: str | os.PathLike | None = None,
        history: RunHistory | bool | None = None,
        report_interval_s: float = 0.25,
        resume_overrides: tuple[str, ...] = ("device",),
        record_summaries: bool = True,
    ) -> None:
        self.config = config.validate()
        self.data = data
        self.data_root = data_root
        self.download = download
        self.model = model
        self.control = control or TrainControl()
        self._checkpoint_arg = checkpoint_path
        self.resume = resume
        self.resume_overrides = tuple(resume_overrides)
        self.history = RunHistory() if history is None else (history or None)
        self.report_interval_s = report_interval_s
        self.record_summaries = record_summaries
        self.recorder: SummaryRecorder | None = None
        self.snapshots: SnapshotStore | None = None
        self.device: torch.device | None = None
        self.checkpoint_path: Path | None = None
        self.curves = Curves()
        # Losses of the epoch in progress, read back so far (they join the curves at its end).
        self._epoch_losses: list[float] = []

    @property
    def record(self) -> RunRecord | None:
        """The run's record as last written (None before set-up)."""
        journal = getattr(self, "journal", None)
        return journal.record if journal is not None else None

    # ---------------------------------------------------------------- setup

    def _setup(self) -> None:
        config = self.config
        state = None
        if self.resume is not None:
            state = load_resume_state(self.resume, config, self.resume_overrides)
            config = state.config
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)

        self.info = None
        if self.model is None:
            self.model, self.info = build_model(config)
        if config.init == "xavier" and state is None:
            xavier_init(self.model)
        if state is not None:
            restore_model(state, self.model, self.resume)

        self.channels_last, self.amp = device_options(config, self.device)
        self.model.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)

        if self.data is None:
            self.data = load_for_run(self.data_root, self.device, config, download=self.download)
        elif self.data.device != self.device:
            self.data = move_data(self.data, self.device)
        self.mean, self.std, self.size, self.in_channels = input_geometry(config, self.info)

        self.optimizer = make_optimizer(config, self.model)
        if state is not None:
            restore_optimizer(state, self.optimizer, self.resume)
        self.criterion = make_criterion(config)

        n_train = len(self.data.train_labels)
        self.batch_size = min(config.batch_size, n_train)
        # A last batch of one image breaks batch norm in training mode: drop it.
        self.batches_per_epoch = n_train // self.batch_size + (n_train % self.batch_size > 1)
        self.start_epoch = state.start_epoch if state is not None else 0
        self.curves = state.curves if state is not None else Curves()
        run_id = (state.run_id if state is not None else None) or new_run_id(config.model)
        self.journal = RunJournal(
            self.history, self._checkpoint_arg, config, run_id, self.curves, resuming=state is not None
        )
        self.checkpoint_path = self.journal.checkpoint_path
        if self.record_summaries:
            self._setup_time_machine(resuming=state is not None)

    def _setup_time_machine(self, resuming: bool) -> None:
        config = self.config
        start_state = None
        if self.checkpoint_path is not None:
            self.snapshots = SnapshotStore(
                snapshot_folder(self.checkpoint_path), config.keep_epochs, config.snapshot_cap_mb
            )
            if not resuming:
                self.snapshots.save_weights(0, self.model, config.model)
            elif 0 in self.snapshots.weight_epochs():
                # Weight change is measured from the run's start, not from the resume.
                start_state = self.snapshots.load_weights(0)
        self.recorder = SummaryRecorder(self.model, start_state)
        probe = self.data.test_images[:PROBE_IMAGES]
        self.probe = self._batch(probe, False, None) if len(probe) > 1 else None

    # ---------------------------------------------------------------- steps

    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _batch(self, images: torch.Tensor, augment: bool, generator: torch.Generator | None) -> torch.Tensor:
        return prepare_batch(
            images,
            mean=self.mean,
            std=self.std,
            size=self.size,
            in_channels=self.in_channels,
            flip=augment,
            shift=self.config.shift if augment else 0,
            channels_last=self.channels_last,
            generator=generator,
        )

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self._autocast():
            logits, aux = split_outputs(self.model(x))
            loss = self.criterion(logits, y)
            for extra in aux:
                loss = loss + self.config.aux_weight * self.criterion(extra, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.recorder is not None:
            self.recorder.after_backward()
        self.optimizer.step()
        return loss.detach(), logits.detach()

    def _evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor] | None:
        """Loss, confusion matrix (device, 10x10) and predictions; None if stopped."""
        return evaluate(
            self.model,
            images,
            labels,
            prepare=lambda x: self._batch(x, False, None),
            batch_size=self.config.eval_batch_size,
            autocast=self._autocast,
            stop_requested=lambda: self.control.stop_requested,
        )

    # ---------------------------------------------------------------- run

    def run(self) -> Iterator[Event]:
        """Train, yielding RunStarted once set up, a BatchMetrics per batch, an EpochMetrics
        per epoch, StateChanged on pause/resume, and a final RunFinished.

        Raises:
            TrainingError: out of memory, or the loss diverged.
            UserError: missing or corrupt data, a bad checkpoint, an unknown model.
        """
        try:
            self._setup()
        except BaseException as exc:
            # A start that fails after the journal opened (the first snapshot cannot be
            # written) closes the record and lets go of the checkpoint at once.
            journal = getattr(self, "journal", None)
            if journal is not None:
                if journal.record.status == "running":
                    reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
                    journal.finish("failed", reason)
                journal.close()
            raise
        try:
            yield from self._run()
        except UserError as exc:
            if self.record.status == "running":
                self.journal.finish("failed", str(exc), self.curves_so_far())
            raise
        finally:
            # Stopped, failed or abandoned: another run may use the checkpoint file now.
            self.journal.close()

    def _run(self) -> Iterator[Event]:
        yield RunStarted(
            run_id=self.record.run_id,
            config=self.config,
            checkpoint=str(self.checkpoint_path) if self.checkpoint_path else None,
            sizes=self.data.sizes,
            device=str(self.device),
            start_epoch=self.start_epoch,
        )
        self.watch = DivergenceWatch(num_classes=10, lr=self.config.lr)
        self._generator = torch.Generator(device=self.device)
        self._train_time = self._eval_time = 0.0
        self._images_seen = 0
        self._global_batch = len(self.curves.batch_loss)
        for epoch in range(self.start_epoch + 1, self.config.epochs + 1):
            trained = yield from self._train_epoch(epoch)
            if trained is None:
                yield self._finish("stopped", "stopped by the user")
                return
            metrics = self._end_epoch(epoch, *trained)
            if metrics is None:
                yield self._finish("stopped", "stopped by the user")
                return
            yield metrics
        yield self._finish("completed", "")

    def _train_epoch(self, epoch: int) -> Iterator[Event]:
        """One pass over the training split; returns (mean loss, accuracy, last lr), or
        None when stopped."""
        config, data, device = self.config, self.data, self.device
        n_train = len(data.train_labels)
        bs, batches = self.batch_size, self.batches_per_epoch
        total_steps = config.epochs * batches
        generator = self._generator
        self.model.train()
        # Seeded per epoch so a resumed run draws the same batches as an unbroken one.
        generator.manual_seed(config.seed * 100_003 + epoch)
        perm = torch.randperm(n_train, device=device, generator=generator)
        loss_per_batch = torch.zeros(batches, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        self._epoch_losses = []
        read_upto = 0
        epoch_images = 0
        train_acc = None
        lr = config.lr
        tick = time.perf_counter()
        last_read = tick
        for b in range(batches):
            if self.control.paused and not self.control.stop_requested:
                self._train_time += time.perf_counter() - tick
                yield StateChanged("paused")
                self.control.wait_while_paused()
                tick = time.perf_counter()
                if not self.control.stop_requested:
                    yield StateChanged("running")
            if self.control.stop_requested:
                return None
            idx = perm[b * bs : (b + 1) * bs]
            y = data.train_labels[idx]
            lr = lr_at(config, (epoch - 1) * batches + b, total_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            out_of_memory = False
            try:
                x = self._batch(data.train_images[idx], config.augment, generator)
                loss, logits = self._step(x, y)
            except torch.OutOfMemoryError:
                # Recover outside the except block: the exception's traceback holds the
                # frames (and their tensors) alive until it is left (PyTorch FAQ).
                out_of_memory = True
            if out_of_memory:
                self._recover_from_oom()
                raise TrainingError(
                    f"out of memory on {device} at batch size {bs}; halve the batch size "
                    f"(try {max(bs // 2, 1)}) or use a smaller width"
                )
            loss_per_batch[b] = loss
            correct += (logits.argmax(1) == y).sum()
            epoch_images += len(y)
            self._images_seen += len(y)

            now = time.perf_counter()
            new_losses: list[float] = []
            first_index = self._global_batch + read_upto
            if now - last_read >= self.report_interval_s or b == batches - 1:
                # The only host synchronisation in the loop, a few times per second.
                new_losses = loss_per_batch[read_upto : b + 1].tolist()
                train_acc = correct.item() / epoch_images
                read_upto = b + 1
                last_read = time.perf_counter()
                self._check_losses(new_losses, epoch)
                self._epoch_losses.extend(new_losses)
            elapsed = self._train_time + (now - tick)
            rate = self._images_seen / elapsed if elapsed > 0 else 0.0
            remaining = (config.epochs - epoch) * n_train + (n_train - epoch_images)
            done_epochs = max(epoch - 1 - self.start_epoch, 1)
            per_eval = self._eval_time / done_epochs if self._eval_time else 0.0
            eta = remaining / rate + per_eval * (config.epochs - epoch + 1) if rate > 0 else float("nan")
            yield BatchMetrics(
                epoch=epoch,
                epochs=config.epochs,
                batch=b + 1,
                batches=batches,
                images_seen=self._images_seen,
                elapsed_s=elapsed,
                images_per_s=rate,
                eta_s=eta,
                lr=lr,
                losses=new_losses,
                first_loss_index=first_index,
                train_acc=train_acc,
            )
        self._train_time += time.perf_counter() - tick
        self._global_batch += batches
        return float(loss_per_batch.mean()), train_acc, lr

    def _check_losses(self, losses: list[float], epoch: int) -> None:
        """Raise TrainingError when the newly read losses show the run diverged."""
        self._stop_if(self.watch.check_losses(losses), epoch)

    def _stop_if(self, verdict: str | None, epoch: int) -> None:
        if verdict is not None:
            message = f"{verdict} (epoch {epoch})"
            self._fail(message)
            raise TrainingError(message)

    def _end_epoch(self, epoch: int, train_loss: float, train_acc: float, lr: float) -> EpochMetrics | None:
        """Evaluate, record the curves, save the checkpoint; None when stopped."""
        data = self.data
        eval_start = time.perf_counter()
        val = None
        if len(data.val_labels):
            val = self._evaluate(data.val_images, data.val_labels)
            if val is None:
                return None
        test = self._evaluate(data.test_images, data.test_labels)
        if test is None:
            return None
        self._eval_time += time.perf_counter() - eval_start
        test_loss, confusion, preds = test
        confusion_rows = confusion.tolist()
        test_acc = accuracy(confusion_rows)
        val_loss, val_acc = (val[0], accuracy(val[1].tolist())) if val is not None else (None, None)
        # Before anything is recorded or saved: a diverged epoch leaves no checkpoint.
        self._stop_if(self.watch.check_epoch(train_loss, train_acc, test_loss), epoch)
        rate = self._images_seen / self._train_time if self._train_time > 0 else 0.0
        self.curves = self.curves.with_epoch(
            self._epoch_losses, epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
            val_acc=val_acc, test_loss=test_loss, test_acc=test_acc, lr=lr, images_per_s=rate,
        )
        self._epoch_losses = []
        checkpoint = self.journal.end_epoch(
            self.curves,
            self.model,
            self.optimizer.state_dict(),
            {
                "train_time_s": self._train_time,
                "train_images": len(data.train_labels),
                "test_images": len(data.test_labels),
                "device": str(self.device),
            },
        )
        summaries = self._record_epoch(epoch, confusion_rows, test_acc, preds)
        return EpochMetrics(
            epoch=epoch,
            epochs=self.config.epochs,
            train_loss=train_loss,
            train_acc=train_acc,
            val_loss=val_loss,
            val_acc=val_acc,
            test_loss=test_loss,
            test_acc=test_acc,
            lr=lr,
            images_per_s=rate,
            elapsed_s=self._train_time + self._eval_time,
            confusion=confusion_rows,
            misclassified=misclassified(data.test_images, data.test_labels, preds),
            overfitting=overfitting_notice(train_acc, test_acc),
            checkpoint=str(checkpoint) if checkpoint else None,
            model=self.model,
            summaries=summaries,
        )

    def _record_epoch(
        self, epoch: int, confusion_rows: list, test_acc: float, preds: torch.Tensor
    ) -> EpochSummary | None:
        """Summarise the layers and store the epoch's snapshot (time machine)."""
        if self.recorder is None:
            return None
        summaries = self.recorder.end_epoch(self.probe, self._autocast)
        if self.snapshots is not None:
            self.snapshots.save_weights(epoch, self.model, self.config.model)
            self.snapshots.save_record(
                epoch,
                {
                    TEST_ACC: test_acc,
                    "confusion": confusion_rows,
                    "summaries": summaries,
                    "predictions": preds.tolist(),
                    "labels": self.data.test_labels.tolist(),
                },
            )
        return summaries

    # ---------------------------------------------------------------- endings

    def curves_so_far(self) -> Curves:
        """The curves with the losses of an epoch in progress (what a run that ends now records)."""
        return self.curves.with_batch_losses(self._epoch_losses)

    def _finish(self, status: str, message: str) -> RunFinished:
        return self.journal.finish(status, message, self.curves_so_far())

    def _fail(self, message: str) -> None:
        self.journal.finish("failed", message, self.curves_so_far())

    def _recover_from_oom(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self._fail("out of memory")


def train(config: TrainConfig, **kwargs: Any) -> Iterator[Event]:
    """Shorthand for ``Trainer(config, **kwargs).run()``."""
    return Trainer(config, **kwargs).run()
