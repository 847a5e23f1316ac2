"""What a channel looks for: an input image optimised to excite it (feature visualisation).

After Olah, Mordvintsev and Schubert, "Feature Visualization" (Distill, 2017), in plain
torch (the parts are in :mod:`explorer.explain.feature_vis_parts`): a learned spectrum
scaled by 1 / frequency, colours decorrelated where there are three, a sigmoid to 0..1
(the image before the model's own normalisation, applied from its input spec), and random
padding, rotation, zoom and shifts every step, so what survives is what the channel
responds to, not adversarial noise. Adam maximises the channel's mean activation for a
fixed number of steps, seeded: one seed, one image (on the CPU).

The node (its title, its id, or a module path for the block's output) is read from the
model's own fx trace cut there: nodes no module ends at (an add, a concatenation) work
too, and nothing after the node is run. :func:`feature_vis` is a generator yielding
:class:`Progress` after every step, so a worker can show the image forming and stop
between steps; it returns the :class:`FeatureVis`. Results are cached under the cache
folder (a PNG and a small JSON) keyed by the weights' hash, model, node, channel and settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import time
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from explorer.errors import UserError
from explorer.explain.feature_vis_parts import (
    FourierImage,
    computing,
    per_channel,
    random_transform,
    redirect_relus,
    to_uint8,
)
from explorer.explain.top_images import weights_hash
from explorer.files import WriteError, read_json, read_regular, write_atomic, write_json

CACHE_FORMAT = 1
PNG_LIMIT = 64 * 1024 * 1024
#: Images up to this many pixels are optimised on one thread (see ``computing``).
SMALL_IMAGE = 64 * 64


class FeatureVisError(UserError):
    """The node or channel cannot be visualised (unknown, out of range, not a tensor)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the image is optimised; all of it is part of the cache key.

    The defaults keep one channel of a small form (28 x 28) well within 5 s on two busy
    CPU cores (0.2-2.5 s measured): 128 steps at learning rate 0.1 reach what 256 at
    lucid's 0.05 reach. Transforms follow lucid's (pad 12, jitter 8, zoom 0.9-1.1,
    rotation up to 10 degrees at 224 px), the shifts scaled to the image's size.

    Attributes:
        steps: Adam steps.
        lr: Adam's learning rate on the Fourier coefficients.
        seed: seeds the initial spectrum and every random transform.
        size: (height, width) of the image; None: the model's input size.
        decay_power: spectrum scale 1 / frequency ** decay_power (0: plain pixels).
        decorrelate: mix three channels with lucid's colour correlation matrix.
        jitter: largest random shift in pixels; None: 8 px at 224, at least 2.
        pad: grey border added before the transforms; None: 12 px at 224, at least jitter.
        scale: range of the random zoom.
        rotate: largest random rotation in degrees.
        sd: standard deviation of the initial spectrum.
    """

    steps: int = 128
    lr: float = 0.1
    seed: int = 0
    size: tuple[int, int] | None = None
    decay_power: float = 1.0
    decorrelate: bool = True
    jitter: int | None = None
    pad: int | None = None
    scale: tuple[float, float] = (0.9, 1.1)
    rotate: float = 10.0
    sd: float = 0.01

    def resolved(self, input_size: tuple[int, int]) -> Settings:
        """These settings with ``size``, ``jitter`` and ``pad`` filled in for a model."""
        size = tuple(int(v) for v in (self.size or input_size))
        longest = max(size)
        jitter = self.jitter if self.jitter is not None else max(2, round(longest * 8 / 224))
        pad = self.pad if self.pad is not None else max(jitter, round(longest * 12 / 224))
        return dataclasses.replace(self, size=size, jitter=int(jitter), pad=max(int(pad), int(jitter)),
                                   scale=tuple(float(v) for v in self.scale))


@dataclasses.dataclass(frozen=True)
class Progress:
    """``step`` of ``total`` done; ``image`` the current image (uint8, H x W or H x W x 3);
    ``value`` the objective at this step (on the transformed image); ``cached``: the
    result came from disk."""

    step: int
    total: int
    image: np.ndarray
    value: float
    cached: bool = False

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 1.0


@dataclasses.dataclass(frozen=True)
class FeatureVis:
    """A channel's optimised image.

    Attributes:
        model: the model's name; weights: hash of its state dict.
        node: the graph node id; title: its shown name; channel: the channel.
        image: uint8, H x W (one channel) or H x W x 3, as the model sees it before its
            normalisation.
        start, end: the objective (the channel's mean activation) on the first and the
            final image, without transforms.
        steps: optimisation steps; seconds: how long they took (when computed).
        settings: the resolved settings; cached: read from the cache.
    """

    model: str
    weights: str
    node: str
    title: str
    channel: int
    image: np.ndarray
    start: float
    end: float
    steps: int
    seconds: float
    settings: Settings
    cached: bool = False


# --------------------------------------------------------------------- the node


def find_node(traced: fx.Graph, node: str) -> tuple[fx.Node, str]:
    """The fx node named ``node`` and its title, as the graph view and the stepper name it:
    its id, its title, or a module path standing for the last node run inside it.

    Raises:
        FeatureVisError: nothing in the graph has that name.
    """
    from explorer.graph.facts import function_name
    from explorer.graph.titles import node_titles
    from explorer.graph.tracer import module_path_of

    nodes = list(traced.nodes)
    paths = [module_path_of(n) for n in nodes]
    titles = node_titles((n.op, path, function_name(n.target) if n.op == "call_function" else str(n.target))
                         for n, path in zip(nodes, paths))
    name = node.strip()
    for index, n in enumerate(nodes):
        if n.name == node or titles[index] == name:
            return n, titles[index]
    inside = [i for i, path in enumerate(paths) if path == name or path.startswith(name + ".")]
    if inside and name:
        return nodes[max(inside)], titles[max(inside)]
    raise FeatureVisError(f"no node or module named {node!r} in this model")


def node_model(model: nn.Module, node: str) -> tuple[fx.GraphModule, str, str]:
    """The model cut at ``node``: (a module returning the node's value, node id, title).

    It shares the model's layers (nothing is copied); its ReLUs pass lucid's redirected
    gradient (:func:`~explorer.explain.feature_vis_parts.redirected_relu`), its values are
    the model's own.

    Raises:
        FeatureVisError: the model does not trace, or the node is unknown or not a layer.
    """
    traced, target, title = _locate(model, node)
    return _cut(model, traced, target), target.name, title


def _locate(model: nn.Module, node: str) -> tuple[fx.Graph, fx.Node, str]:
    from explorer.graph.tracer import describe_trace_failure, fx_trace

    try:
        traced = fx_trace(model)
    except Exception as exc:  # noqa: BLE001 - any trace failure means "cannot reach its nodes"
        raise FeatureVisError(describe_trace_failure(type(model).__name__, exc)) from None
    target, title = find_node(traced, node)
    if target.op in ("placeholder", "output"):
        raise FeatureVisError(f"{title} is not a layer: pick a node inside the network")
    return traced, target, title


def _cut(model: nn.Module, traced: fx.Graph, target: fx.Node) -> fx.GraphModule:
    graph = fx.Graph()
    copied: dict[fx.Node, fx.Node] = {}
    for n in traced.nodes:
        copied[n] = graph.node_copy(n, copied.__getitem__)
        if n is target:
            graph.output(copied[n])
            break
    cut = fx.GraphModule(model, graph)
    cut.graph.eliminate_dead_code()  # the branches that do not lead to the node
    redirect_relus(cut)
    cut.recompile()
    return cut


def _objective(value: Any, channel: int, title: str) -> torch.Tensor:
    """The channel's mean activation (over positions, for a feature map)."""
    if not isinstance(value, torch.Tensor) or value.dim() < 2:
        raise FeatureVisError(f"{title} does not output channels: pick a layer with a feature map")
    if not 0 <= channel < value.shape[1]:
        raise FeatureVisError(f"channel {channel} is outside {title}'s channels 0..{value.shape[1] - 1}")
    return value[:, channel].float().mean()


# --------------------------------------------------------------------- the cache


def cache_key(model_name: str, weights: str, node: str, channel: int, settings: Settings, spec: Any) -> str:
    """A hash of everything the image depends on."""
    document = {"format": CACHE_FORMAT, "model": model_name, "weights": weights, "node": node,
                "channel": int(channel), "settings": dataclasses.asdict(settings),
                "input": [int(spec.in_channels), [float(v) for v in spec.mean], [float(v) for v in spec.std]]}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:24]


def cache_paths(model_name: str, key: str) -> tuple[Path, Path]:
    """(PNG, JSON) of a cached image, in the cache folder's ``feature_vis``."""
    from explorer.settings import cache_dir

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name)[:80] + "-" + key
    folder = cache_dir() / "feature_vis"
    return folder / f"{stem}.png", folder / f"{stem}.json"


def _read_cache(key: str, png: Path, meta: Path, size: tuple[int, int], channels: int) -> dict | None:
    """The cached result, or None when it is missing or damaged in any way."""
    from PIL import Image

    try:
        if not meta.exists() or not png.exists():
            return None
        document = read_json(meta)
        if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT or document.get("key") != key:
            return None
        with Image.open(io.BytesIO(read_regular(png, PNG_LIMIT))) as opened:
            image = np.array(opened.convert("L" if channels == 1 else "RGB"))
        if image.shape[:2] != tuple(size):
            return None
        return {"image": image, "start": float(document["start"]), "end": float(document["end"]),
                "seconds": float(document["seconds"]), "title": str(document["title"])}
    except Exception:  # noqa: BLE001 - a damaged cache (truncated, garbled, foreign) is recomputed
        return None


def _write_cache(key: str, png: Path, meta: Path, result: FeatureVis) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(result.image).save(buffer, format="PNG")
    document = {"format": CACHE_FORMAT, "key": key, "model": result.model, "weights": result.weights,
                "node": result.node, "title": result.title, "channel": result.channel,
                "start": result.start, "end": result.end, "steps": result.steps,
                "seconds": result.seconds, "settings": dataclasses.asdict(result.settings)}
    try:
        # The JSON last: a PNG without its JSON is not a hit.
        write_atomic(png, buffer.getvalue(), action="save feature-visualisation cache")
        write_json(meta, document, indent=1, action="save feature-visualisation cache")
    except WriteError as exc:
        # A cache that cannot be kept costs the next request its speed, not this result.
        warnings.warn(str(exc), stacklevel=3)


# --------------------------------------------------------------------- the optimiser


def feature_vis(
    model: nn.Module,
    model_name: str,
    node: str,
    channel: int,
    *,
    settings: Settings | None = None,
    spec: Any = None,
    use_cache: bool = True,
    threads: int | None = None,
) -> Generator[Progress, None, FeatureVis]:
    """Optimise an image to excite ``channel`` of ``node``.

    Args:
        model: the network (run in eval mode, its mode restored after; its parameters
            are neither changed nor given gradients).
        model_name: registry name: the input spec (unless given) and part of the cache key.
        node: the node's title (``layer3.1 (add)``), id, or a module path (its output).
        channel: which channel (a feature map's channel, or a vector's entry).
        settings: how to optimise (:class:`Settings`); the defaults when None.
        spec: the :class:`~explorer.activations.preprocess.InputSpec` (a
            :class:`~explorer.loading.LoadedModel`'s ``input_spec``); None: the registry's.
        use_cache: read and write the cache.
        threads: intra-op threads while a step computes (restored between steps; 0: as
            they are); None: one for images up to 64 x 64, else as they are.

    Yields:
        :class:`Progress` after every step (once, ``cached``, when the result is on disk).

    Returns:
        The :class:`FeatureVis` (``StopIteration.value``; :func:`run` drains the generator).

    Raises:
        FeatureVisError: unknown node, a node without channels, or a channel out of range.
    """
    from explorer.activations.preprocess import spec_for_model

    spec = spec if spec is not None else spec_for_model(model, model_name)
    settings = (settings or Settings()).resolved(tuple(spec.input_size))
    channels = int(spec.in_channels)
    if threads is None:  # a batch of one small image: one thread (see computing)
        threads = 1 if settings.size[0] * settings.size[1] <= SMALL_IMAGE else 0
    was_training = model.training
    model.eval()
    try:
        traced, target, title = _locate(model, node)
        node_id = target.name
        weights = weights_hash(model)
        key = cache_key(model_name, weights, node_id, channel, settings, spec)
        png, meta = cache_paths(model_name, key)
        if use_cache:
            hit = _read_cache(key, png, meta, settings.size, channels)
            if hit is not None:
                yield Progress(settings.steps, settings.steps, hit["image"], hit["end"], cached=True)
                return FeatureVis(model_name, weights, node_id, hit["title"], channel, hit["image"],
                                  hit["start"], hit["end"], settings.steps, hit["seconds"], settings,
                                  cached=True)
        started = time.perf_counter()
        cut = _cut(model, traced, target)
        device = next((t.device for t in model.parameters()), torch.device("cpu"))
        generator = torch.Generator().manual_seed(settings.seed)

        def measure(image: torch.Tensor) -> torch.Tensor:
            return _objective(cut((image - mean) / std), channel, title)

        with computing(threads):  # tensors made here are no inference tensors
            mean = torch.tensor(per_channel(spec.mean, channels), device=device)[None, :, None, None]
            std = torch.tensor(per_channel(spec.std, channels), device=device)[None, :, None, None]
            param = FourierImage(channels, settings.size, decay_power=settings.decay_power, sd=settings.sd,
                                 decorrelate=settings.decorrelate, generator=generator).to(device)
            optimizer = torch.optim.Adam([param.spectrum], lr=settings.lr)
            with torch.no_grad():
                start = float(measure(param.image()))

        def step() -> tuple[float, np.ndarray]:
            moved = random_transform(param.image(), pad=settings.pad, jitter=settings.jitter,
                                     scale=settings.scale, rotate=settings.rotate, generator=generator)
            value = measure(moved)
            (grad,) = torch.autograd.grad(-value, [param.spectrum])  # the model's weights get none
            param.spectrum.grad = grad
            optimizer.step()
            with torch.no_grad():
                return float(value.detach()), to_uint8(param.image())

        for done in range(1, settings.steps + 1):
            with computing(threads):  # per step: nothing leaks to the caller between yields
                value, image = step()
            yield Progress(done, settings.steps, image, value)
        with computing(threads), torch.no_grad():
            final = param.image()
            end = float(measure(final))
        result = FeatureVis(model_name, weights, node_id, title, channel, to_uint8(final), start, end,
                            settings.steps, time.perf_counter() - started, settings)
        if use_cache:
            _write_cache(key, png, meta, result)
        return result
    finally:
        model.train(was_training)


def run(vis: Generator[Progress, None, FeatureVis]) -> FeatureVis:
    """Drain a :func:`feature_vis` generator and return its result."""
    while True:
        try:
            next(vis)
        except StopIteration as done:
            return done.value
