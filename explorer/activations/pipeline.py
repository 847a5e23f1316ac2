"""The feature-map pipeline: bring a stepper to what the user wants and describe one node.

No Qt. The feature-map panel's runner makes a *wish* from the session (its loaded model,
image, knockouts and device) and the panel's own node and display options, and runs
:meth:`Pipeline.run` in a worker thread; the generator yields progress after every node and
returns early when the wish has moved on (it reads the latest wish through a plain
callable), and the runner starts a fresh run from where the stepper stands. The wish holds
the session's values themselves, compared by identity: no copies, no counters. All model work
(tracing, preprocessing, stepping, copying to the CPU, building the mosaic) happens here;
the GUI thread only puts finished arrays into image items.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from explorer.activations.colormaps import COLORMAPS
from explorer.activations.images import LoadedImage
from explorer.activations.mosaic import (
    KernelView,
    Mosaic,
    Stats,
    as_channels,
    colorize,
    conv_kernels,
    histogram,
    make_mosaic,
    tensor_stats,
)
from explorer.activations.predictions import Predictions, top_k
from explorer.activations.preprocess import preprocess
from explorer.activations.stepper import NodeRecord, Stepper
from explorer.errors import UserError

MOSAIC_BACKGROUND = (128, 128, 128, 60)


@dataclasses.dataclass(frozen=True)
class Wish:
    """What the user wants shown; a run converges the stepper to it.

    Attributes:
        loaded: the session's :class:`~explorer.loading.LoadedModel` (None while loading).
        image: the session's :class:`LoadedImage`.
        knockouts: the session's knockout specs; () runs the intact network.
        target: the node to show (name or index; None: the first layer).
        version: bumped by the runner on every change.
    """

    loaded: Any = None
    image: LoadedImage | None = None
    knockouts: tuple[str, ...] = ()
    target: str | int | None = None
    device: str = "auto"
    colormap: str = COLORMAPS[0]
    scale: str = "shared"
    version: int = 0

    @property
    def model_name(self) -> str:
        return self.loaded.source if self.loaded is not None else ""


@dataclasses.dataclass
class InputFacts:
    """Made when the model, its knockouts or the image change; shown with every later view."""

    loaded: Any
    image: LoadedImage | None
    knockouts: tuple[str, ...] | None  # None: not predicted yet
    predictions: Predictions | None
    tensor: torch.Tensor  # the prepared input, on the CPU
    display: np.ndarray  # the input as the model sees it
    notices: tuple[str, ...]


@dataclasses.dataclass
class View:
    """Everything the panel shows for one node."""

    loaded: Any
    image: LoadedImage | None
    record: NodeRecord
    total: int
    shape: tuple[int, ...] | None
    channels: np.ndarray | None  # (C, H, W) float32 on the CPU
    mosaic: Mosaic | None
    rgba: np.ndarray | None
    stats: Stats | None
    counts: np.ndarray
    edges: np.ndarray
    kernels: KernelView | None
    device: str
    colormap: str
    scale: str
    version: int
    facts: InputFacts | None

    @property
    def model_name(self) -> str:
        return self.loaded.source


def render(channels: np.ndarray, colormap: str, scale: str) -> tuple[Mosaic, np.ndarray]:
    """The mosaic of ``channels`` and its colours."""
    mosaic = make_mosaic(channels, scale=scale, symmetric=colormap == "coolwarm")
    return mosaic, colorize(mosaic.values, colormap, MOSAIC_BACKGROUND)


class Pipeline:
    """Holds the stepper of the current model between runs (one run at a time)."""

    def __init__(self, resolve_knockouts: Callable[[Any, tuple[str, ...]], tuple] | None = None) -> None:
        """``resolve_knockouts(loaded, specs)`` turns knockout specs into the stepper's
        knockouts (the explain layer's parser, handed in: this layer does not import it)."""
        self.stepper: Stepper | None = None
        self._built_for: Any = None  # the LoadedModel the stepper steps
        self._facts: InputFacts | None = None
        self._resolve = resolve_knockouts
        self._resolved: tuple[Any, tuple[str, ...], tuple] = (None, (), ())

    def built_for(self, loaded: Any) -> Stepper | None:
        """The stepper when it steps ``loaded``'s module, else None (other weights copied
        into the same module, a replayed epoch, keep the traced stepper)."""
        built = self._built_for
        return self.stepper if loaded is not None and built is not None and built.module is loaded.module else None

    def drop(self) -> None:
        """Forget the stepper (another model was chosen): its tensors are freed."""
        self.stepper = None
        self._built_for = None
        self._facts = None
        self._resolved = (None, (), ())

    def _knockouts(self, loaded: Any, specs: tuple[str, ...]) -> tuple:
        if not specs:
            return ()
        cached_for, cached_specs, items = self._resolved
        if cached_for is not loaded or cached_specs != specs:
            if self._resolve is None:
                raise UserError("this pipeline cannot apply knockouts")
            items = tuple(self._resolve(loaded, specs))
            self._resolved = (loaded, specs, items)
        return items

    def run(self, plan: Wish, latest: Callable[[], Wish]) -> Iterator[tuple[int, int]]:
        """Bring the stepper to ``plan``; yields (node index, total) and returns a ``View``,
        or None when ``latest()`` moved on in a way that makes the rest useless."""
        stepper = self.built_for(plan.loaded)
        loaded = plan.loaded
        if stepper is None:
            self.stepper = None  # drop the old model's values before building the new one
            spec = loaded.input_spec
            # The input shape lets the stepper find the auxiliary heads, which it then
            # steps like the rest (the graph view draws them; clicking one runs it).
            stepper = Stepper(loaded.module, plan.device, input_shape=(1, spec.in_channels, *spec.input_size))
            self.stepper = stepper
            self._built_for = loaded
            self._facts = None
            yield (0, len(stepper))
        else:
            stepper.set_device(plan.device)
        stepper.set_knockouts(self._knockouts(loaded, plan.knockouts))
        facts = self._facts
        if facts is None or facts.loaded is not plan.loaded or facts.image is not plan.image:
            # Another image, or other weights in the same module (a replayed epoch): feed
            # the input again so every value is recomputed.
            prepared = preprocess(plan.image.image, loaded.input_spec)
            stepper.set_input(prepared.tensor)
            facts = InputFacts(loaded, plan.image, None, None, prepared.tensor, np.asarray(prepared.display),
                               tuple(prepared.notices))
        if facts.knockouts != plan.knockouts or facts.predictions is None:
            if plan.knockouts:
                logits = stepper.output_for(facts.tensor)  # the knocked-out network's prediction
            else:
                with torch.no_grad():
                    logits = stepper.model(facts.tensor.to(stepper.device))
            self._facts = dataclasses.replace(facts, knockouts=plan.knockouts,
                                              predictions=top_k(logits, trained=loaded.trained,
                                                                names=loaded.class_names))
            yield (stepper.position, len(stepper))
        target = plan.target if plan.target is not None else min(1, len(stepper) - 1)
        try:
            target_index = stepper.index_of(target)
        except UserError:
            target_index = max(stepper.position, 0)
        total = len(stepper)
        for index in stepper.steps_to(target_index):
            if superseded(plan, latest(), stepper):
                return None
            yield (index, total)
        return self._make_view(stepper, plan)

    def _make_view(self, stepper: Stepper, plan: Wish) -> View:
        record = stepper.current
        tensor = stepper.activation()
        channels = as_channels(tensor) if tensor is not None else None
        mosaic = rgba = None
        stats = None
        if channels is not None:
            mosaic, rgba = render(channels, plan.colormap, plan.scale)
            stats = tensor_stats(tensor)
        counts, edges = histogram(channels)
        kernels = None
        if record.op == "call_module":
            kernels = conv_kernels(stepper.model.get_submodule(record.target))
        return View(
            loaded=plan.loaded, image=plan.image, record=record, total=len(stepper),
            shape=stepper.shapes.get(record.index), channels=channels, mosaic=mosaic, rgba=rgba,
            stats=stats, counts=counts, edges=edges, kernels=kernels, device=str(stepper.device), colormap=plan.colormap,
            scale=plan.scale, version=plan.version, facts=self._facts,
        )


def superseded(plan: Wish, wish: Wish, stepper: Any) -> bool:
    """Whether the latest ``wish`` makes finishing ``plan`` useless.

    A target further ahead lets the run continue (it passes through); another model,
    image or device, or a target behind the stepper, needs a fresh run.
    """
    if wish.version == plan.version:
        return False
    if (wish.loaded is not plan.loaded or wish.image is not plan.image or wish.device != plan.device
            or wish.knockouts != plan.knockouts):
        return True
    try:
        wanted = stepper.index_of(wish.target) if wish.target is not None else 0
    except UserError:
        return False
    return wanted < stepper.position
