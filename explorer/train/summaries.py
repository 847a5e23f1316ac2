"""Per-layer summaries of a training run, for the time machine and the metric overlays.

Recorded without host synchronisation in the step loop: after each backward pass the
per-parameter gradient norms are added to one device tensor (``torch._foreach_norm``, a
single fused call); everything else (weight histograms, weight change since the start,
the dead-ReLU fraction on a fixed probe batch) is computed once at the end of the epoch,
where the engine reads the device back anyway.

Layers are named by parameter (``features.0.weight``); the dead-ReLU fraction is per
``nn.ReLU`` module (``F.relu`` calls have no module to hook and are not counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from explorer.train.records import EpochSummary, Histogram, LayerSummary

HISTOGRAM_BINS = 32


class SummaryRecorder:
    """Accumulates gradient norms on the device and summarises the layers at epoch end.

    Args:
        model: the model being trained (its parameters are tracked by name).
        start_state: the weights the run started from (by parameter name); the current
            weights are copied when not given.
    """

    def __init__(self, model: nn.Module, start_state: dict[str, torch.Tensor] | None = None) -> None:
        self.model = model
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.params = [params[n] for n in self.names]
        device = self.params[0].device if self.params else torch.device("cpu")
        self.start = {
            n: (start_state[n] if start_state is not None and n in start_state else params[n].detach())
            .to(device=device, dtype=torch.float32)
            .clone()
            for n in self.names
        }
        self.grad_sum = torch.zeros(len(self.names), device=device)
        self.steps = 0

    def after_backward(self) -> None:
        """Add this step's gradient norms to the device accumulator (no read-back)."""
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            # A branch unused this step (an auxiliary head in eval) has no gradient.
            grads = [g if g is not None else torch.zeros((), device=self.grad_sum.device) for g in grads]
        norms = torch._foreach_norm(grads)
        self.grad_sum += torch.stack(norms).to(self.grad_sum.dtype)
        self.steps += 1

    @torch.no_grad()
    def end_epoch(self, probe: torch.Tensor | None, autocast: Callable[[], Any] | None = None) -> EpochSummary:
        """The epoch's summaries; resets the gradient accumulator.

        Args:
            probe: a fixed, prepared batch of images for the dead-ReLU fraction (None: skip).
            autocast: context factory used around the probe pass (the engine's).

        Returns:
            Per parameter its ``LayerSummary`` (``grad_norm`` the mean over the epoch's
            steps, ``weight_change`` ||w - w0|| / ||w0||, ``weight_norm``, ``histogram``),
            per ``nn.ReLU`` module its dead fraction.
        """
        grad_means = (self.grad_sum / max(self.steps, 1)).tolist()
        layers: dict[str, LayerSummary] = {}
        for name, param, grad in zip(self.names, self.params, grad_means, strict=True):
            w = param.detach().float()
            w0 = self.start[name]
            lo, hi = float(w.min()), float(w.max())
            counts = torch.histc(w, bins=HISTOGRAM_BINS, min=lo, max=hi if hi > lo else lo + 1e-6)
            base = float(w0.norm())
            layers[name] = LayerSummary(
                grad_norm=grad,
                weight_change=float((w - w0).norm()) / base if base > 0 else float((w - w0).norm()),
                weight_norm=float(w.norm()),
                histogram=Histogram(lo, hi, tuple(int(c) for c in counts.tolist())),
            )
        self.grad_sum.zero_()
        self.steps = 0
        dead = dead_relu_fraction(self.model, probe, autocast) if probe is not None else {}
        return EpochSummary(layers, dead)


@torch.no_grad()
def dead_relu_fraction(
    model: nn.Module, probe: torch.Tensor, autocast: Callable[[], Any] | None = None
) -> dict[str, float]:
    """Per ``nn.ReLU`` module: the share of its output units that are zero for every image
    of ``probe`` (a unit that never fires on a varied batch is taken as dead).

    A module called more than once (torchvision's BasicBlock reuses its ReLU) is averaged
    over its calls. The model is put in eval mode for the pass and restored after.
    """
    calls: dict[str, list[float]] = {}

    def hook(name: str):
        def record(_module, _inputs, output):
            alive = (output > 0).any(dim=0)
            calls.setdefault(name, []).append(1.0 - alive.float().mean())
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    was_training = model.training
    model.eval()
    try:
        if autocast is not None:
            with autocast():
                model(probe)
        else:
            model(probe)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    # One read-back for all modules.
    flat = [(n, v) for n, vs in calls.items() for v in vs]
    values = torch.stack([v for _, v in flat]).tolist() if flat else []
    sums: dict[str, list[float]] = {}
    for (name, _), value in zip(flat, values, strict=True):
        sums.setdefault(name, []).append(value)
    return {name: sum(vs) / len(vs) for name, vs in sums.items()}
