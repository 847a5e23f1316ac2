"""The test images that excite each channel most, and the patch each one is strongest in.

One pass over the test split runs the model node by node (fx's Interpreter over the graph
view's own trace, so node ids match the graph) and keeps, for every channel of every
spatial node, the k images with the highest maximum activation and where that maximum
sits. :func:`top_images` is a generator that yields :class:`Progress` per batch, so a
worker can show a bar and stop it; its return value is the :class:`TopImages`. Results
are cached under the cache folder, keyed by the model, a hash of its weights and a hash of
the images, so a model is scanned once per set of weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings
from collections.abc import Generator
from pathlib import Path

import torch
from torch import fx, nn

from explorer.files import WriteError, write_atomic
from explorer.graph.model_graph import ModelGraph
from explorer.graph.receptive_field import UnitBox, unit_box
from explorer.graph.tracer import fx_trace

CACHE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` images scanned (``cached``: the result came from disk)."""

    done: int
    total: int
    cached: bool = False

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclasses.dataclass(frozen=True)
class TopHit:
    """One of a channel's top images: its index in the images scanned, the channel's
    maximum on it, and the unit (y, x) where that maximum sits."""

    image: int
    value: float
    y: int
    x: int


@dataclasses.dataclass
class TopImages:
    """Per node: ``values`` (C, k) float, ``images`` (C, k) int, ``positions`` (C, k, 2)
    int (y, x), best first.

    Attributes:
        model: registry name.
        weights: hash of the state dict the scan ran with.
        k: images kept per channel.
        n_images: images scanned.
        nodes: the per-node tensors.
    """

    model: str
    weights: str
    k: int
    n_images: int
    nodes: dict[str, dict[str, torch.Tensor]]

    def top(self, node: str, channel: int) -> list[TopHit]:
        """The channel's best images, best first.

        Raises:
            KeyError: the node was not scanned (it has no spatial output).
            IndexError: no such channel.
        """
        entry = self.nodes[node]
        if not 0 <= channel < entry["values"].shape[0]:
            raise IndexError(f"{node} has {entry['values'].shape[0]} channels")
        return [
            TopHit(int(i), float(v), int(p[0]), int(p[1]))
            for v, i, p in zip(entry["values"][channel], entry["images"][channel],
                               entry["positions"][channel])
            if int(i) >= 0
        ]

    def patches(self, graph: ModelGraph, node: str, channel: int,
                image_size: tuple[int, int]) -> list[tuple[TopHit, UnitBox]]:
        """Each top image with the input box (receptive field) of its strongest unit."""
        attrs = graph.node(node)
        return [(hit, unit_box(attrs, hit.y, hit.x, image_size)) for hit in self.top(node, channel)]


def weights_hash(model: nn.Module) -> str:
    """A short hash of the state dict: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        # reshape(-1): a 0-dim tensor (BatchNorm's num_batches_tracked) cannot change dtype by view
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def cache_path(model_name: str, weights: str, images: torch.Tensor, k: int) -> Path:
    from explorer.settings import cache_dir

    data = hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:12]
    return cache_dir() / "top_images" / f"{model_name}-{weights}-{data}-{len(images)}x{k}.pt"


class _Scanner(fx.Interpreter):
    """Runs the graph and folds each spatial node's output into the running top-k."""

    def __init__(self, model: nn.Module, graph: fx.Graph, k: int) -> None:
        super().__init__(model, garbage_collect_values=True, graph=graph)
        self.k = k
        self.offset = 0
        self.best: dict[str, dict[str, torch.Tensor]] = {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[2] * out.shape[3] > 1:
            self._fold(n.name, out)
        return out

    def _fold(self, name: str, out: torch.Tensor) -> None:
        b, c, h, w = out.shape
        peak, where = out.detach().float().flatten(2).max(2)  # (B, C)
        images = torch.arange(self.offset, self.offset + b, device=out.device).expand(c, b)
        positions = torch.stack((where // w, where % w), -1).transpose(0, 1)  # (C, B, 2)
        values = peak.t()
        if name in self.best:
            old = self.best[name]
            values = torch.cat((old["values"], values), 1)
            images = torch.cat((old["images"], images), 1)
            positions = torch.cat((old["positions"], positions), 1)
        kept = min(self.k, values.shape[1])
        values, order = values.topk(kept, dim=1)
        self.best[name] = {
            "values": values,
            "images": images.gather(1, order),
            "positions": positions.gather(1, order[:, :, None].expand(-1, -1, 2)),
        }


def top_images(
    model: nn.Module,
    model_name: str,
    batches: torch.Tensor,
    *,
    images: torch.Tensor | None = None,
    k: int = 9,
    batch_size: int = 256,
    use_cache: bool = True,
) -> Generator[Progress, None, TopImages]:
    """Scan ``batches`` (N, C, H, W), model-ready, for every channel's top ``k`` images.

    Args:
        model: the network with the weights to explain (put in eval mode, not modified).
        model_name: registry name, part of the cache key.
        batches: the normalised inputs, all of them (Fashion-MNIST's test split is 22 MB).
        images: what the cache key hashes (the raw uint8 images); ``batches`` if None.
        k: images kept per channel.
        batch_size: images per forward pass; a progress report follows each.
        use_cache: read and write the cache.

    Yields:
        Progress after every batch (once, ``cached``, when the result is on disk).

    Returns:
        The :class:`TopImages` (``StopIteration.value``; :func:`run` drains the generator).
    """
    weights = weights_hash(model)
    path = cache_path(model_name, weights, batches if images is None else images, k)
    total = len(batches)
    if use_cache and path.exists():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("format") == CACHE_FORMAT:
            yield Progress(total, total, cached=True)
            return TopImages(model_name, weights, k, total, stored["nodes"])
    model.eval()
    scanner = _Scanner(model, fx_trace(model), k)
    device = next(model.parameters(), torch.empty(0)).device
    with torch.inference_mode():
        for start in range(0, total, batch_size):
            scanner.offset = start
            scanner.run(batches[start:start + batch_size].to(device))
            yield Progress(min(start + batch_size, total), total)
    nodes = {name: {key: t.cpu() for key, t in entry.items()} for name, entry in scanner.best.items()}
    for entry in nodes.values():
        entry["images"] = entry["images"].to(torch.int32)
        entry["positions"] = entry["positions"].to(torch.int32)
    if use_cache:
        buffer = io.BytesIO()
        torch.save({"format": CACHE_FORMAT, "nodes": nodes}, buffer)
        try:
            write_atomic(path, buffer.getvalue(), action="save top-images cache")
        except WriteError as exc:
            # A cache that cannot be kept costs the next scan its speed, not this result.
            warnings.warn(str(exc), stacklevel=2)
    return TopImages(model_name, weights, k, total, nodes)


def run(scan: Generator[Progress, None, TopImages]) -> TopImages:
    """Drain a :func:`top_images` generator and return its result."""
    while True:
        try:
            next(scan)
        except StopIteration as done:
            return done.value
