"""Lesson 12, ReLU6 and low precision: the rounding helpers against independent
quantise-dequantise code, and the measurement against the model run another way (the
ReLU6 modules swapped for other modules instead of hooked)."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch
from torch import nn

from explorer.graph.stored import named_graph
from explorer.lessons import relu6 as lesson
from explorer.loading import load_model


def _int8_numpy(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Affine 8-bit quantise-dequantise written out: 256 levels over [min(lo, 0), max(hi, 0)],
    in ``x``'s precision (float32 as the network runs: in float64 a value a hair from a
    rounding tie can land on the other level, and the network carries that step on)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = x.dtype.type((hi - lo) / 255.0)
    zero = x.dtype.type(int(np.round(-lo / scale)))
    q = np.clip(np.round(x / scale) + zero, 0, 255)
    return (q - zero) * scale


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


@pytest.fixture(scope="module")
def model():
    return load_model(lesson.MODEL)


@pytest.fixture(scope="module")
def images(model):
    return lesson.lesson_images(model)


@pytest.fixture(scope="module")
def measurement(model, images):
    return lesson.measure(model.module, images[0])


class _Capture(nn.Module):
    """Stands in for a ReLU6: the chosen activation, optionally rounded to 8 bits, recording
    what it outputs."""

    def __init__(self, clip: bool, top: float | None = None) -> None:
        super().__init__()
        self.clip, self.top, self.seen = clip, top, None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = z.clamp(0, 6) if self.clip else z.clamp_min(0)
        if self.top is not None:
            out = torch.from_numpy(_int8_numpy(out.numpy(), 0.0, self.top))
        self.seen = (z.clone(), out.clone())
        return out


def _swapped(module: nn.Module, clip: bool, tops: dict[str, float] | None = None) -> tuple[nn.Module, dict]:
    copy_ = copy.deepcopy(module).eval()
    stand_ins = {}
    for name, _ in lesson.activation_layers(copy_):
        parent_name, _, child = name.rpartition(".")
        parent = copy_.get_submodule(parent_name)
        stand_ins[name] = _Capture(clip, None if tops is None else tops[name])
        setattr(parent, child, stand_ins[name])
    return copy_, stand_ins


def test_the_model_uses_relu6(model):
    kinds = [type(m).__name__ for m in model.module.modules() if isinstance(m, (nn.ReLU, nn.ReLU6, nn.Hardtanh))]
    assert kinds and set(kinds) == {"ReLU6"}
    assert len(lesson.activation_layers(model.module)) == len(kinds)
    assert model.trained  # the shipped Fashion-MNIST weights


def test_int8_matches_an_independent_quantise_dequantise(model, images):
    captured = {}
    layer = dict(lesson.activation_layers(model.module))[lesson.NODE]
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.setdefault("x", out.clone()))
    try:
        with torch.no_grad():
            model.module(images[0])
    finally:
        handle.remove()
    x = captured["x"]
    got = lesson.quantise_int8(x, float(x.min()), float(x.max()))
    want = _int8_numpy(x.numpy(), float(x.min()), float(x.max()))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)
    assert lesson.relative_error(got, x) == pytest.approx(_rel(want.astype(np.float64), x.numpy().astype(np.float64)),
                                                          rel=1e-4)
    # A signed tensor: the zero point moves off 0.
    signed = torch.linspace(-2.5, 7.0, 1001)
    np.testing.assert_allclose(lesson.quantise_int8(signed, -2.5, 7.0).numpy(),
                               _int8_numpy(signed.numpy(), -2.5, 7.0), rtol=1e-6, atol=1e-6)


def test_fp16_error_matches_half():
    x = torch.rand(4, 8, 5, 5) * 9
    assert lesson.relative_error(lesson.quantise_fp16(x), x) == pytest.approx(
        float((x.half().float() - x).norm() / x.norm()))
    assert lesson.quantise_fp16(x).dtype == torch.float32


@pytest.mark.parametrize("clip", [True, False], ids=["relu6", "relu"])
def test_layer_statistics_recomputed(model, images, measurement, clip):
    swapped, stand_ins = _swapped(model.module, clip)
    with torch.no_grad():
        logits = swapped(images[0])
    np.testing.assert_allclose(measurement.logits[(clip, False)].numpy(), logits.numpy(), atol=1e-4)
    stats = {s.name: s for s in measurement.layers[clip]}
    assert list(stats) == list(stand_ins)
    for name, stand_in in stand_ins.items():
        z, out = stand_in.seen
        z64, out64 = z.numpy().astype(np.float64), out.numpy().astype(np.float64)
        s = stats[name]
        assert s.shape == tuple(out.shape[1:])
        assert s.max == pytest.approx(float(out64.max()), rel=1e-5)
        assert s.above_cap == pytest.approx(float((z64 > 6).mean()), abs=2e-6)
        assert s.fp16 == pytest.approx(_rel(out.half().numpy().astype(np.float64), out64), rel=1e-3, abs=1e-7)
        rounded = _int8_numpy(out.numpy(), float(out.min()), float(out.max())).astype(np.float64)
        assert s.int8 == pytest.approx(_rel(rounded, out64), rel=1e-4, abs=1e-7)
        if clip:
            assert s.max <= 6.0


@pytest.mark.parametrize("clip", [True, False], ids=["relu6", "relu"])
def test_int8_logits_recomputed(model, images, measurement, clip):
    tops = {s.name: s.max for s in measurement.layers[clip]}
    swapped, _ = _swapped(model.module, clip, tops)
    with torch.no_grad():
        logits = swapped(images[0])
    np.testing.assert_allclose(measurement.logits[(clip, True)].numpy(), logits.numpy(), atol=1e-4)


def test_measure_leaves_the_module_as_it_was(model, images):
    layers = lesson.activation_layers(model.module)
    before = [m.inplace for _, m in layers]
    with torch.no_grad():
        plain = model.module(images[0])
    lesson.measure(model.module, images[0])
    assert [m.inplace for _, m in layers] == before
    assert all(not m._forward_hooks for _, m in layers)
    with torch.no_grad():
        assert torch.equal(model.module(images[0]), plain)


def test_images_fall_back_to_the_samples(images):
    tensor, labels, what = images
    assert tensor.shape == (10, 1, 28, 28)
    assert sorted(labels.tolist()) == list(range(10))
    assert "samples" in what


def test_outcome_and_lesson(measurement, images):
    lesson._measured.cache_clear()
    start = time.perf_counter()
    outcome = lesson.demonstrate()
    print(f"relu6 demonstrate: {1000 * (time.perf_counter() - start):.0f} ms (loads the model)")
    start = time.perf_counter()
    lesson.demonstrate()
    print(f"relu6 demonstrate (cached): {1000 * (time.perf_counter() - start):.1f} ms")
    assert outcome.verdict and outcome.figures and outcome.notes
    by_label = {f.label: f for f in outcome.figures}
    free, clipped = measurement.layers[False], measurement.layers[True]
    assert by_label[f"activation layers of {lesson.MODEL} that are ReLU6"].ours == f"{len(clipped)} of {len(clipped)}"
    assert by_label["int8 rounding error of the feature maps, mean over layers, with ReLU6"].ours == round(
        100 * float(np.mean([s.int8 for s in clipped])), 3)
    assert by_label["int8 rounding error of the feature maps, mean over layers, with ReLU"].ours == round(
        100 * float(np.mean([s.int8 for s in free])), 3)
    assert by_label["units above 6 without the clip (same weights, ReLU), mean over layers"].ours == round(
        100 * float(np.mean([s.above_cap for s in free])), 3)
    agree = int((measurement.logits[(True, True)].argmax(1) == measurement.logits[(True, False)].argmax(1)).sum())
    assert by_label["top-1 unchanged by int8 activations, with ReLU6 (of 10 images)"].ours == agree
    explanations = next(t for t in outcome.tables if t.title.startswith("Why ReLU6"))
    assert [row[2] for row in explanations.rows][2] == "folklore"
    assert any("Krizhevsky" in row[1] for row in explanations.rows)
    L = lesson.LESSON
    assert (L.name, L.number, L.kind) == ("relu6", 12, "live")
    assert L.claim and L.look_at and any("MobileNet v2" in str(s) for s in L.sources)


@pytest.mark.parametrize("link", lesson.LESSON.links, ids=lambda link: f"{link.view}-{link.model}")
def test_links_name_real_nodes(link):
    graph, _ = named_graph(link.model)
    node = graph.find_node(link.node)
    assert node is not None
    assert graph.node(node)["layer_type"] == "ReLU6"
