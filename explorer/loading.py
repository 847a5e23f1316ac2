"""The one place a model is loaded: :class:`LoadedModel`, :func:`load_model`, which weights a
model can run with, and remembering each model's choice across relaunches (no Qt).

Everything the window, the CLI and the benches show of a model comes from a
``LoadedModel``: its source, the weights asked for and the ones it holds, the builder
options it was built with (a run's width, dropout, batch norm), the module, its facts, its
class names and its preprocessing. The fallback rules (a default that cannot be had, a
choice that fails) live in :func:`load_model` and nowhere else.

A choice is a :class:`explorer.weights_choice.WeightsChoice`: random with a seed, ImageNet through
torchvision, a training run's checkpoint, a user's state_dict file, or the Fashion-MNIST
weights shipped with the package. Random weights get one seed per model, derived from its
name, so choosing a model again shows the same maps; only "new random seed" changes it.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from explorer.errors import ModelError
from explorer.weights_choice import Selection, WeightsChoice


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
    if saved_in_file(name):
        return WeightsChoice("saved")
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


def run_weights(record: Any) -> WeightsChoice | None:
    """The weights a run left: its checkpoint, which holds its last finished epoch, with
    that epoch's test accuracy; None when it has no checkpoint on disk or no epoch yet.

    ``record`` is a :class:`explorer.train.records.RunRecord` (finished, stopped, paused or
    still running: each keeps its last epoch's checkpoint). The accuracy is the last
    epoch's, the one these weights scored; the record's final figure is used only when the
    curves have none.
    """
    curves = record.curves
    if not record.checkpoint or not curves.epochs or not Path(record.checkpoint).is_file():
        return None
    tests = [v for v in curves.test_acc if v is not None]
    accuracy = tests[-1] if tests else record.final.test_acc
    return WeightsChoice("run", path=str(record.checkpoint), run_id=record.run_id, epoch=int(curves.epoch[-1]),
                         test_accuracy=float(accuracy) if accuracy is not None else None)


def run_choices(name: str, runs: Iterable[Any]) -> list[WeightsChoice]:
    """One choice per run of ``name`` with weights on disk (:func:`run_weights`), newest first."""
    found = [run_weights(record) for record in runs if record.model == name]
    return [choice for choice in found if choice is not None][::-1]


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
    if saved_in_file(name):  # a program's weights are part of it
        return [WeightsChoice("saved"), *run_choices(name, runs)]
    choices: list[WeightsChoice] = []
    entry = shipped_entry(name)
    if entry is not None:
        choices.append(WeightsChoice("shipped", test_accuracy=getattr(entry, "test_accuracy", None)))
    if info.weights:
        choices.append(WeightsChoice("imagenet"))
    choices.extend(run_choices(name, runs))
    choices.append(WeightsChoice("random", seed=seed_for(name)))
    return choices


def display_name(source: str) -> str:
    """How messages name ``source``: a zoo or torchvision name as it is; a file by its name
    (``Net (net.py)``, ``net.pt2``), not its whole path and options."""
    from explorer.models.sources import is_file_source, parse_source

    if not is_file_source(source):
        return source
    try:
        return parse_source(source).title
    except ModelError:
        return source


def saved_in_file(source: str) -> bool:
    """Whether ``source``'s weights come with it (a ``torch.export`` program): it has no
    random weights of its own to offer."""
    from explorer.models.sources import PROGRAM_SUFFIX, is_file_source

    return is_file_source(source) and source.split("?", 1)[0].endswith(PROGRAM_SUFFIX)


def build_with_weights(name: str, choice: WeightsChoice):
    """A fresh ``name`` in eval mode holding the weights ``choice`` names.

    Raises:
        ModelError: the weights cannot be had (ImageNet offline, no shipped weights, a
            checkpoint of another model); CheckpointError or another UserError for a
            missing or unreadable file.
    """
    return _build(name, choice)[0]


def _build(name: str, choice: WeightsChoice, download: bool = True) -> tuple[Any, dict[str, Any]]:
    """(model in eval mode, the builder options it was built with)."""
    import torch

    from explorer.models import get_model
    from explorer.models.weights import load_pretrained, load_state_dict_file

    options: dict[str, Any] = {}
    if choice.kind == "saved" and not saved_in_file(name):
        raise ModelError(f"{name} has no weights saved with it")
    if choice.kind == "random" and saved_in_file(name):
        raise ModelError(f"{display_name(name)} holds its own weights; it has no random form")
    if choice.kind == "saved":
        model = get_model(name)
    elif choice.kind == "random":
        # A private generator state: seeding must not disturb anyone else's random numbers.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(choice.seed if choice.seed is not None else seed_for(name))
            model = get_model(name)
    elif choice.kind == "imagenet":
        model, loaded, message = load_pretrained(name, allow_download=download)
        if not loaded:
            raise ModelError(message)
    elif choice.kind == "shipped":
        from explorer.models.shipped import load_shipped

        model = get_model(name)
        load_shipped(model, name)
    elif choice.kind == "run":
        model, options = _build_run_epoch(name, choice)
    else:
        model = get_model(name)
        load_state_dict_file(model, choice.path)
    return model.eval(), options


def _build_run_epoch(name: str, choice: WeightsChoice) -> tuple[Any, dict[str, Any]]:
    """The run's model as its checkpoint's config built it (width, dropout, batch norm),
    holding the chosen epoch: that epoch's kept snapshot, else the checkpoint itself,
    which holds the run's newest epoch (``run_epoch_choice`` says which one that is)."""
    from explorer.models import get_model
    from explorer.train import TrainConfig, load_checkpoint
    from explorer.train.recipe import builder_kwargs
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    payload = load_checkpoint(choice.path)
    if payload["model_name"] != name:
        raise ModelError(f"{Path(choice.path).name} holds {payload['model_name']}, not {name}")
    options = builder_kwargs(TrainConfig.from_dict({**payload["config"], "model": name}))
    model = get_model(name, **options)
    store = SnapshotStore(snapshot_folder(choice.path))
    if choice.epoch is not None and choice.epoch != payload["epoch"] and choice.epoch in store.weight_epochs():
        store.load_weights(choice.epoch, model)
    else:
        model.load_state_dict(payload["model_state"])
    return model, options


def run_epoch_choice(choice: WeightsChoice) -> WeightsChoice:
    """``choice`` with the epoch and test accuracy of the weights it will load.

    A run's checkpoint is rewritten every epoch: a choice remembered at epoch 2 of a run that
    went on to epoch 10 loads epoch 2 only if that epoch's snapshot was kept; otherwise it
    loads the checkpoint, and its label must say epoch 10.
    """
    from explorer.train import load_checkpoint
    from explorer.train.checkpoint import checkpoint_curves
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    if choice.kind != "run" or choice.path is None:
        return choice
    payload = load_checkpoint(choice.path)
    epoch = payload["epoch"]
    if choice.epoch == epoch or (choice.epoch is not None
                                 and choice.epoch in SnapshotStore(snapshot_folder(choice.path)).weight_epochs()):
        return choice
    tests = checkpoint_curves(payload).test_acc
    accuracy = tests[-1] if tests else None
    return dataclasses.replace(choice, epoch=epoch, test_accuracy=accuracy)


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model as every view shows it: a frozen value, made by :func:`load_model` (or
    :meth:`of` for a module already at hand, a training run's newest epoch).

    Attributes:
        source: what was opened: a registry name today; a model that is not one (a file,
            another library's model) is named by its source.
        requested: the weights asked for; None asked for the model's default.
        weights: the weights the module holds (the resolved default, or a fallback).
        module: the ``nn.Module``, in eval mode. Never changed by views: knockouts are
            hooks applied while a view runs it.
        options: the builder options it was built with (a run's width, dropout, batch
            norm), as sorted (name, value) pairs; () is the registry's default network.
        notice: one line for the status bar about how it was loaded.
        fallback: True when ``weights`` are not what was asked for (they could not be had).
    """

    source: str
    requested: WeightsChoice | None
    weights: WeightsChoice
    module: Any
    options: tuple[tuple[str, Any], ...] = ()
    notice: str = ""
    fallback: bool = False

    @classmethod
    def of(cls, source: str, weights: WeightsChoice, module: Any, *, requested: WeightsChoice | None = None,
           options: dict[str, Any] | None = None, notice: str = "") -> LoadedModel:
        """A loaded model for a module already built (e.g. a run's epoch, in eval mode)."""
        return cls(source, requested if requested is not None else weights, weights, module.eval(),
                   tuple(sorted((options or {}).items())), notice or f"{display_name(source)}: {weights.label()}")

    @property
    def selection(self) -> Selection:
        """The selection this answers: (source, the weights requested)."""
        return Selection(self.source, self.requested)

    @property
    def name(self) -> str:
        return self.source

    @property
    def trained(self) -> bool:
        return self.weights.trained

    @property
    def structure(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """What the graph depends on: the source and the builder options (not the weights)."""
        return self.source, self.options

    @property
    def builder_kwargs(self) -> dict[str, Any]:
        return dict(self.options)

    @functools.cached_property
    def info(self) -> Any:
        """The registry's :class:`~explorer.models.ModelInfo`, or None for another model."""
        from explorer.models import get_model_info

        try:
            return get_model_info(self.source)
        except ModelError:
            return None

    @functools.cached_property
    def input_spec(self) -> Any:
        """How an image becomes this model's input (:class:`~explorer.activations.preprocess.InputSpec`)."""
        from explorer.activations.preprocess import spec_for_model

        return spec_for_model(self.module, self.source)

    @functools.cached_property
    def num_classes(self) -> int:
        if self.info is not None:
            return int(self.info.num_classes)
        last = [m for m in self.module.modules() if hasattr(m, "out_features")]
        return int(last[-1].out_features) if last else 0

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        """The model's own names (torchvision's metadata, a user's ``--classes`` file), else
        the names a head of its size gets."""
        from explorer.activations.predictions import class_names

        if self.info is not None and self.info.classes:
            return tuple(self.info.classes)
        return class_names(self.num_classes)


def load_model(source: str, wanted: WeightsChoice | None = None, previous: LoadedModel | None = None,
               *, download: bool = True) -> LoadedModel:
    """Load ``source`` with ``wanted`` weights, or with its default weights when None.

    ``download`` False takes ImageNet weights from torch hub's cache only (the CLI).

    The fallback rules, all here:
    - the default (shipped, ImageNet) that cannot be had falls back to random weights with
      the model's seed, and says why;
    - a choice the user made that fails keeps ``previous`` (what was shown before, same
      model), else shows random weights, and says why; ``fallback`` is then True;
    - random weights that cannot be built raise (the model itself is broken).

    Raises:
        ModelError or another UserError: nothing at all could be built.
    """
    if wanted is None:
        choice = default_weights(source)
        try:
            model, options = _build(source, choice, download)
            return LoadedModel(source, None, choice, model, tuple(sorted(options.items())),
                               f"{display_name(source)}: {choice.label()}")
        except ModelError as exc:
            if choice.kind in ("random", "saved"):
                raise
            why = str(exc) if "random weights" in str(exc) else f"{exc}; using random weights"
            return _random(source, None, why)
    try:
        held = run_epoch_choice(wanted)
        model, options = _build(source, held, download)
    except Exception as exc:
        if wanted.kind == "random":
            raise
        text = str(exc).strip() or type(exc).__name__
        why = f"{display_name(source)}: cannot use {wanted.label()}: {text}"
        if previous is not None and previous.source == source and previous.weights != wanted:
            return dataclasses.replace(previous, requested=wanted, fallback=True,
                                       notice=f"{why}; keeping {previous.weights.label()}")
        if saved_in_file(source):
            raise ModelError(why) from None
        return _random(source, wanted, f"{why}; showing random weights")
    return LoadedModel(source, wanted, held, model, tuple(sorted(options.items())),
                       f"{display_name(source)}: {held.label()}")


def _random(source: str, requested: WeightsChoice | None, why: str) -> LoadedModel:
    choice = WeightsChoice("random", seed=seed_for(source))
    model, _options = _build(source, choice)
    return LoadedModel(source, requested, choice, model, (), f"{why} (seed {choice.seed})", fallback=True)
