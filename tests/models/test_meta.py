"""Fast meta-device work: ops that keep a shape answer at once, and counts stay exact."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from explorer.models import get_model, get_model_info, layer_summary, meta_model
from explorer.models.meta import meta_device, shapes_only


def _rows(model: nn.Module, shape: tuple[int, ...]) -> list[tuple]:
    return [(r.path, r.type, r.output_shape, r.params, r.flops) for r in layer_summary(model, shape)]


@pytest.mark.parametrize("name", ["alexnet_small", "mobilenet_v2_small", "inception_v3_small", "densenet121_small"])
def test_a_zoo_model_counted_on_meta_matches_it_run_on_the_cpu(name):
    shape = get_model_info(name).input_shape
    assert _rows(meta_model(name), shape) == _rows(get_model(name), shape)


def test_a_torchvision_model_with_other_activations_matches_too():
    # Hardswish, Hardsigmoid, ReLU (in place), Dropout and squeeze-excitation's scaling.
    with meta_device():
        on_meta = torchvision.models.mobilenet_v3_small()
    on_cpu = torchvision.models.mobilenet_v3_small()
    assert _rows(on_meta, (1, 3, 96, 96)) == _rows(on_cpu, (1, 3, 96, 96))


def test_in_place_ops_give_back_their_argument_and_others_a_new_tensor_like_it():
    x = torch.empty(2, 8, 5, 5, device="meta").contiguous(memory_format=torch.channels_last)
    with shapes_only():
        assert F.relu(x, inplace=True) is x
        assert F.relu(x, True) is x
        assert F.hardtanh(x, 0.0, 6.0, True) is x
        assert x.relu_() is x
        assert nn.init.kaiming_uniform_(x) is x
        for out in (F.relu(x), F.hardtanh(x, 0.0, 6.0), torch.sigmoid(x), F.dropout(x, 0.5, True),
                    F.batch_norm(x, None, None, training=True), F.silu(x), x.relu()):
            assert out is not x
            assert (out.shape, out.stride(), out.dtype, out.is_meta) == (x.shape, x.stride(), x.dtype, True)


def test_real_tensors_are_computed_as_usual():
    x = torch.tensor([-1.0, 2.0, 7.0])
    with shapes_only():
        assert F.relu6(x).tolist() == [0.0, 2.0, 6.0]
        y = x.clone()
        nn.init.zeros_(y)
        assert y.tolist() == [0.0, 0.0, 0.0]


class _Ops(TorchDispatchMode):
    """The names of the aten ops that run."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_a_model_built_on_meta_device_runs_no_weight_initialisation():
    with torch.device("meta"), _Ops() as plain:
        get_model("vgg11")
    with meta_device(), _Ops() as fast:
        model = get_model("vgg11")
    assert {"uniform_", "normal_"} <= plain.seen  # what the fast build skips
    assert not fast.seen & {"uniform_", "normal_", "zero_", "fill_"}
    assert all(p.is_meta for p in model.parameters())


def test_an_integer_meta_tensor_is_left_to_torch():
    # torch.sigmoid of an integer tensor is a float tensor: not a shape-keeping answer.
    x = torch.empty(3, dtype=torch.int64, device="meta")
    with shapes_only():
        assert torch.sigmoid(x).dtype == torch.float32
