"""Which weights a model can run with, building a model with one of them, and remembering
each model's choice across relaunches (no Qt).

A choice is a :class:`explorer.session.WeightsChoice`: random with a seed, ImageNet through
torchvision, a training run's checkpoint, a user's state_dict file, or the Fashion-MNIST
weights shipped with the package. Random weights get one seed per model, derived from its
name, so choosing a model again shows the same maps; only "new random seed" changes it.
"""

from __future__ import annotations

import dataclasses

import json
import os
import random
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from explorer.errors import ModelError
from explorer.files import WriteError, write_json
from explorer.session import WeightsChoice

WEIGHTS_FILE = "weights.json"


def seed_for(name: str) -> int:
    """The stable random seed of ``name`` (the same on every machine and run)."""
    return zlib.crc32(name.encode("utf-8")) % 100_000


def new_seed(avoid: int | None = None) -> int:
    """A fresh seed for "new random seed", never the one shown now."""
    while True:
        seed = random.randrange(100_000)
        if seed != avoid:
            return seed


def default_weights(name: str) -> WeightsChoice:
    """What ``name`` runs with until the user picks something else.

    A small form: its shipped Fashion-MNIST weights when they exist; a reference form:
    ImageNet when torchvision publishes weights for it; otherwise random with the model's
    seed.
    """
    from explorer.models import get_model_info
    from explorer.models.shipped import shipped_entry, unavailable_reason

    info = get_model_info(name)
    entry = shipped_entry(name)
    if entry is not None:
        return WeightsChoice("shipped", test_accuracy=getattr(entry, "test_accuracy", None))
    if info.form == "small" and unavailable_reason(name) is not None:
        # Its weights should ship but the manifest (or its entry) is damaged: ask for them
        # anyway, so loading fails with the reason and the fallback to random says it.
        return WeightsChoice("shipped")
    if info.weights:
        return WeightsChoice("imagenet")
    return WeightsChoice("random", seed=seed_for(name))


def run_choices(name: str, runs: Iterable[Any]) -> list[WeightsChoice]:
    """One choice per run of ``name`` whose checkpoint is on disk, newest run first.

    ``runs`` are :class:`explorer.train.history.RunRecord` objects (finished, stopped,
    paused or still running: each keeps its last epoch's checkpoint).
    """
    found = []
    for record in runs:
        if record.model != name or not record.checkpoint or not Path(record.checkpoint).is_file():
            continue
        epochs = record.curves.get("epoch") or []
        tests = [v for v in record.curves.get("test_acc") or [] if isinstance(v, (int, float))]
        accuracy = record.final.get("test_acc")
        if not isinstance(accuracy, (int, float)):
            accuracy = tests[-1] if tests else None
        found.append(WeightsChoice(
            "run", path=str(record.checkpoint), run_id=record.run_id,
            epoch=int(epochs[-1]) if epochs else None,
            test_accuracy=float(accuracy) if accuracy is not None else None))
    return found[::-1]


def available_weights(name: str, runs: Iterable[Any] | None = None) -> list[WeightsChoice]:
    """Every weights choice ``name`` offers: shipped, ImageNet, its runs, random.

    Args:
        name: a registered model name.
        runs: run records to look through; None reads the run history.
    """
    from explorer.models import get_model_info
    from explorer.models.shipped import shipped_entry

    if runs is None:
        from explorer.train.history import RunHistory

        runs = RunHistory().list_runs()
    info = get_model_info(name)
    choices: list[WeightsChoice] = []
    entry = shipped_entry(name)
    if entry is not None:
        choices.append(WeightsChoice("shipped", test_accuracy=getattr(entry, "test_accuracy", None)))
    if info.weights:
        choices.append(WeightsChoice("imagenet"))
    choices.extend(run_choices(name, runs))
    choices.append(WeightsChoice("random", seed=seed_for(name)))
    return choices


def build_with_weights(name: str, choice: WeightsChoice):
    """A fresh ``name`` in eval mode holding the weights ``choice`` names.

    Raises:
        ModelError: the weights cannot be had (ImageNet offline, no shipped weights, a
            checkpoint of another model); CheckpointError or another UserError for a
            missing or unreadable file.
    """
    import torch

    from explorer.models import get_model, load_pretrained, load_state_dict_file

    if choice.kind == "random":
        # A private generator state: seeding must not disturb anyone else's random numbers.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(choice.seed if choice.seed is not None else seed_for(name))
            model = get_model(name)
    elif choice.kind == "imagenet":
        model, loaded, message = load_pretrained(name)
        if not loaded:
            raise ModelError(message)
    elif choice.kind == "shipped":
        from explorer.models.shipped import load_shipped

        model = get_model(name)
        load_shipped(model, name)
    elif choice.kind == "run":
        model = _build_run_epoch(name, choice)
    else:
        model = get_model(name)
        load_state_dict_file(model, choice.path)
    return model.eval()


def _build_run_epoch(name: str, choice: WeightsChoice):
    """The run's model as its checkpoint's config built it (width, dropout, batch norm),
    holding the chosen epoch: that epoch's kept snapshot, else the checkpoint itself,
    which holds the run's newest epoch (``run_epoch_choice`` says which one that is)."""
    from explorer.train import TrainConfig, build_model, load_checkpoint
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    payload = load_checkpoint(choice.path)
    if payload["model_name"] != name:
        raise ModelError(f"{Path(choice.path).name} holds {payload['model_name']}, not {name}")
    model, _info = build_model(TrainConfig.from_dict({**payload["config"], "model": name}))
    store = SnapshotStore(snapshot_folder(choice.path))
    if choice.epoch is not None and choice.epoch != payload["epoch"] and choice.epoch in store.weight_epochs():
        store.load_weights(choice.epoch, model)
    else:
        model.load_state_dict(payload["model_state"])
    return model


def run_epoch_choice(choice: WeightsChoice) -> WeightsChoice:
    """``choice`` with the epoch and test accuracy of the weights it will load.

    A run's checkpoint is rewritten every epoch: a choice remembered at epoch 2 of a run that
    went on to epoch 10 loads epoch 2 only if that epoch's snapshot was kept; otherwise it
    loads the checkpoint, and its label must say epoch 10.
    """
    from explorer.train import load_checkpoint
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    if choice.kind != "run" or choice.path is None:
        return choice
    payload = load_checkpoint(choice.path)
    epoch = payload["epoch"]
    if choice.epoch == epoch or (choice.epoch is not None
                                 and choice.epoch in SnapshotStore(snapshot_folder(choice.path)).weight_epochs()):
        return choice
    tests = payload.get("curves", {}).get("test_acc") or []
    accuracy = tests[-1] if tests and isinstance(tests[-1], (int, float)) else None
    return dataclasses.replace(choice, epoch=epoch, test_accuracy=accuracy)


class Built(NamedTuple):
    """What :func:`resolve_and_build` gives.

    Attributes:
        choice: the weights the model holds.
        model: the model, in eval mode.
        notice: one line for the status bar.
        wanted: the weights that were tried first (the default when none were asked for).
        fallback: True when ``choice`` is not ``wanted`` (ImageNet could not be had).
    """

    choice: WeightsChoice
    model: Any
    notice: str
    wanted: WeightsChoice
    fallback: bool = False


def resolve_and_build(name: str, wanted: WeightsChoice | None) -> Built:
    """Build ``name`` with ``wanted``, or with its default weights when ``wanted`` is None.

    The default falls back to random weights (the model's seed) when ImageNet weights
    cannot be had; a choice the user made does not: its failure is raised.
    """
    if wanted is not None:
        held = run_epoch_choice(wanted)
        return Built(held, build_with_weights(name, held), f"{name}: {held.label()}", wanted)
    choice = default_weights(name)
    try:
        return Built(choice, build_with_weights(name, choice), f"{name}: {choice.label()}", choice)
    except ModelError as exc:
        if choice.kind == "random":
            raise
        fallback = WeightsChoice("random", seed=seed_for(name))
        why = str(exc) if "random weights" in str(exc) else f"{exc}; using random weights"
        return Built(fallback, build_with_weights(name, fallback), f"{why} (seed {fallback.seed})",
                     choice, fallback=True)


class WeightsMemory:
    """The weights each model last ran with, in ``config_dir()/weights.json``.

    Written atomically; read tolerantly: a file that is not a JSON object of valid choices
    counts as empty (bad entries are dropped) with one warning in ``warning``. A remembered
    run checkpoint or file that has gone is not recalled.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        if path is None:
            from explorer.settings import config_dir

            path = config_dir() / WEIGHTS_FILE
        self.path = Path(path)
        self.warning: str | None = None
        self._choices: dict[str, WeightsChoice] = self._read()

    def _read(self) -> dict[str, WeightsChoice]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self._warn(f"cannot read {self.path} ({exc.strerror or exc}); weights choices start afresh")
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._warn(f"{self.path} is not a JSON object; weights choices start afresh")
            return {}
        choices = {}
        for name, value in data.items():
            choice = WeightsChoice.from_dict(value)
            if choice is None:
                self._warn(f"{self.path}: ignoring an invalid weights choice for {name!r}")
                continue
            choices[str(name)] = choice
        return choices

    def _warn(self, text: str) -> None:
        if self.warning is None:
            self.warning = text
            warnings.warn(text, stacklevel=3)

    def recall(self, name: str) -> WeightsChoice | None:
        choice = self._choices.get(name)
        if choice is not None and choice.path is not None and not Path(choice.path).is_file():
            return None
        return choice

    def remember(self, name: str, choice: WeightsChoice) -> None:
        if self._choices.get(name) == choice:
            return
        self._choices[name] = choice
        try:
            self._write()
        except OSError as exc:
            # The choice still holds for this session; only its memory is lost.
            self._warn(str(exc) if isinstance(exc, WriteError) else f"cannot save weights choices to {self.path} ({exc.strerror or exc})")

    def _write(self) -> None:
        data = {name: choice.to_dict() for name, choice in sorted(self._choices.items())}
        write_json(self.path, data, indent=1, action="save weights choices to")
