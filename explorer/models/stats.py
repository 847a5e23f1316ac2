"""Parameter and FLOP counts, per model and per layer.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts a multiply-add
as two floating-point operations: ResNet-18 at 224x224 is 3.64 GFLOPs here, which the
papers call "1.8 billion FLOPs" (they count multiply-adds). ``macs`` gives that figure.
Counting works on the meta device, where shapes propagate and nothing is computed, so
even VGG-19 costs milliseconds: build with :func:`meta_model`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from explorer.files import write_json

from explorer.models.lookup import get_model, get_model_info
from explorer.models.meta import meta_device, shapes_only


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One leaf module of a forward pass.

    Attributes:
        path: module path inside the model (``layer1.0.conv1``).
        type: module class name (``Conv2d``).
        output_shape: shape of the module's output at its first call; a tuple of shapes
            for modules returning several tensors.
        params: parameters held by the module (trainable and frozen).
        flops: floating-point operations over all its calls (multiply-add = 2).
    """

    path: str
    type: str
    output_shape: tuple[Any, ...]
    params: int
    flops: int


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters; by default only those that require gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def meta_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model on the meta device: shapes only, no memory, no init cost."""
    with meta_device():
        return get_model(name, **kwargs)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Inference FLOPs: aux heads (GoogLeNet, Inception v3) run only in training mode.
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def flop_correction(module: nn.Module, output: Any, counted: int) -> int:
    """What to add to the ``counted`` FLOPs of ``module`` to get the work it stands for.

    A layer whose arithmetic is not what it computes (LeNet-5's C3 runs a dense kernel
    with zeros where its connection table has none) says so with a ``flop_count(output)``
    method; everything else is counted as torch's flop counter counts it (0 is returned).
    """
    count = getattr(module, "flop_count", None)
    if not callable(count) or not isinstance(output, torch.Tensor):
        return 0
    return int(count(output)) - int(counted)


def _run(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[FlopCounterMode, dict[str, int]]:
    """Count one forward pass; also the corrections of layers with a ``flop_count``."""
    counter = FlopCounterMode(display=False)
    x = torch.zeros(input_shape, device=_model_device(model))
    corrections: dict[str, int] = {}
    started: dict[str, int] = {}
    handles = []
    for path, module in model.named_modules():
        if callable(getattr(module, "flop_count", None)):
            def before(_m: nn.Module, _args: Any, path: str = path) -> None:
                started[path] = counter.get_total_flops()

            def after(m: nn.Module, _args: Any, output: Any, path: str = path) -> None:
                counted = counter.get_total_flops() - started.pop(path)
                corrections[path] = corrections.get(path, 0) + flop_correction(m, output, counted)

            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        with _eval_mode(model), torch.no_grad(), shapes_only(), counter:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return counter, corrections


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one inference forward pass on an input of ``input_shape`` (N, C, H, W).

    Runs in eval mode on the model's device; a model on the meta device costs nothing.
    Layers that compute more than they stand for count what they stand for
    (:func:`flop_correction`).
    """
    counter, corrections = _run(model, input_shape)
    return int(counter.get_total_flops()) + sum(corrections.values())


def macs(flops: int) -> int:
    """Multiply-accumulates, the unit papers call FLOPs: half the counted FLOPs."""
    return flops // 2


def _shape_of(output: Any) -> tuple[Any, ...]:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output)
    return ()


def layer_summary(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """Leaf modules in the order the forward pass first calls them, with shapes and costs."""
    leaves: dict[str, nn.Module] = {}
    whole = None  # the fx_leaf layer being walked through (named_modules is depth first)
    for path, module in model.named_modules():
        if whole is not None and path.startswith(whole + "."):
            continue
        # A layer that says it is one (``fx_leaf``: LeNet-5's C3 holds its BN and tanh)
        # is one row, as it is one node in the graph.
        if getattr(type(module), "fx_leaf", False) and path:
            whole = path
            leaves[path] = module
        elif path and next(module.children(), None) is None:
            leaves[path] = module
    shapes: dict[str, tuple[Any, ...]] = {}

    def hook_for(path: str):  # noqa: ANN202  (a closure over the path)
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            shapes.setdefault(path, _shape_of(output))

        return hook

    handles = [module.register_forward_hook(hook_for(path)) for path, module in leaves.items()]
    try:
        counter, corrections = _run(model, input_shape)
    finally:
        for handle in handles:
            handle.remove()
    # FlopCounterMode keys modules as "<RootClass>.<path>"; strip the root's name.
    flops_by_path: dict[str, int] = {}
    for key, per_op in counter.get_flop_counts().items():
        _, _, path = key.partition(".")
        if path:
            flops_by_path[path] = int(sum(per_op.values())) + corrections.get(path, 0)
    return [
        LayerRow(
            path=path,
            type=type(leaves[path]).__name__,
            output_shape=shape,
            params=sum(p.numel() for p in leaves[path].parameters()),
            flops=flops_by_path.get(path, 0),
        )
        for path, shape in shapes.items()
    ]


def _measure(name: str) -> dict[str, Any]:
    info = get_model_info(name)
    model = meta_model(name)
    flops = count_flops(model, info.input_shape)
    return {
        "name": info.name,
        "family": info.family,
        "form": info.form,
        "title": info.title,
        "year": info.year,
        "input_shape": list(info.input_shape),
        "params": count_parameters(model),
        "reference_params": info.reference_params,
        "flops": flops,
        "macs": macs(flops),
        "aux_heads": info.aux_heads,
        "weights": info.weights,
    }


def _cache_key() -> str:
    # Counts change only with the model code or the libraries that build and count them.
    import torchvision

    digest = hashlib.sha256(f"{torch.__version__}|{torchvision.__version__}".encode())
    package = Path(__file__).resolve().parent
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _cache_path() -> Path:
    from explorer.settings import cache_dir

    return cache_dir() / "model-stats.json"


def _read_cache(key: str) -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("models"), dict):
        return {}
    return data["models"]


def _write_cache(key: str, models: dict[str, Any]) -> None:
    path = _cache_path()
    try:
        write_json(path, {"key": key, "models": models})
    except OSError:
        # A read-only or full cache folder only costs the next run its speed.
        pass


def model_stats(name: str, *, use_cache: bool = True) -> dict[str, Any]:
    """Facts and counts of a registered model, measured on the meta device.

    Measuring all ~40 models takes seconds (BatchNorm decomposes into many meta ops), so
    results are cached in the app's cache folder under a key made of the torch and
    torchvision versions and the model package's source.
    """
    get_model_info(name)  # unknown names fail here, cache or not
    if not use_cache:
        return _measure(name)
    key = _cache_key()
    cached = _read_cache(key)
    if name not in cached:
        cached[name] = _measure(name)
        _write_cache(key, cached)
    return cached[name]


