"""The time machine's replay (no Qt): one run's kept epochs, shown for one image.

A run keeps each epoch's weights in fp16 (``explorer.train.snapshots``). ``EpochReplay``
builds the run's model once, as its checkpoint's config built it, and for each epoch asked
for copies that epoch's weights *into the same module* and walks the image through it with
the feature-map pipeline (``explorer.activations.pipeline``): the feature maps at a node,
the first convolution's kernels and the top-5. Copying in place keeps the traced graph and
the stepper: a scrub costs one fused tensor copy and one forward pass, not a rebuild and a
trace. Reading a snapshot file is the slow part (``torch.load``'s safe unpickler took
0.3-1 s for DenseNet-201's 4,800 tensors), so ``preload`` reads the kept epochs once, in
the background, into memory (as fp16, as on disk; up to ``CACHE_MB``).

Also here: the per-epoch summaries a run recorded, arranged for plotting (histograms of
each layer's weights over epochs on one shared value axis, and per-layer series).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from explorer.activations.images import LoadedImage
from explorer.activations.mosaic import KernelView, conv_kernels
from explorer.activations.pipeline import Pipeline, View, Wish
from explorer.activations.predictions import Predictions
from explorer.activations.stepper import trace
from explorer.errors import UserError
from explorer.loading import LoadedModel
from explorer.train.records import LAYER_METRICS, EpochSummary
from explorer.train.snapshots import SnapshotStore, snapshot_folder
from explorer.weights_choice import WeightsChoice

# The value axis of the histogram heat plot: every epoch's histogram is re-binned onto it.
HEAT_BINS = 64
# The most memory the epochs' weights held for scrubbing may take; beyond it, read on demand.
CACHE_MB = 512


@dataclasses.dataclass
class EpochFrame:
    """What the time machine shows for one epoch and one image.

    Attributes:
        epoch: the epoch replayed (0: the starting weights).
        view: the feature maps at the node (the pipeline's ``View``).
        kernels: the first convolution's kernels (None when the model has none).
        kernels_of: that convolution's module path.
        predictions: the top-5 for the image.
        display: the input as the model sees it.
    """

    epoch: int
    view: View
    kernels: KernelView | None
    kernels_of: str
    predictions: Predictions
    display: np.ndarray


def first_conv(model: nn.Module) -> str | None:
    """Module path of the first convolution in ``model`` (definition order), if any."""
    return next((name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


class EpochReplay:
    """Replays one run's kept epochs; build it off the GUI thread (it builds the model).

    Args:
        checkpoint: the run's checkpoint file (its snapshot folder sits beside it).
        device: where the replay's forward passes run.
    """

    def __init__(self, checkpoint: str | os.PathLike, device: str = "cpu") -> None:
        from explorer.train import TrainConfig, build_model, load_checkpoint
        from explorer.train.recipe import builder_kwargs

        payload = load_checkpoint(checkpoint)
        self.checkpoint = str(checkpoint)
        self.model_name: str = payload["model_name"]
        config = TrainConfig.from_dict({**payload["config"], "model": self.model_name})
        self.model, _info = build_model(config)
        self.model.eval()
        self.options = tuple(sorted(builder_kwargs(config).items()))
        self.store = SnapshotStore(snapshot_folder(checkpoint))
        self.device = device
        self.kernels_of = first_conv(self.model) or ""
        graph = trace(self.model)
        modules = {name for name, _ in self.model.named_modules() if name}
        self._names = {n.name for n in graph.nodes} | modules
        self._pipeline = Pipeline()
        self._generation = 0
        self.epoch: int | None = None  # the epoch whose weights the module holds
        # The module's own tensors, in state_dict order: each epoch is copied into them.
        state = self.model.state_dict(keep_vars=True)
        self._keys = list(state)
        self._targets = [state[k].data for k in self._keys]
        self._cache: dict[int, list[torch.Tensor]] = {}
        self._cache_bytes = 0

    def epochs(self) -> list[int]:
        """Epochs whose weights are kept, ascending (0: the start)."""
        return self.store.weight_epochs()

    def _read(self, epoch: int) -> list[torch.Tensor]:
        """Epoch ``epoch``'s tensors in the module's order (validated), kept when there is room."""
        from explorer.train.snapshots import half_state

        cached = self._cache.get(epoch)
        if cached is not None:
            return cached
        state = half_state(self.store.load_weights(epoch, None))
        missing = [k for k in self._keys if k not in state]
        if missing:
            raise UserError(f"epoch {epoch} of {self.checkpoint} lacks {missing[0]}")
        tensors = [state[k] for k in self._keys]
        for key, tensor, target in zip(self._keys, tensors, self._targets, strict=True):
            if tensor.shape != target.shape:
                raise UserError(f"epoch {epoch} of {self.checkpoint}: {key} is {tuple(tensor.shape)}, "
                                f"the model's is {tuple(target.shape)}")
        size = sum(t.numel() * t.element_size() for t in tensors)
        if self._cache_bytes + size <= CACHE_MB * 2**20:
            self._cache[epoch] = tensors  # one assignment: safe to read from another thread
            self._cache_bytes += size
        return tensors

    def preload(self, epochs: list[int] | None = None) -> int:
        """Read the kept ``epochs`` (default: all) not yet in memory; returns how many are held."""
        for epoch in self.epochs() if epochs is None else epochs:
            if epoch not in self._cache and self._cache_bytes < CACHE_MB * 2**20:
                self._read(epoch)
        return len(self._cache)

    def has_node(self, node: str | None) -> bool:
        return node is not None and node in self._names

    def record(self, epoch: int) -> dict[str, Any] | None:
        """The test record of ``epoch`` (None for the starting weights, or when it is
        damaged: the epoch still replays and ``store.damaged`` says why)."""
        if epoch not in self.store.record_epochs():
            return None
        try:
            return self.store.load_record(epoch)
        except UserError:
            return None

    def frame_and_record(self, epoch: int, image: LoadedImage, node: str | None = None) -> tuple[EpochFrame, dict | None]:
        """``frame`` and ``record`` of one epoch together (what the time machine shows)."""
        return self.frame(epoch, image, node), self.record(epoch)

    def frame(self, epoch: int, image: LoadedImage, node: str | None = None, colormap: str = "viridis",
              scale: str = "shared") -> EpochFrame:
        """Epoch ``epoch`` for ``image``: maps at ``node`` (the first convolution's output
        when ``node`` is not in this model), its kernels and the top-5.

        Raises:
            UserError: that epoch's weights were not kept, or the file is not a snapshot.
        """
        # One intra-op thread for this pass (restored after; with OpenMP the setting is the
        # calling thread's own): a batch of one small image gains little from more, and on
        # a busy 2-core machine two threads spin-waiting on each other took 1.8-2.6 s per
        # frame where one took 25-100 ms.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._frame(epoch, image, node, colormap, scale)
        finally:
            torch.set_num_threads(threads)

    def _frame(self, epoch: int, image: LoadedImage, node: str | None, colormap: str, scale: str) -> EpochFrame:
        if epoch != self.epoch:
            tensors = self._read(epoch)
            self.epoch = None  # a failed copy leaves the module half-written
            with torch.no_grad():
                torch._foreach_copy_(self._targets, tensors)  # casts fp16 back to the module's dtypes
            self.epoch = epoch
        # Another loaded model over the same module makes the pipeline feed the image again
        # through the new weights (and recompute the top-5) while it keeps its traced stepper.
        self._generation += 1
        target = node if self.has_node(node) else (self.kernels_of or None)
        weights = (WeightsChoice("run", path=self.checkpoint, epoch=epoch) if epoch > 0
                   else WeightsChoice("random"))  # epoch 0: the run's initial, untrained weights
        loaded = LoadedModel(self.model_name, weights, weights, self.model, self.options)
        wish = Wish(loaded=loaded, image=image, target=target, device=self.device, colormap=colormap,
                    scale=scale, version=self._generation)
        run = self._pipeline.run(wish, lambda: wish)
        while True:
            try:
                next(run)
            except StopIteration as stop:
                view = stop.value
                break
        kernels = conv_kernels(self.model.get_submodule(self.kernels_of)) if self.kernels_of else None
        return EpochFrame(epoch, view, kernels, self.kernels_of, view.facts.predictions, view.facts.display)


# ----- summaries, arranged for plotting ---------------------------------------------------


@dataclasses.dataclass
class HistogramHeat:
    """One layer's weight histograms over epochs on a shared value axis.

    Attributes:
        epochs: the epochs, one column each.
        counts: (len(epochs), HEAT_BINS) weight counts per value bin.
        lo: the lowest weight value of any epoch (bottom of the value axis).
        hi: the highest.
    """

    epochs: list[int]
    counts: np.ndarray
    lo: float
    hi: float


def histogram_heat(summaries: dict[int, EpochSummary], layer: str, bins: int = HEAT_BINS) -> HistogramHeat:
    """``layer``'s histograms from each epoch's summaries, re-binned onto one value axis.

    Each epoch recorded its histogram over its own [min, max]; its counts are spread over
    the common axis, so a column reads as "how many weights had about this value at that
    epoch" (TensorBoard's histogram view, as a heat map).
    """
    kept = {e: s.layers[layer].histogram for e, s in sorted(summaries.items()) if layer in s.layers}
    epochs = [e for e, h in kept.items() if h is not None]
    hists = [kept[e] for e in epochs]
    if not hists:
        return HistogramHeat([], np.zeros((0, bins)), 0.0, 1.0)
    lo = min(float(h.min) for h in hists)
    hi = max(float(h.max) for h in hists)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts = np.zeros((len(epochs), bins))
    common = np.linspace(lo, hi, bins + 1)
    for row, h in enumerate(hists):
        own = np.asarray(h.counts, dtype=float)
        edges = np.linspace(float(h.min), float(h.max), len(own) + 1)
        # Spread each bin's count evenly over its width (the cumulative count, linear
        # inside a bin, read at the common edges): dropping counts at bin centres left
        # empty stripes wherever an epoch's bins were wider than the common ones.
        cumulative = np.concatenate([[0.0], np.cumsum(own)])
        counts[row] = np.diff(np.interp(common, edges, cumulative))
    return HistogramHeat(epochs, counts, lo, hi)


def layer_series(summaries: dict[int, EpochSummary], layer: str, key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one per-layer figure (``key`` one of ``records.LAYER_METRICS``:
    ``grad_norm``, ``weight_change``, ``weight_norm``); epochs without it are left out.

    Raises:
        KeyError: ``key`` is not a layer figure.
    """
    if key not in LAYER_METRICS:
        raise KeyError(key)
    values = {e: getattr(s.layers[layer], key) for e, s in sorted(summaries.items()) if layer in s.layers}
    epochs = [e for e, v in values.items() if v is not None]
    return epochs, [float(values[e]) for e in epochs]


def dead_relu_series(summaries: dict[int, EpochSummary]) -> dict[str, tuple[list[int], list[float]]]:
    """Per ``nn.ReLU`` module: (epochs, fraction of dead units on the probe batch)."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for epoch in sorted(summaries):
        for module, fraction in summaries[epoch].dead_relu.items():
            xs, ys = series.setdefault(module, ([], []))
            xs.append(epoch)
            ys.append(float(fraction))
    return series


def layer_names(summaries: dict[int, EpochSummary]) -> list[str]:
    """The layers (parameter names) the summaries cover, in the model's order."""
    for epoch in sorted(summaries, reverse=True):
        layers = summaries[epoch].layers
        if layers:
            return list(layers)
    return []
