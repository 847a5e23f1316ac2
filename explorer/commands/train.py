"""`cnn-explorer train NAME`: train a small variant on Fashion-MNIST from the terminal.

Drives the same engine as the training panel. A progress bar goes to stderr; the final
train and test accuracy and the throughput go to stdout, and with ``--json`` the last line
of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from explorer.errors import UserError
from explorer.json_output import finite_json
from explorer.train.records import EPOCH_SERIES, IMAGES_PER_S, TEST_ACC, TRAIN_ACC, VAL_ACC

# The CSV log's columns: each epoch's series (``EpochMetrics`` attributes of the same
# names) and the time the run has taken so far.
LOG_FIELDS = (*EPOCH_SERIES, "elapsed_s")


def add_parser(subparsers) -> None:
    from explorer.commands.options import BATCH, EPOCHS, SUBSET, float_range
    from explorer.train.config import MAX_LR, OPTIMIZERS, PRESETS

    p = subparsers.add_parser(
        "train",
        help="train a small variant on Fashion-MNIST",
        description="Train a model's small Fashion-MNIST form (or LeNet) with the app's engine. "
        "With no --preset it uses the model's own default recipe (explorer/train/recipes.py); "
        "options override the preset's or the recipe's values.",
    )
    p.add_argument("name", metavar="NAME", nargs="?",
                   help="model (its small form is trained, e.g. resnet18 -> resnet18_small); "
                   "optional with --resume")
    p.add_argument("--epochs", type=EPOCHS, metavar="N", help="passes over the training images (1-10000)")
    p.add_argument("--batch-size", type=BATCH, metavar="B", help="images per step (1-65536)")
    p.add_argument("--lr", type=float_range(0, MAX_LR, above=True), metavar="LR",
                   help=f"learning rate (above 0, at most {MAX_LR:g})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="optimiser (sgd uses momentum 0.9 unless a preset says otherwise)")
    p.add_argument("--preset", choices=tuple(PRESETS), metavar="NAME", help=f"recipe: {', '.join(PRESETS)}")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding FashionMNIST/raw (downloaded there if missing and online)")
    p.add_argument("--subset", type=SUBSET, metavar="N", help="use only the first N training (and test) images")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None, help="where to train (default auto)")
    p.add_argument("--out", metavar="CKPT", help="checkpoint file, rewritten atomically after each epoch")
    p.add_argument("--resume", metavar="CKPT",
                   help="continue the run saved in CKPT with its options (--epochs raises the total, "
                   "--lr, --batch-size and --device override); saves to CKPT unless --out is given")
    p.add_argument("--log", metavar="RUN.csv", help="write per-epoch metrics as CSV")
    p.add_argument("--json", action="store_true", help="last line of output: one JSON object with the results")
    p.set_defaults(run=run)


class ProgressBar:
    """A one-line progress bar on a stream, redrawn at most ``hz`` times per second; on a
    stream that is not a terminal it prints one line per epoch instead."""

    def __init__(self, stream: TextIO, hz: float = 5.0) -> None:
        self.stream = stream
        self.interactive = hasattr(stream, "isatty") and stream.isatty()
        self.interval = 1.0 / hz
        self._last = 0.0
        self._width = 0

    def batch(self, m) -> None:
        from explorer.train import format_duration

        now = time.monotonic()
        if not self.interactive or (now - self._last < self.interval and m.batch != m.batches):
            return
        self._last = now
        done = m.batch / m.batches
        filled = int(done * 24)
        bar = "#" * filled + "-" * (24 - filled)
        loss = f" loss {m.losses[-1]:.4f}" if m.losses else ""
        line = (
            f"epoch {m.epoch}/{m.epochs} [{bar}] {m.batch}/{m.batches}{loss} "
            f"{m.images_per_s:,.0f} img/s {format_duration(m.eta_s)} left"
        )
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()

    def epoch(self, m) -> None:
        if self.interactive:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        val = f" val_acc {m.val_acc:.4f}" if m.val_acc is not None else ""
        self.stream.write(
            f"epoch {m.epoch}/{m.epochs}: train_loss {m.train_loss:.4f} train_acc {m.train_acc:.4f}{val} "
            f"test_acc {m.test_acc:.4f} {m.images_per_s:,.0f} img/s\n"
        )
        if m.overfitting:
            self.stream.write(f"  note: {m.overfitting}\n")
        self.stream.flush()


def _open_log(path: str | None, append: bool = False):
    from explorer.train.checkpoint import write_failure

    if not path:
        return None, None
    log_path = Path(path)
    append = append and log_path.is_file() and log_path.stat().st_size > 0
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log_path, "a" if append else "w", newline="", encoding="utf-8")
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        if not append:
            writer.writeheader()
    except OSError as exc:
        raise UserError(write_failure("write log", log_path, exc)) from None
    return handle, writer


def _write_log_row(handle, writer, event) -> None:
    from explorer.train.checkpoint import write_failure

    try:
        writer.writerow({key: getattr(event, key) for key in LOG_FIELDS})
        handle.flush()
    except OSError as exc:
        raise UserError(write_failure("write log", Path(handle.name), exc)) from None


# Options that --resume lets the user change; the rest come from the checkpoint.
RESUME_OVERRIDES = ("epochs", "lr", "batch_size", "device")


def _config(args: argparse.Namespace):
    """The run's config, and the checkpoint it continues (or None)."""
    from explorer.train import load_checkpoint, make_config, training_model_name
    from explorer.train.config import TrainConfig

    if args.resume is None:
        if args.name is None:
            raise UserError("name a model to train (or continue a run with --resume CKPT)")
        model = training_model_name(args.name)
        return make_config(
            args.preset,
            model=model,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            subset=args.subset,
            device=args.device,
        ), None
    fixed = [flag for flag, value in (("--preset", args.preset), ("--optimizer", args.optimizer),
                                      ("--subset", args.subset)) if value is not None]
    if fixed:
        raise UserError(f"{', '.join(fixed)} cannot change when resuming; the checkpoint's options are used")
    stored = load_checkpoint(args.resume)
    config = TrainConfig.from_dict(dict(stored["config"]))
    if args.name is not None and training_model_name(args.name) != config.model:
        raise UserError(f"checkpoint {args.resume} holds a run of {config.model}, not {args.name}")
    changes = {key: getattr(args, key) for key in RESUME_OVERRIDES if getattr(args, key) is not None}
    return config.replace(**changes).validate(), stored


def run(args: argparse.Namespace) -> int:
    from explorer import settings
    from explorer.train import BatchMetrics, EpochMetrics, RunFinished, Trainer, keep_freed_memory
    from explorer.train.config import preset_fit
    from explorer.train.data import image_count

    # This process exists to train: keep the step's memory instead of faulting it in anew.
    keep_freed_memory()
    config, stored = _config(args)
    misfit = None
    if stored is None:
        images = image_count(settings.data_dir(args.data_dir))
        misfit = preset_fit(args.preset, config.model, config, images)
    if misfit:
        print(f"warning: {misfit}", file=sys.stderr)
    out = args.out
    if stored is None and out and Path(out).is_file():
        # Rerunning a killed run must not replace its longer checkpoint with one epoch.
        raise UserError(
            f"{out} already holds a checkpoint; continue that run with --resume {out}, "
            f"or choose another --out (or delete the file)"
        )
    if stored is not None and not out:
        out = args.resume
    trainer = Trainer(config, data_root=args.data_dir, download=True, checkpoint_path=out,
                      resume=args.resume, resume_overrides=RESUME_OVERRIDES)
    bar = ProgressBar(sys.stderr)
    handle, writer = _open_log(args.log, append=stored is not None)
    finished = None
    try:
        for event in trainer.run():
            if isinstance(event, BatchMetrics):
                bar.batch(event)
            elif isinstance(event, EpochMetrics):
                bar.epoch(event)
                if writer is not None:
                    _write_log_row(handle, writer, event)
            elif isinstance(event, RunFinished):
                finished = event
    except (KeyboardInterrupt, UserError) as exc:
        # The last epoch's checkpoint is intact; record how the run ended, not "running".
        if trainer.record is not None and trainer.record.status == "running":
            interrupted = isinstance(exc, KeyboardInterrupt)
            trainer.journal.finish("stopped" if interrupted else "failed", "interrupted" if interrupted else str(exc),
                                   trainer.curves_so_far())
        raise
    finally:
        if handle is not None:
            # Every row was flushed (and a failed one reported) above: closing writes nothing.
            with contextlib.suppress(OSError):
                handle.close()
    config = trainer.config
    final = finished.record.final
    result = {
        "model": config.model,
        "status": finished.status,
        TEST_ACC: final.test_acc,
        TRAIN_ACC: final.train_acc,
        VAL_ACC: final.val_acc,
        "epochs": final.epochs,
        IMAGES_PER_S: final.images_per_s,
        "train_time_s": final.train_time_s,
        "train_images": final.train_images,
        "test_images": final.test_images,
        "device": final.device,
        "checkpoint": finished.record.checkpoint,
        "run_id": finished.record.run_id,
        "config": config.to_dict(),
    }
    if args.json:
        print(json.dumps(finite_json(result), allow_nan=False))
    else:
        if final.test_acc is None:
            print(f"{config.model}: no epoch finished ({finished.status})")
        else:
            print(
                f"{config.model}: train_acc {final.train_acc:.4f} test_acc {final.test_acc:.4f} "
                f"{final.images_per_s:,.0f} images/s over {final.epochs} epochs ({final.device})"
            )
            if finished.record.checkpoint:
                print(f"checkpoint: {finished.record.checkpoint}")
    return 0
