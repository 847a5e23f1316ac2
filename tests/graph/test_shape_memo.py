"""Shape propagation remembers repeated calls (explorer/graph/shapes.py): the shapes, dtypes
and FLOPs it gives must be those of running every node, on meta and on fake tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer.graph import shapes
from explorer.graph.tracer import fx_trace
from explorer.models.torchvision_models import torchvision_info


def _propagate(model: nn.Module, input_shape: tuple[int, ...], *, memo: bool,
               monkeypatch: pytest.MonkeyPatch) -> shapes.NodeResults:
    graph = fx_trace(model)
    with monkeypatch.context() as patch:
        if not memo:  # as for a graph that reshapes in place: every call runs
            patch.setattr(shapes, "_reshapes_in_place", lambda _graph: True)
        return shapes.propagate_shapes(graph, model, [input_shape])


class _Attention(nn.Module):
    """Repeated and differing attention layers, functions and methods, some with kwargs."""

    def __init__(self) -> None:
        super().__init__()
        # (sequence, batch, features): torch's fused fast path (batch first), which the
        # flop counter does not count, is not taken
        self.a1 = nn.MultiheadAttention(32, 4)
        self.a2 = nn.MultiheadAttention(32, 4)  # repeats a1
        self.a3 = nn.MultiheadAttention(32, 8)  # same shapes, other heads
        self.a4 = nn.MultiheadAttention(32, 4, add_bias_kv=True)  # one more key: more FLOPs
        self.proj = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2).permute(2, 0, 1)
        for attention in (self.a1, self.a2, self.a3, self.a4):
            x = x + attention(x, x, x, need_weights=False)[0]
        y = torch.nn.functional.softmax(x, dim=-1) + torch.nn.functional.softmax(x, dim=1)
        half = x[: x.shape[0] // 2]  # same call, other shapes: no hit
        return self.proj(y).sum(0) + self.proj(half).sum(0) + x.mean(0, keepdim=False)


@pytest.mark.parametrize("weights", ["meta", "real"])
def test_remembered_calls_give_what_running_gives(weights, monkeypatch):
    device = "meta" if weights == "meta" else "cpu"  # real weights run on fake tensors
    with torch.device(device):
        model = _Attention().eval()
    ran: list[int] = []
    forward = nn.MultiheadAttention.forward

    def counted(self, *args, **kwargs):
        ran.append(self.num_heads)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(nn.MultiheadAttention, "forward", counted)
    with_memo = _propagate(model, (2, 32, 4, 4), memo=True, monkeypatch=monkeypatch)
    assert ran == [4, 8, 4]  # a2 repeats a1 and is not run; a3 and a4 differ from it
    without = _propagate(model, (2, 32, 4, 4), memo=False, monkeypatch=monkeypatch)
    assert with_memo == without
    assert with_memo["a1"][2] == with_memo["a2"][2] > 0  # a2 has a1's FLOPs


def test_remembered_calls_in_swin_and_vit_match(monkeypatch):
    # Swin: shifted_window_attention repeats within each stage (the shift alternates);
    # ViT: nn.MultiheadAttention and the residual adds repeat in every block.
    for name in ("swin_t", "vit_b_32"):
        info = torchvision_info(name)
        with torch.device("meta"):
            model = info.builder().eval()
        assert (_propagate(model, info.input_shape, memo=True, monkeypatch=monkeypatch)
                == _propagate(model, info.input_shape, memo=False, monkeypatch=monkeypatch)), name


class _ReshapesInPlace(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x.flatten(1)
        b = x.flatten(1)  # the same call as a's: with the memo, the very same tensor
        a.unsqueeze_(0)  # ... which this would reshape behind b's back
        return b + 1


def test_a_graph_that_reshapes_in_place_runs_every_call():
    model = _ReshapesInPlace()
    graph = fx_trace(model)
    assert shapes._reshapes_in_place(graph)
    results = shapes.propagate_shapes(graph, model, [(2, 3, 4)])
    assert results["flatten_1"][0] == [2, 12]
    assert results["add"][0] == [2, 12]  # b kept its own shape
