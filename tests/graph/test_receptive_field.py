"""The multi-path receptive field: published numbers, exactness against gradients, boxes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer.graph import build_graph, build_named_graph
from explorer.graph.receptive_field import unit_box


def _last_spatial(graph):
    nodes = [n for n in graph.order
             if len(graph.node(n).get("shape") or []) == 4 and graph.node(n)["shape"][2] > 1
             and not graph.node(n).get("aux")]
    return graph.node(nodes[-1])


def test_vgg16_pool5_matches_the_published_table():
    graph = build_named_graph("vgg16")
    pool5 = graph.node([n for n in graph.order if graph.node(n)["category"] == "pool"][-2])
    assert pool5["module_path"] == "features.30"
    assert pool5["receptive_field"] == [212, 212]
    assert pool5["effective_stride"] == [32, 32]
    assert pool5["rf_offset"] == [-90, -90]  # google-research: effective padding 90


def test_inception_v3_mixed_7c_matches_the_published_table():
    graph = build_named_graph("inception_v3")
    out = [n for n in graph.order if graph.node(n)["module_path"].startswith("Mixed_7c")][-1]
    assert graph.node(out)["category"] == "concat"  # several paths meet: the union counts
    assert graph.node(out)["receptive_field"] == [1311, 1311]
    assert graph.node(out)["effective_stride"] == [32, 32]


def test_mobilenet_v1_last_conv_matches_the_published_table():
    last = _last_spatial(build_named_graph("mobilenet_v1"))
    assert last["receptive_field"] == [315, 315]
    assert "SAME" in last["rf_note"]


def test_resnet50_is_torchvisions_427_and_says_why_google_has_483():
    last = _last_spatial(build_named_graph("resnet50"))
    assert last["receptive_field"] == [427, 427]
    assert last["effective_stride"] == [32, 32]
    assert "483" in last["rf_note"] and "stride" in last["rf_note"]


class _TwoPaths(nn.Module):
    """Branches with different kernels, paddings and a pool; concatenated, then added."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, stride=2, padding=0)
        self.a = nn.Conv2d(2, 2, 3, padding=1)
        self.b = nn.Sequential(nn.Conv2d(2, 2, 5, padding=2), nn.AvgPool2d(3, stride=1, padding=1))
        self.c = nn.Conv2d(2, 4, 1)
        self.d = nn.Conv2d(4, 4, 3, stride=2, padding=1, dilation=1)

    def forward(self, x):
        y = self.stem(x)
        merged = torch.cat([self.a(y), self.b(y)], 1) + self.c(y)
        return self.d(merged)


def _gradient_support(model, shape, node_module, y, x):
    inp = torch.zeros(shape, requires_grad=True)
    out = {}
    handle = getattr(model, node_module).register_forward_hook(lambda m, i, o: out.setdefault("v", o))
    model(inp)
    handle.remove()
    out["v"][0, :, y, x].sum().backward()
    rows, cols = torch.nonzero(inp.grad[0, 0]).unbind(1)
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


@pytest.mark.parametrize("unit", [(0, 0), (1, 2), (3, 3)])
def test_boxes_equal_the_gradient_support_across_branches(unit):
    torch.manual_seed(0)
    model = _TwoPaths().eval()
    with torch.no_grad():  # positive weights: no gradient cancels inside the field
        for p in model.parameters():
            p.copy_(p.abs() + 0.1)
    shape = (1, 1, 17, 15)
    graph = build_graph(model, shape)
    attrs = graph.node("d")
    expected = _gradient_support(model, shape, "d", *unit)
    box = unit_box(attrs, *unit, image_size=shape[2:])
    assert box.clipped == expected
    # Unclipped: stem 3/2 (r 3, S 2), branch b 5x5 + 3x3 pool (r 3+8+4=15, P 2*2+1*2=6),
    # then d 3x3/2 pad 1: r 15+2*2=19, S 4, P 6+2=8.
    assert attrs["receptive_field"] == [19, 19] and attrs["effective_stride"] == [4, 4]
    assert attrs["rf_offset"] == [-8, -8]
    assert (box.top, box.left) == (unit[0] * 4 - 8, unit[1] * 4 - 8)


def test_unit_box_reports_padding_and_clipping():
    attrs = {"receptive_field": [11, 11], "effective_stride": [4, 4], "rf_offset": [-5, -5]}
    box = unit_box(attrs, 0, 6, image_size=(28, 28))
    assert (box.top, box.left, box.bottom, box.right) == (-5, 19, 5, 29)
    assert box.clipped == (0, 19, 5, 27)
    assert box.padding == (5, 0, 0, 2)
    assert box.as_dict()["size"] == [11, 11]
    with pytest.raises(ValueError):
        unit_box({"receptive_field": None}, 0, 0, (28, 28))


def test_uneven_adaptive_pooling_says_so():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(4))
    graph = build_graph(model, (1, 1, 12, 12))  # 10 -> 4: windows of 3 and 4 pixels
    pool = graph.node(graph.order[2])
    assert "uneven" in pool["rf_note"]


def test_padding_layers_shift_the_box_and_upsampling_covers_the_whole_map():
    model = nn.Sequential(nn.ZeroPad2d(2), nn.Conv2d(1, 1, 5), nn.AdaptiveAvgPool2d(6))
    graph = build_graph(model, (1, 1, 4, 4))
    pad, conv, pool = (graph.node(n) for n in graph.order[1:4])
    assert pad["rf_offset"] == [-2, -2] and pad["receptive_field"] == [1, 1]
    assert conv["receptive_field"] == [5, 5] and conv["rf_offset"] == [-2, -2]
    assert pool["effective_stride"] == [0, 0] and "grows" in pool["rf_note"]
    for y, x in ((0, 0), (5, 5)):
        box = unit_box(pool, y, x, (4, 4))
        assert box.clipped == (0, 0, 3, 3)


def test_upstream_box_is_the_field_on_an_earlier_feature_map():
    from explorer.graph.receptive_field import upstream_box

    torch.manual_seed(0)
    model = _TwoPaths().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.abs() + 0.1)
    graph = build_graph(model, (1, 1, 17, 15))
    # From the stem's 8x7 map: branch b's 5x5 + 3x3 pool gives 7, then d's 3x3/2: 7 + 2 = 9.
    box = upstream_box(graph.graph, graph.order, "d", 1, 2, "stem")
    assert box.size == (9, 9) and (box.top, box.left) == (1 * 2 - 4, 2 * 2 - 4)
    assert box.clipped == (0, 0, 6, 6)  # the stem map is 8x7
    stem = {}
    handle = model.stem.register_forward_hook(lambda _m, _i, out: stem.setdefault("out", out))
    out = model(torch.ones(1, 1, 17, 15))
    handle.remove()
    (grad,) = torch.autograd.grad(out[0, :, 1, 2].sum(), stem["out"])
    rows, cols = torch.nonzero(grad[0].sum(0)).unbind(1)
    assert (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())) == box.clipped
    with pytest.raises(ValueError, match="does not feed"):
        upstream_box(graph.graph, graph.order, "stem", 0, 0, "d")


class _TwoStrides(nn.Module):
    """A stride-2 path and an upsampled stride-4 path meeting in an addition."""

    def __init__(self) -> None:
        super().__init__()
        self.fine = nn.Conv2d(1, 1, 3, stride=2, padding=1)
        self.coarse = nn.Conv2d(1, 1, 3, stride=4, padding=1)
        self.up = nn.AdaptiveAvgPool2d(8)

    def forward(self, x):
        return self.fine(x) + self.up(self.coarse(x))


def test_paths_with_different_strides_are_kept_side_by_side():
    graph = build_graph(_TwoStrides(), (1, 1, 16, 16))
    add = graph.node(next(n for n in graph.order if graph.node(n)["category"] == "add"))
    assert "different strides" in add["rf_note"] and len(add["rf_paths"][0]) == 2
    fine = graph.node("fine")
    for unit in ((0, 0), (7, 3)):
        box = unit_box(add, *unit, image_size=(16, 16))
        own = unit_box(fine, *unit, image_size=(16, 16))
        # the fine path's own box joined with all the coarse path sees (pixels -1..13:
        # its four stride-4 units end at 13), whatever the unit
        assert (box.top, box.left) == (-1, -1)
        assert (box.bottom, box.right) == (max(13, own.bottom), max(13, own.right))
