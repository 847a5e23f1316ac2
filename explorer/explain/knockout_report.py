"""The window's knockout measurement in one call (no Qt): the shown image's top-5 and the
accuracy on a held-out test batch, with the knockouts and without.

Runs in a worker on a copy of the model (the hooks must not reach the module the
feature-map stepper runs). The held-out batch is read once per data folder and model
input and kept: re-measuring after each knockout costs only the forward passes.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

import torch

from explorer.activations.predictions import Predictions, top_k
from explorer.errors import UserError
from explorer.explain.held_out import held_out
from explorer.explain.knockout import Knockout, KnockoutLab

HELD_OUT = 300  # test images: enough to see a change of a few points, quick on a small form


@dataclasses.dataclass(frozen=True)
class KnockoutReport:
    """Before and after for the knockouts of one model.

    Attributes:
        knockouts: the parsed knockouts, in order.
        top_before, top_after: the shown image's top-5.
        accuracy_before, accuracy_after: on ``images`` test images; None without data
            (``data_note`` says why).
    """

    knockouts: tuple[Knockout, ...]
    top_before: Predictions
    top_after: Predictions
    accuracy_before: float | None
    accuracy_after: float | None
    images: int
    data_note: str


@functools.lru_cache(maxsize=4)
def _held_out(model_name: str, data_root: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = held_out(model_name, data_root, n)
    return data.x, data.labels


def knockout_report(model: torch.nn.Module, model_name: str, image: Any, specs: tuple[str, ...],
                    trained: bool, data_root: str | None, n: int = HELD_OUT) -> KnockoutReport:
    """Apply ``specs`` to a copy of ``model`` and measure.

    Raises:
        KnockoutError: a spec names nothing that can be switched off (one line).
    """
    from explorer.activations.preprocess import preprocess, spec_for_model
    from explorer.graph.trace import build_graph

    model = copy.deepcopy(model).eval()
    x = preprocess(image.image, spec_for_model(model, model_name)).tensor
    lab = KnockoutLab(model, build_graph(model, tuple(x.shape), name=model_name))
    for spec in specs:
        lab.add(spec)
    top_before = top_k(lab.logits(x, knocked_out=False), trained=trained)
    top_after = top_k(lab.logits(x), trained=trained)
    before = after = None
    images = 0
    note = ""
    try:
        xs, labels = _held_out(model_name, str(data_root) if data_root else "", n)
    except UserError as exc:
        note = str(exc).splitlines()[0]
    else:
        def batches():
            for start in range(0, len(labels), 256):
                yield xs[start:start + 256], labels[start:start + 256]

        images = len(labels)
        before = lab.accuracy(batches, knocked_out=False)
        after = lab.accuracy(batches)
    return KnockoutReport(tuple(lab.knockouts), top_before, top_after, before, after, images, note)
