"""Measured latency of every graph node on a device, checked against one eager pass.

Each node is timed as the stepper runs it (``Stepper.steps_to`` yields after every node;
the time between yields is that node's), synchronising the device after each so the time
is the node's own on CUDA too. The median over repeats per node is reported, with the sum
beside the median of plain eager passes of the same model on the same input.

Timing a node one by one costs a few microseconds that the eager pass does not pay (the
clock, the synchronisation call, the stepper's bookkeeping); on a small model at batch 1
that added 15-20% to the sum on the CPU here. That instrument overhead is measured on the
same device, by stepping a chain of ``nn.Identity`` modules against running it eagerly,
and subtracted from every node (never below zero); ``overhead_us`` reports it and
``raw_sum_ms`` the sum before the subtraction.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import torch
from torch import nn


@dataclasses.dataclass
class LatencyProfile:
    """Per-node medians and the eager comparison.

    Attributes:
        device: where it ran.
        nodes: ``[{"node", "title", "kind", "module_path", "ms"}]`` in execution order;
            ``node`` is the graph's internal id (overlays join on it), ``title`` the name
            every view shows (:mod:`explorer.graph.titles`).
        sum_ms: sum of the per-node medians.
        eager_ms: median of plain ``model(x)`` passes.
        repeats: timed passes of each kind.
        overhead_us: the measured per-node instrument overhead subtracted from each node.
        raw_sum_ms: the sum before that subtraction.
    """

    device: str
    nodes: list[dict[str, Any]]
    sum_ms: float
    eager_ms: float
    repeats: int
    overhead_us: float = 0.0
    raw_sum_ms: float = 0.0

    @property
    def ratio(self) -> float:
        """sum / eager (1.0: the per-node times account for the eager pass exactly)."""
        return self.sum_ms / self.eager_ms if self.eager_ms > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ratio": self.ratio}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _time_passes(stepper, model: nn.Module, x: torch.Tensor, repeats: int, warmup: int):
    """Per-node times (seconds, by index) and eager pass times."""
    dev = stepper.device
    last = len(stepper) - 1
    per_node: list[list[float]] = [[] for _ in range(len(stepper))]
    eager: list[float] = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            # Alternate the two kinds so a drifting clock or cache affects both alike.
            _sync(dev)
            t0 = time.perf_counter()
            model(x)
            _sync(dev)
            if i >= warmup:
                eager.append(time.perf_counter() - t0)
            stepper.reset()
            _sync(dev)
            t = time.perf_counter()
            for index in stepper.steps_to(last):
                _sync(dev)
                now = time.perf_counter()
                if i >= warmup:
                    per_node[index].append(now - t)
                t = now
    return per_node, eager


def instrument_overhead_s(device: str | torch.device, repeats: int = 30, length: int = 32) -> float:
    """Seconds per node that stepping and timing add over an eager module call."""
    from explorer.activations.stepper import Stepper

    chain = nn.Sequential(*[nn.Identity() for _ in range(length)])
    stepper = Stepper(chain, device)
    x = torch.zeros(1, device=stepper.device)
    stepper.set_input(x)
    per_node, eager = _time_passes(stepper, chain, x, repeats, warmup=3)
    stepped = sum(statistics.median(times) for times in per_node[1:-1])  # the identities
    return max((stepped - statistics.median(eager)) / length, 0.0)


def profile_latency(
    model: nn.Module, x: torch.Tensor, device: str | torch.device = "cpu", repeats: int = 20, warmup: int = 3,
    subtract_overhead: bool = True,
) -> LatencyProfile:
    """Time every node of ``model`` on input ``x`` and one eager pass, on ``device``.

    Raises:
        StepperError: the model does not trace.
    """
    from explorer.activations.stepper import Stepper

    stepper = Stepper(model, device)
    x = x.to(stepper.device)
    stepper.set_input(x)
    per_node, eager = _time_passes(stepper, model, x, repeats, warmup)
    overhead = instrument_overhead_s(stepper.device) if subtract_overhead else 0.0
    nodes = [
        {
            "node": record.name,
            "title": record.title,
            "kind": record.kind,
            "module_path": record.module_path,
            "raw_ms": statistics.median(per_node[record.index]) * 1e3 if per_node[record.index] else 0.0,
        }
        for record in stepper.nodes
        if record.index > 0  # the input placeholder is set, not run, per pass
    ]
    for n in nodes:
        n["ms"] = max(n["raw_ms"] - overhead * 1e3, 0.0)
    return LatencyProfile(
        device=str(stepper.device),
        nodes=nodes,
        sum_ms=sum(n["ms"] for n in nodes),
        eager_ms=statistics.median(eager) * 1e3,
        repeats=repeats,
        overhead_us=overhead * 1e6,
        raw_sum_ms=sum(n["raw_ms"] for n in nodes),
    )
