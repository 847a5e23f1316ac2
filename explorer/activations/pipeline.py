"""The feature-map pipeline: bring a stepper to what the user wants and describe one node.

No Qt. The feature-map panel keeps a *wish* (model, image, node, device, display options)
and runs :meth:`Pipeline.run` in a worker thread; the generator yields progress after every
node and returns early when the wish has moved on (it reads the latest wish through a plain
callable), and the panel starts a fresh run from where the stepper stands. All model work
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
from explorer.activations.preprocess import preprocess, spec_for_model
from explorer.activations.stepper import NodeRecord, Stepper
from explorer.errors import UserError

MOSAIC_BACKGROUND = (128, 128, 128, 60)


@dataclasses.dataclass
class Wish:
    """What the user wants shown; a run converges the stepper to it.

    ``model_gen`` and ``image_gen`` change whenever the model (or its weights) or the
    image does, so a run can tell "same model, other node" from "start again".
    """

    version: int = 0
    model_gen: int = 0
    model: torch.nn.Module | None = None
    model_name: str = ""
    trained: bool = False
    image_gen: int = 0
    image: LoadedImage | None = None
    target: str | int | None = None
    device: str = "auto"
    colormap: str = COLORMAPS[0]
    scale: str = "shared"


@dataclasses.dataclass
class InputFacts:
    """Made when the model or the image changes; shown with every later view."""

    model_gen: int
    image_gen: int
    predictions: Predictions
    display: np.ndarray  # the input as the model sees it
    notices: tuple[str, ...]


@dataclasses.dataclass
class View:
    """Everything the panel shows for one node."""

    model_name: str
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
    model_gen: int
    image_gen: int
    device: str
    colormap: str
    scale: str
    version: int
    facts: InputFacts | None


def render(channels: np.ndarray, colormap: str, scale: str) -> tuple[Mosaic, np.ndarray]:
    """The mosaic of ``channels`` and its colours."""
    mosaic = make_mosaic(channels, scale=scale, symmetric=colormap == "coolwarm")
    return mosaic, colorize(mosaic.values, colormap, MOSAIC_BACKGROUND)


class Pipeline:
    """Holds the stepper of the current model between runs (one run at a time)."""

    def __init__(self) -> None:
        self.stepper: Stepper | None = None
        self._built_gen = -1
        self._input_gen = -1
        self._facts: InputFacts | None = None

    def built_for(self, model_gen: int) -> Stepper | None:
        """The stepper when it steps the model of ``model_gen``, else None."""
        return self.stepper if self._built_gen == model_gen else None

    def drop(self) -> None:
        """Forget the stepper (another model was chosen): its tensors are freed."""
        self.stepper = None
        self._built_gen = -1
        self._input_gen = -1
        self._facts = None

    def run(self, plan: Wish, latest: Callable[[], Wish]) -> Iterator[tuple[int, int]]:
        """Bring the stepper to ``plan``; yields (node index, total) and returns a ``View``,
        or None when ``latest()`` moved on in a way that makes the rest useless."""
        stepper = self.stepper
        if stepper is None or self._built_gen != plan.model_gen:
            self.stepper = None  # drop the old model's values before building the new one
            spec = spec_for_model(plan.model, plan.model_name)
            # The input shape lets the stepper find the auxiliary heads, which it then
            # steps like the rest (the graph view draws them; clicking one runs it).
            stepper = Stepper(plan.model, plan.device,
                              input_shape=(1, spec.in_channels, *spec.input_size))
            self.stepper = stepper
            self._built_gen = plan.model_gen
            self._input_gen = -1
            yield (0, len(stepper))
        else:
            stepper.set_device(plan.device)
        if self._input_gen != plan.image_gen:
            prepared = preprocess(plan.image.image, spec_for_model(plan.model, plan.model_name))
            stepper.set_input(prepared.tensor)
            with torch.no_grad():
                logits = stepper.model(prepared.tensor.to(stepper.device))
            self._facts = InputFacts(plan.model_gen, plan.image_gen, top_k(logits, trained=plan.trained),
                                     np.asarray(prepared.display), tuple(prepared.notices))
            self._input_gen = plan.image_gen
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
            model_name=plan.model_name, record=record, total=len(stepper),
            shape=stepper.shapes.get(record.index), channels=channels, mosaic=mosaic, rgba=rgba,
            stats=stats, counts=counts, edges=edges, kernels=kernels, model_gen=plan.model_gen,
            image_gen=plan.image_gen, device=str(stepper.device), colormap=plan.colormap,
            scale=plan.scale, version=plan.version, facts=self._facts,
        )


def superseded(plan: Wish, wish: Wish, stepper: Any) -> bool:
    """Whether the latest ``wish`` makes finishing ``plan`` useless.

    A target further ahead lets the run continue (it passes through); another model,
    image or device, or a target behind the stepper, needs a fresh run.
    """
    if wish.version == plan.version:
        return False
    if (wish.model_gen, wish.image_gen, wish.device) != (plan.model_gen, plan.image_gen, plan.device):
        return True
    try:
        wanted = stepper.index_of(wish.target) if wish.target is not None else 0
    except UserError:
        return False
    return wanted < stepper.position
