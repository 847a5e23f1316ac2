"""`cnn-explorer zoo train|list`: (re)train the shipped Fashion-MNIST weights, or list them.

``zoo train`` trains each small form with its zoo recipe (``explorer.train.recipes``)
through the same ``Trainer`` as ``cnn-explorer train``, then stores the weights in half
precision and scores the *stored* weights on every test image and on the unaugmented
training images. Each model's file and manifest record are written together as soon as
it finishes (``shipped.commit_weights``: an interrupt, a kill or a full disk leaves either
the old pair or the new one), so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from explorer.commands.options import EPOCHS, SUBSET, THREADS
from explorer.errors import UserError

# Per-epoch progress is scored on this many test images (the final score uses all of
# them): a full test pass every epoch would cost up to a quarter of the training time.
MONITOR_TEST_IMAGES = 1000


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "zoo",
        help="train or list the shipped Fashion-MNIST weights",
        description="Train the small forms' shipped weights (zoo train) or list them (zoo list).",
    )
    sub = p.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train shipped weights and write them with their manifest")
    t.add_argument("--models", nargs="+", metavar="NAME", help="models to train (default: every shipped small form)")
    t.add_argument("--data-dir", metavar="DIR", help="folder holding FashionMNIST/raw")
    t.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto", help="where to train")
    t.add_argument("--out", metavar="DIR", help="weights folder (default: the package's resources/weights)")
    t.add_argument("--epochs", type=EPOCHS, metavar="N", help="override every model's epoch count (quick checks)")
    t.add_argument("--subset", type=SUBSET, metavar="N", help="train on the first N images only (quick checks)")
    t.add_argument("--threads", type=THREADS, metavar="N", help="CPU threads for torch (1 to 4 per core)")
    t.set_defaults(run=run_train)
    ls = sub.add_parser("list", help="list the shipped weights and their accuracy")
    ls.add_argument("--dir", metavar="DIR", help="weights folder (default: the package's)")
    ls.set_defaults(run=run_list)


def _command_for(model: str, args: argparse.Namespace) -> str:
    """The command that retrains just ``model`` the same way (each model is seeded alone)."""
    words = ["cnn-explorer", "zoo", "train", "--models", model]
    if args.data_dir:
        words += ["--data-dir", args.data_dir]
    words += ["--device", args.device]
    for flag, value in (("--epochs", args.epochs), ("--subset", args.subset)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def _table(rows: list[dict]) -> str:
    head = f"{'model':22s} {'params':>10s} {'epochs':>6s} {'seconds':>8s} {'train':>6s} {'test':>6s} {'size':>9s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['name']:22s} {r['params']:>10,d} {r['epochs']:>6d} {r['seconds']:>8.0f} "
            f"{r['train_accuracy']:>6.3f} {r['test_accuracy']:>6.3f} {r['bytes'] / 1e6:>7.2f}MB"
        )
    return "\n".join(lines)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from explorer import settings
    from explorer.commands.train import ProgressBar
    from explorer.models import count_parameters, get_model, shipped
    from explorer.models.zoo import ZOO_EPOCHS, ZOO_EXCLUDED
    from explorer.train import (
        BatchMetrics,
        EpochMetrics,
        RunFinished,
        Trainer,
        keep_freed_memory,
        load_fashion_mnist,
        make_config,
    )
    from explorer.train.data import dataset_facts
    from explorer.train.evaluation import accuracy_on
    from explorer.train.recipe import resolve_device
    from explorer.train.recipes import zoo_recipe

    models = args.models or list(ZOO_EPOCHS)
    unknown = [m for m in models if m not in ZOO_EPOCHS]
    if unknown:
        why = "; ".join(f"{m}: {ZOO_EXCLUDED[m]}" for m in unknown if m in ZOO_EXCLUDED)
        raise UserError(
            f"no zoo recipe for {', '.join(unknown)}" + (f" ({why})" if why else "")
            + f"; choose from {', '.join(ZOO_EPOCHS)}"
        )
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    if args.threads:
        torch.set_num_threads(args.threads)
    # Dead or tiny activations make denormal floats, which are ~100x slower on x86 CPUs.
    torch.set_flush_denormal(True)
    keep_freed_memory()
    out = Path(args.out) if args.out else shipped.weights_folder()
    try:
        # Before hours of training: a manifest we could not update would be overwritten.
        shipped.load_manifest(out)
    except shipped.ManifestError as exc:
        raise UserError(f"cannot update the weights in {out}: {exc}; move it away to start a new one") from None
    device = resolve_device(args.device)
    root = settings.data_dir(args.data_dir)
    data = load_fashion_mnist(root, device, download=True, subset=args.subset, val_fraction=0.0, seed=0)
    dataset = dataset_facts(root, len(data.train_labels), len(data.test_labels))
    print(
        f"zoo: {len(models)} models on {device}, {dataset['train_images']:,} training / "
        f"{dataset['test_images']:,} test images from {root}; writing to {out}",
        file=sys.stderr,
    )
    monitor = dataclasses.replace(
        data,
        test_images=data.test_images[:MONITOR_TEST_IMAGES],
        test_labels=data.test_labels[:MONITOR_TEST_IMAGES],
    )
    rows = []
    for index, name in enumerate(models, start=1):
        options = zoo_recipe(name)
        if args.epochs is not None:
            options["epochs"] = args.epochs
        config = make_config(None, **options, device=args.device)
        print(f"[{index}/{len(models)}] {name}: {config.epochs} epochs", file=sys.stderr)
        trainer = Trainer(config, data=monitor, checkpoint_path=False, history=False)
        bar = ProgressBar(sys.stderr)
        start = time.perf_counter()
        finished = None
        for event in trainer.run():
            if isinstance(event, BatchMetrics):
                bar.batch(event)
            elif isinstance(event, EpochMetrics):
                bar.epoch(event)
            elif isinstance(event, RunFinished):
                finished = event
        seconds = time.perf_counter() - start
        if finished is None or finished.status != "completed":
            raise UserError(f"{name}: training did not complete ({finished.message if finished else 'no result'})")
        # Serialised in memory, scored, then written with its manifest record in one
        # recoverable step (shipped.commit_weights): an interrupt or a full disk never
        # leaves the new weights under the old record's hash, nor a half file.
        weights = shipped.compact_bytes(trainer.model)
        # Score what ships: the rounded weights, loaded the way the app loads them.
        stored = get_model(name)
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        stored.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        stored.to(device)
        record = {
            "dtype": str(shipped.STORED_DTYPE).removeprefix("torch."),
            "params": count_parameters(stored),
            "epochs": config.epochs,
            "seed": config.seed,
            "seconds": round(seconds, 1),
            "test_accuracy": round(accuracy_on(stored, name, data.test_images, data.test_labels), 4),
            "train_accuracy": round(accuracy_on(stored, name, data.train_images, data.train_labels), 4),
            "command": _command_for(name, args),
            "recipe": config.to_dict(),
            "dataset": dataset,
            "torch": torch.__version__,
            "device": str(device),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        record = shipped.commit_weights(name, weights, record, out, excluded=ZOO_EXCLUDED)
        path = out / record["file"]
        rows.append({"name": name, **record})
        print(
            f"{name}: test {record['test_accuracy']:.4f} train {record['train_accuracy']:.4f} "
            f"{seconds:.0f} s -> {path}",
            file=sys.stderr,
        )
    print(_table(rows))
    return 0


def run_list(args: argparse.Namespace) -> int:
    # The manifest reader needs no torch (explorer.models.shipped, which loads the weights, does).
    from explorer.models import manifest as shipped_manifest

    # Invalid entries are skipped with a warning each; an unusable manifest is an error.
    manifest = shipped_manifest.load(shipped_manifest.folder_or_default(args.dir))
    rows = [{"name": name, **entry.to_dict()} for name, entry in manifest.entries.items()]
    if not rows:
        print("no shipped weights")
        return 0
    print(_table(rows))
    for name, why in manifest.excluded.items():
        print(f"not shipped: {name}: {why}")
    return 0
