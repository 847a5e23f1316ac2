"""Published facts from ARCHITECTURES.md, checked one by one (counts on the meta device)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer.models import count_flops, count_parameters, get_model, layer_summary, macs, meta_model
from explorer.models.architectures.lenet import C3_CONNECTIONS, DIGIT_BITMAPS, digit_centres
from explorer.models.architectures.mobilenet import DepthwiseSeparable


def _n(module: nn.Module) -> int:
    return count_parameters(module)


def test_lenet5_per_layer_counts():
    model = meta_model("lenet5")
    counts = {name: _n(getattr(model, name)) for name in ("c1", "s2", "c3", "s4", "c5", "f6", "rbf")}
    assert counts == {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164, "rbf": 0}
    assert _n(model) == 60_000
    # The RBF centres: 84 * 10 = 840 fixed values, a buffer, not trained.
    assert model.rbf.centres.shape == (10, 84)
    assert not any(name.startswith("rbf") for name, _ in model.named_parameters())


def test_lenet5_is_seven_named_layers():
    for name in ("lenet5", "lenet5_small"):
        model = meta_model(name)
        assert [m.display_name for m in model.children()] == ["C1", "S2", "C3", "S4", "C5", "F6", "RBF output"]
        assert all(type(m).fx_leaf for m in model.children())


def test_lenet5_c3_connection_table_and_real_zeros():
    assert [len(s) for s in C3_CONNECTIONS] == [3] * 6 + [4] * 9 + [6]
    model = get_model("lenet5")
    dense = model.c3.dense_weight().detach()
    for out_map, sources in enumerate(C3_CONNECTIONS):
        for src in range(6):
            connected = bool(dense[out_map, src].abs().sum() > 0)
            assert connected == (src in sources)
    grid = model.c3.connection_grid()
    assert len(grid) == 6 and all(len(row) == 16 for row in grid)
    assert sum(map(sum, grid)) == 60
    assert [[src in s for s in C3_CONNECTIONS] for src in range(6)] == grid


def test_lenet5_c3_counts_the_tables_multiply_adds():
    """Sec. II.B: 151,600 connections = 150,000 multiply-adds + 1,600 bias adds; a dense
    16x6 kernel with zeros would count 240,000."""
    model = meta_model("lenet5")
    rows = {r.path: r for r in layer_summary(model, (1, 1, 32, 32))}
    assert macs(rows["c3"].flops) == 150_000
    assert macs(rows["c1"].flops) == 117_600  # 122,304 connections - 4,704 bias adds
    assert count_flops(model, (1, 1, 32, 32)) == sum(r.flops for r in rows.values())
    assert count_flops(model, (3, 1, 32, 32)) == 3 * count_flops(model, (1, 1, 32, 32))


def test_lenet5_rbf_centres_are_plus_minus_one_digit_bitmaps():
    assert all(len(b) == 12 and all(len(row) == 7 for row in b) for b in DIGIT_BITMAPS)
    centres = digit_centres()
    assert set(centres.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(c.tolist()) for c in centres}) == 10
    model = get_model("lenet5").eval()
    # The output is minus the squared distance to each centre: zero at the centre itself.
    x = centres[3:4]
    assert torch.allclose(model.rbf(x)[0, 3], torch.tensor(0.0))
    assert model.rbf(x).argmax().item() == 3


def test_lenet_textbook_counts():
    model = meta_model("lenet")
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [_n(m) for m in layers] == [156, 2_416, 48_120, 10_164, 850]


def test_alexnet_split_is_two_lanes_crossing_at_conv3_and_the_fcs():
    split = meta_model("alexnet_split")
    one_device = meta_model("alexnet")
    assert _n(split) == 60_965_224
    assert _n(one_device) - _n(split) == 62_378_344 - 60_965_224
    for gpu in (1, 2):
        convs = [getattr(split, f"conv{i}_gpu{gpu}").conv for i in range(1, 6)]
        assert [c.out_channels for c in convs] == [48, 128, 192, 192, 128]
        # conv3 reads both lanes (the GPUs communicate), conv2/4/5 only their own
        assert [c.in_channels for c in convs] == [3, 48, 256, 192, 192]
        assert getattr(split, f"fc6_gpu{gpu}").fc.in_features == 9216
        assert getattr(split, f"fc7_gpu{gpu}").fc.in_features == 4096
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in one_device.modules()) == 2
    convs = [m for m in one_device.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]


def test_vgg16_fully_connected_counts():
    model = meta_model("vgg16")
    fc = [_n(m) for m in model.classifier if isinstance(m, nn.Linear)]
    assert fc == [102_764_544, 16_781_312, 4_097_000]
    assert sum(fc) == 123_642_856
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13 and all(c.kernel_size == (3, 3) for c in convs)


@pytest.mark.parametrize(("name", "convs"), [("vgg11", 8), ("vgg13", 10), ("vgg16", 13), ("vgg19", 16)])
def test_vgg_small_keeps_conv_counts(name, convs):
    for form in (name, f"{name}_small"):
        model = meta_model(form)
        assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs


def test_googlenet_aux_head_counts():
    model = meta_model("googlenet")
    assert _n(model.aux1) == 3_188_840
    assert _n(model.aux2) == 3_190_888
    assert _n(model) - _n(model.aux1) - _n(model.aux2) == 6_998_552
    tv = meta_model("googlenet_tv")
    assert _n(tv) - _n(tv.aux1) - _n(tv.aux2) == 6_624_904


def test_googlenet_is_paper_faithful():
    model = meta_model("googlenet")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    # True 5x5 convs in every module's third branch (torchvision uses 3x3 there).
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    # Pool before projection in the fourth branch.
    assert isinstance(model.inception3a.branch4[0], nn.MaxPool2d)
    widths = [getattr(model, f"inception{n}").out_channels for n in ("3a", "3b", "4a", "4d", "4e", "5b")]
    assert widths == [256, 480, 512, 528, 832, 1024]


def test_googlenet_small_has_same_modules_and_both_aux_heads():
    model = meta_model("googlenet_small")
    names = [n for n, _ in model.named_children() if n.startswith("inception")]
    assert len(names) == 9
    assert model.aux1 is not None and model.aux2 is not None


def test_inception_v2_follows_the_bn_paper():
    model = meta_model("inception_v2")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    # BN after every conv, the separable stem's depthwise+pointwise pair counting as one
    assert len(convs) - 1 == len(bns) and all(c.bias is None for c in convs)
    assert not any(c.kernel_size == (5, 5) for c in convs)
    widths = [m.out_channels for n, m in model.named_children() if n.startswith("inception")]
    assert widths == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    # 11,285,224 with a full 7x7 stem conv (3*49*64 = 9,408 weights); the Appendix's
    # depthwise-separable stem has 7*7*3*8 + 24*64 = 2,712: 11,285,224 - 9,408 + 2,712.
    assert model.conv1.depthwise.weight.numel() + model.conv1.pointwise.weight.numel() == 2_712
    assert model.conv1.depthwise.groups == 3 and model.conv1.depthwise.out_channels == 24
    assert _n(model) == 11_278_528
    small = meta_model("inception_v2_small")
    assert small.conv1.depthwise.out_channels == 8 * small.conv1.depthwise.in_channels


def test_densenet121_first_block_has_256_channels():
    for name, expected in (("densenet121", 64 + 6 * 32), ("densenet121_small", 16 + 6 * 8)):
        model = meta_model(name)
        seen: list[int] = []

        def hook(_module, _inputs, output, seen=seen):
            seen.append(output.shape[1])

        model.features.denseblock1.register_forward_hook(hook)
        shape = (1, 3, 224, 224) if name == "densenet121" else (1, 1, 28, 28)
        model.eval()(torch.empty(shape, device="meta"))
        assert seen == [expected]


def test_mobilenet_v1_separable_counts():
    block = DepthwiseSeparable(3, 256, stride=1)
    assert block.depthwise.conv.weight.numel() + block.pointwise.conv.weight.numel() == 795
    assert nn.Conv2d(3, 256, 3, bias=False).weight.numel() == 6_912
    model = meta_model("mobilenet_v1")
    blocks = [m for m in model.modules() if isinstance(m, DepthwiseSeparable)]
    assert len(blocks) == 13
    assert [b.pointwise.conv.out_channels for b in blocks] == [
        64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024,
    ]  # fmt: skip
    assert all(b.depthwise.conv.groups == b.depthwise.conv.in_channels for b in blocks)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs) and len(convs) == 27
    # The paper's ReLU (Sec. 3.2, Fig. 3); ReLU6 is TF-Slim's and v2's.
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 27
    assert not any(isinstance(m, nn.ReLU6) for m in model.modules())
    # One block's count: depthwise 3*3*32 + BN 64, pointwise 32*64 + BN 128.
    assert _n(blocks[0]) == 288 + 64 + 2_048 + 128


def test_resnet_small_keeps_blocks_and_projections():
    for depth, blocks in ((18, [2, 2, 2, 2]), (34, [3, 4, 6, 3]), (50, [3, 4, 6, 3])):
        for name in (f"resnet{depth}", f"resnet{depth}_small"):
            model = meta_model(name)
            stages = [getattr(model, f"layer{i}") for i in range(1, 5)]
            assert [len(s) for s in stages] == blocks
            projections = [b.downsample is not None for s in stages for b in s]
            assert projections.count(True) == (4 if depth == 50 else 3)


def test_mobilenet_v2_small_keeps_inverted_residuals():
    from torchvision.models.mobilenetv2 import InvertedResidual

    for name in ("mobilenet_v2", "mobilenet_v2_small"):
        blocks = [m for m in meta_model(name).modules() if isinstance(m, InvertedResidual)]
        assert len(blocks) == 17
        assert [b.use_res_connect for b in blocks].count(True) == 10
