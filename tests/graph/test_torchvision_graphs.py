"""Graphs of torchvision's classifiers outside the zoo, and what they needed of the graph package:
receptive fields through channels-last layers and broadcast SE gates, a layer fx traces into
drawn as one unit, and blocks found by what modules are rather than what they are called."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from explorer.graph import build_graph, default_state, make_view, prepare_view
from explorer.graph.model_graph import BLOCK, CONTAINER
from explorer.graph.receptive_field import unit_box
from explorer.models.torchvision_models import torchvision_info

# One or two of each family the zoo lacks, small enough to trace in well under a second.
REPRESENTATIVE = ("convnext_tiny", "efficientnet_b0", "regnet_x_400mf", "shufflenet_v2_x0_5",
                  "squeezenet1_1", "mnasnet0_5", "mobilenet_v3_small", "vit_b_32", "swin_t")


@functools.cache
def _graph(name: str):
    info = torchvision_info(name)
    with torch.device("meta"):
        model = info.builder()
    return build_graph(model, info.input_shape, name=name, fallback=False)


def _labels(name: str) -> list[str]:
    view = make_view(_graph(name), default_state(_graph(name)))
    return [view.graph.nodes[u]["label"] for u in view.order]


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_graph_traces_with_torchvisions_parameter_count(name):
    graph = _graph(name)
    assert graph.traced and graph.warning is None
    assert graph.total_params == torchvision_info(name).reference_params
    view, layout = prepare_view(graph)
    assert 10 <= len(view.order) <= 40  # blocks closed, long runs folded
    assert set(layout.positions) >= set(view.order)
    notes = {graph.node(n).get("rf_note", "") for n in graph.order}
    assert not any("grows" in note for note in notes)  # no layout change read as upsampling


def test_convnext_fields_follow_h_and_w_through_its_channels_last_layers():
    graph = _graph("convnext_tiny")
    stem = graph.node("features_0_0")  # 4x4/4 patchify
    first_dw = graph.node("features_1_0_block_0")  # 7x7 depthwise, after two permutes
    assert stem["receptive_field"] == [4, 4] and stem["effective_stride"] == [4, 4]
    assert first_dw["receptive_field"] == [4 + 6 * 4] * 2 and first_dw["effective_stride"] == [4, 4]
    # The block's MLP runs channels-last (N, H, W, C): the field is the depthwise conv's.
    assert graph.node("features_1_0_block_5")["receptive_field"] == [28, 28]


def test_se_gates_do_not_multiply_the_paths_of_a_field():
    graph = _graph("efficientnet_b0")
    widest = max(len(graph.node(n).get("rf_paths", [[]])[0]) for n in graph.order)
    assert widest <= 2  # the local path, and the whole map every gate sees (stride 0)


def test_closed_units_are_named_by_what_they_are():
    convnext = _labels("convnext_tiny")
    assert "permute" not in convnext and "layer_norm" not in convnext  # LayerNorm2d is one unit
    assert "×9 CNBlock" in convnext
    assert "block" not in _labels("efficientnet_b0")  # an MBConv without shortcut is a block too
    regnet = _labels("regnet_x_400mf")  # stages (AnyStage "block1") open, their blocks closed
    assert "block1" not in regnet and "block2-0" in regnet
    vit = _labels("vit_b_32")  # adding the position embedding makes no block of the encoder
    assert "encoder" not in vit and "×12 EncoderBlock" in vit


def test_regnet_stages_are_containers_of_bottleneck_blocks():
    graph = _graph("regnet_x_400mf")
    stage = graph.modules["trunk_output.block2"]
    assert stage.kind == CONTAINER
    assert {graph.modules[c].kind for c in stage.children} == {BLOCK}


class _ChannelsLast(nn.Module):
    """conv 3x3, then a norm and an MLP over channels run (N, H, W, C), then conv 3x3."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.mlp = nn.Linear(4, 4)
        self.b = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x):
        y = self.a(x).permute(0, 2, 3, 1)
        y = self.mlp(self.norm(y))
        return self.b(torch.transpose(torch.transpose(y, 1, 3), 2, 3))  # back to (N, C, H, W)


class _Gated(nn.Module):
    """A squeeze-and-excitation gate: the pooled 1x1 map scales every unit."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        y = self.conv(x)
        return y * torch.sigmoid(self.fc(self.pool(y)))


def _support(model: nn.Module, shape: tuple[int, ...], y: int, x: int) -> tuple[int, int, int, int]:
    inp = torch.zeros(shape, requires_grad=True)
    model(inp)[0, :, y, x].sum().backward()
    rows, cols = torch.nonzero(inp.grad[0, 0]).unbind(1)
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


@pytest.mark.parametrize(("model_class", "unit"), [
    (_ChannelsLast, (0, 0)), (_ChannelsLast, (4, 6)), (_Gated, (0, 0)), (_Gated, (5, 2)),
])  # fmt: skip
def test_boxes_equal_the_gradient_support(model_class, unit):
    torch.manual_seed(0)
    model = model_class().eval()
    with torch.no_grad():  # positive weights: no gradient cancels inside the field
        for p in model.parameters():
            p.copy_(p.abs() + 0.1)
    shape = (1, 1, 11, 9)
    graph = build_graph(model, shape)
    attrs = graph.node(graph.order[-2])  # the last layer, before the output
    box = unit_box(attrs, *unit, image_size=shape[2:])
    assert box.clipped == _support(model, shape, *unit)
    if model_class is _Gated:  # the gate sees the whole map, so every unit does
        assert box.clipped == (0, 0, 10, 8)
    else:
        assert attrs["receptive_field"] == [5, 5] and attrs["effective_stride"] == [1, 1]
