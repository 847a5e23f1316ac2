"""What every kind's explainer shares: terms, steps, the partial answer an explainer gives,
and reading numbers off live tensors in double precision (no Qt)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

#: LeNet-5's squashing function f(a) = A tanh(S a) (the paper's Appendix A).
SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0


@dataclasses.dataclass(frozen=True)
class Term:
    """One number the unit's value is made of.

    Attributes:
        label: what it is, as a student reads it (``channel 12: 9 products``, ``bias``,
            ``x[3] x w[3]``, ``shortcut layer1.0 (input)``).
        value: its contribution to the value (for a sum: the addend).
        factors: the numbers multiplied into it, when it is a product (x, w).
    """

    label: str
    value: float
    factors: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"label": self.label, "value": self.value}
        if self.factors:
            found["factors"] = list(self.factors)
        return found


@dataclasses.dataclass(frozen=True)
class Step:
    """One stage a compound layer applies after its sum (LeNet-5's BN, scaled tanh).

    Attributes:
        label: the stage (``batch norm``, ``scaled tanh``).
        formula: the stage with its numbers (``1.7159 * tanh(2/3 * 0.81) = 0.82``).
        input, output: the number going in and coming out.
    """

    label: str
    formula: str
    input: float
    output: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Explained:
    """What an explainer found; :func:`explorer.explain.units.explain.explain_unit` adds
    the node, the unit and the check against the model's own value.

    Attributes:
        kind: the family of the explanation (``conv``, ``batch_norm``, ``max_pool``...).
        formula: one line, with the numbers, that ends in the value.
        terms: the numbers the value is made of, strongest first where they are many.
        value: the value recomputed from the terms (None: not explained).
        scale: the size of what was summed (sum of absolute addends, at least |value|): a
            float32 sum's rounding error grows with it, so the check's tolerance does.
        detail: the kind's own payload (a frozen dataclass with ``as_dict``) or None.
        notes: sentences a student needs beside the numbers (why dropout is the identity).
    """

    kind: str
    formula: str
    terms: tuple[Term, ...]
    value: float | None
    scale: float = 0.0
    detail: Any = None
    notes: tuple[str, ...] = ()


def f64(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` (a small slice of a live value) on the CPU in double precision, detached."""
    return tensor.detach().to("cpu", torch.float64)


def frozen(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    """A read-only float64 (or bool) numpy copy: payloads are frozen values."""
    array = tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
    array = np.array(array, dtype=bool if array.dtype == bool else np.float64)
    array.setflags(write=False)
    return array


def num(value: float | torch.Tensor) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def fmt(value: float) -> str:
    """A number as the formulas write it: 5 significant digits."""
    if value is None:
        return "?"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.5g}"


def strongest(values: torch.Tensor, count: int) -> tuple[list[int], float, int]:
    """(indices of the ``count`` largest |values|, strongest first; the sum of the rest;
    how many the rest are)."""
    flat = values.reshape(-1)
    count = min(count, flat.numel())
    order = torch.argsort(flat.abs(), descending=True, stable=True)
    top = [int(i) for i in order[:count]]
    rest = order[count:]
    return top, num(flat[rest].sum()) if rest.numel() else 0.0, int(rest.numel())


def array_dict(value: Any) -> Any:
    """A payload field made JSON-able: arrays as nested lists, dataclasses as dicts."""
    if isinstance(value, np.ndarray):
        return value.tolist()  # nested lists of Python floats (or bools)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: array_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [array_dict(v) for v in value]
    if isinstance(value, dict):
        return {str(k): array_dict(v) for k, v in value.items()}
    return value


def scaled_tanh_step(a: float) -> Step:
    out = SCALED_TANH_A * math.tanh(SCALED_TANH_S * a)
    return Step("scaled tanh", f"{SCALED_TANH_A} * tanh(2/3 * {fmt(a)}) = {fmt(out)}", a, out)


def batch_norm_numbers(module: torch.nn.Module, channel: int) -> tuple[float, float, float, float, float]:
    """(running mean, running var, eps, gamma, beta) of ``channel`` of a BatchNorm in eval."""
    mean = num(module.running_mean[channel]) if module.running_mean is not None else 0.0
    var = num(module.running_var[channel]) if module.running_var is not None else 1.0
    gamma = num(module.weight[channel]) if module.weight is not None else 1.0
    beta = num(module.bias[channel]) if module.bias is not None else 0.0
    return mean, var, float(module.eps), gamma, beta


def batch_norm_step(module: torch.nn.Module, channel: int, x: float) -> Step:
    mean, var, eps, gamma, beta = batch_norm_numbers(module, channel)
    out = (x - mean) / math.sqrt(var + eps) * gamma + beta
    return Step("batch norm", f"({fmt(x)} - {fmt(mean)}) / sqrt({fmt(var)} + {eps:g}) * {fmt(gamma)} "
                f"+ {fmt(beta)} = {fmt(out)}", x, out)


def bound(names: Sequence[str], args: tuple, kwargs: dict, defaults: dict[str, Any]) -> dict[str, Any]:
    """A functional call's arguments by name (``F.max_pool2d(x, 3, stride=2)``)."""
    found = dict(defaults)
    found.update(zip(names, args))
    found.update(kwargs)
    return found


def pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))
