"""Feature visualisation (issue 21): an image optimised to excite one channel, in the
background with progress, cached by the weights' hash."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from explorer.errors import UserError
from explorer.explain.feature_vis import (
    FeatureVisError,
    Settings,
    cache_paths,
    feature_vis,
    node_model,
    run,
)
from explorer.explain.feature_vis_parts import (
    FourierImage,
    random_transform,
    redirected_relu,
)

FAST = Settings(steps=24)


@pytest.fixture(scope="module")
def lenet5():
    from explorer.loading import load_model

    return load_model("lenet5_small")  # the shipped weights


def _cached_files(name: str) -> list:
    from explorer.settings import cache_dir

    folder = cache_dir() / "feature_vis"
    return sorted(folder.glob(f"{name}-*")) if folder.exists() else []


def test_the_objective_rises_past_what_real_test_images_reach(lenet5, fashion_root):
    from explorer.explain.held_out import held_out

    x = held_out("lenet5_small", str(fashion_root), 256).x
    cut, _, title = node_model(lenet5.module, "c5")
    with torch.no_grad():
        real = cut(x)  # (N, 120, 1, 1)
    for channel in range(3):
        result = run(feature_vis(lenet5.module, "lenet5_small", "c5", channel, spec=lenet5.input_spec,
                                 use_cache=False))
        per_image = real[:, channel].flatten(1).mean(1)
        assert title == result.title == "c5"
        assert result.image.shape == (28, 28) and result.image.dtype == np.uint8  # grey model
        assert result.end > result.start + 0.1
        # Above every one of the real images, not just their mean.
        assert result.end > float(per_image.max()) > float(per_image.mean())
        assert result.image.std() > 20  # a picture, not a grey field


def test_a_residual_add_of_a_resnet_is_reached_and_driven_up():
    from explorer.loading import load_model

    resnet = load_model("resnet18_small")
    result = run(feature_vis(resnet.module, "resnet18_small", "layer3.1 (add)", 3, spec=resnet.input_spec,
                             settings=Settings(steps=48), use_cache=False))
    assert result.title == "layer3.1 (add)" and result.node.startswith("add")
    assert result.end > result.start + 1.0


def test_the_same_seed_gives_the_same_image_and_another_seed_another(lenet5):
    def image(seed: int):
        return run(feature_vis(lenet5.module, "lenet5_small", "c3", 1, settings=Settings(steps=24, seed=seed),
                               use_cache=False))

    first, again, other = image(0), image(0), image(1)
    assert np.array_equal(first.image, again.image) and first.end == again.end
    assert not np.array_equal(first.image, other.image)


def test_a_second_call_is_read_from_the_cache(lenet5):
    started = time.perf_counter()
    first = run(feature_vis(lenet5.module, "lenet5_small", "c3", 2, spec=lenet5.input_spec))
    computed = time.perf_counter() - started
    assert not first.cached
    files = _cached_files("lenet5_small")
    assert [f.suffix for f in files] == [".json", ".png"]
    stored = json.loads(files[0].read_text())
    assert stored["title"] == "c3" and stored["channel"] == 2 and stored["weights"] == first.weights

    started = time.perf_counter()
    progress = list(_progress(feature_vis(lenet5.module, "lenet5_small", "c3", 2, spec=lenet5.input_spec)))
    again = progress[-1]
    assert time.perf_counter() - started < computed
    assert len(progress) == 2 and progress[0].cached and progress[0].fraction == 1.0  # one report, then the result
    assert again.cached and np.array_equal(again.image, first.image)
    assert (again.start, again.end, again.title, again.node) == (first.start, first.end, first.title, first.node)


def test_other_weights_settings_or_channels_are_other_cache_entries(lenet5):
    import copy

    run(feature_vis(lenet5.module, "lenet5_small", "c3", 0, settings=FAST))
    assert not run(feature_vis(lenet5.module, "lenet5_small", "c3", 1, settings=FAST)).cached
    assert not run(feature_vis(lenet5.module, "lenet5_small", "c3", 0, settings=Settings(steps=25))).cached
    changed = copy.deepcopy(lenet5.module)
    with torch.no_grad():
        next(changed.parameters()).add_(0.01)
    assert not run(feature_vis(changed, "lenet5_small", "c3", 0, settings=FAST)).cached
    assert run(feature_vis(lenet5.module, "lenet5_small", "c3", 0, settings=FAST)).cached


@pytest.mark.parametrize("damage", ["png garbage", "png truncated", "png other size", "json garbage",
                                    "json a list", "json missing values", "json other key", "png missing",
                                    "png a folder"])
def test_a_damaged_cache_is_recomputed_never_a_crash(lenet5, damage):
    from PIL import Image

    first = run(feature_vis(lenet5.module, "lenet5_small", "s4", 4, settings=FAST))
    meta = next(f for f in _cached_files("lenet5_small") if f.suffix == ".json")
    png = meta.with_suffix(".png")
    if damage == "png garbage":
        png.write_bytes(b"not a png at all")
    elif damage == "png truncated":
        png.write_bytes(png.read_bytes()[:40])
    elif damage == "png other size":
        Image.new("L", (5, 5)).save(png)
    elif damage == "json garbage":
        meta.write_text("{nope")
    elif damage == "json a list":
        meta.write_text("[1, 2]")
    elif damage == "json missing values":
        document = json.loads(meta.read_text())
        del document["end"]
        meta.write_text(json.dumps(document))
    elif damage == "json other key":
        document = json.loads(meta.read_text())
        document["key"] = "0" * 24
        meta.write_text(json.dumps(document))
    elif damage == "png missing":
        png.unlink()
    elif damage == "png a folder":
        png.unlink()
        png.mkdir()
    if damage == "png a folder":  # cannot be rewritten either: said, and the result still comes
        with pytest.warns(UserWarning, match="cannot save feature-visualisation cache .*: is a folder"):
            again = run(feature_vis(lenet5.module, "lenet5_small", "s4", 4, settings=FAST))
    else:
        again = run(feature_vis(lenet5.module, "lenet5_small", "s4", 4, settings=FAST))
    assert not again.cached
    assert np.array_equal(again.image, first.image) and again.end == first.end  # the same, recomputed
    if damage != "png a folder":  # rewritten: the next call is a hit again
        assert run(feature_vis(lenet5.module, "lenet5_small", "s4", 4, settings=FAST)).cached


def test_a_colour_model_with_random_weights_gets_a_colour_image():
    from explorer.models import get_model

    torch.manual_seed(0)
    model = get_model("resnet18").eval()  # ImageNet statistics, three channels
    result = run(feature_vis(model, "resnet18", "layer2", 5, settings=Settings(steps=24, size=(64, 64)),
                             use_cache=False))
    assert result.image.shape == (64, 64, 3) and result.image.dtype == np.uint8
    assert result.end > result.start + 0.5
    assert result.title == "layer2.1.relu #2"  # a block stands for its output (torchvision's reused ReLU)
    spread = result.image.reshape(-1, 3).astype(float)
    assert np.abs(spread[:, 0] - spread[:, 2]).mean() > 5  # coloured, not grey


def test_the_generator_reports_every_step_and_stops_cleanly(lenet5):
    model = lenet5.module
    threads = torch.get_num_threads()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = feature_vis(model, "lenet5_small", "c3", 0, settings=Settings(steps=50))
    seen = []
    for progress in steps:
        seen.append(progress)
        # Between steps the caller's state is its own.
        assert torch.get_num_threads() == threads and torch.is_grad_enabled()
        if progress.step == 5:
            break
    steps.close()
    assert [p.step for p in seen] == [1, 2, 3, 4, 5] and all(p.total == 50 for p in seen)
    assert seen[-1].image.shape == (28, 28) and seen[-1].image.dtype == np.uint8
    assert not np.array_equal(seen[0].image, seen[-1].image)  # it shows the image forming
    assert _cached_files("lenet5_small") == []  # nothing half-done is kept
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.training


def test_it_runs_inside_a_callers_no_grad_and_restores_the_training_flag(lenet5):
    import copy

    model = copy.deepcopy(lenet5.module).train()
    with torch.inference_mode():
        result = run(feature_vis(model, "lenet5_small", "c3", 0, settings=FAST, use_cache=False))
    assert result.end > result.start and model.training


def test_unknown_nodes_channels_out_of_range_and_the_input_are_one_line_errors(lenet5):
    model = lenet5.module
    with pytest.raises(FeatureVisError, match="no node or module named 'c9'"):
        run(feature_vis(model, "lenet5_small", "c9", 0, settings=FAST))
    with pytest.raises(FeatureVisError, match=r"channel 16 is outside c3's channels 0\.\.15"):
        run(feature_vis(model, "lenet5_small", "c3", 16, settings=FAST))
    with pytest.raises(FeatureVisError, match="not a layer"):
        run(feature_vis(model, "lenet5_small", "input", 0, settings=FAST))
    assert issubclass(FeatureVisError, UserError)


def test_a_node_named_by_title_id_or_module_is_the_same_node():
    from explorer.models import get_model

    model = get_model("resnet18_small").eval()
    _, by_title, title = node_model(model, "layer1.0 (add)")
    _, by_id, _ = node_model(model, by_title)
    _, _, block_title = node_model(model, "layer1.0")
    assert by_id == by_title and title == "layer1.0 (add)"
    assert block_title == "layer1.0.relu2"  # the block's output
    cut, _, _ = node_model(model, "layer1.0 (add)")
    outputs = []
    handle = model.layer1[0].register_forward_hook(lambda _m, _a, out: outputs.append(out))
    x = torch.randn(2, 1, 28, 28)
    try:
        with torch.no_grad():
            model(x)
            added = cut(x)
    finally:
        handle.remove()
    assert torch.allclose(torch.relu(added), outputs[0], atol=1e-5)  # the block is relu(add)


def test_the_redirected_relu_has_relus_values_and_moves_a_silent_unit_up():
    x = torch.tensor([[-2.0, -1.0, 3.0]], requires_grad=True)
    assert torch.equal(redirected_relu(x), torch.relu(x))
    (grad,) = torch.autograd.grad(redirected_relu(x)[0, 2], [x])
    assert grad.tolist() == [[0.0, 0.0, 1.0]]  # a live unit: the plain gradient
    # The losses below are minimised (gradient descent), as the optimiser does with -objective.
    silent = torch.tensor([[-2.0, -1.0]], requires_grad=True)
    (grad,) = torch.autograd.grad(-redirected_relu(silent).sum(), [silent])
    assert grad.tolist() == [[-1.0, -1.0]]  # all silent: redirected, so descent raises them
    (grad,) = torch.autograd.grad(redirected_relu(silent).sum(), [silent])
    assert grad.tolist() == [[0.0, 0.0]]  # never pushed further down
    six = torch.tensor([[7.0, 8.0]], requires_grad=True)
    assert redirected_relu(six, 6.0).tolist() == [[6.0, 6.0]]
    (grad,) = torch.autograd.grad(redirected_relu(six, 6.0).sum(), [six])
    assert grad.tolist() == [[1.0, 1.0]]  # ReLU6 above its clip: descent may bring it back
    (grad,) = torch.autograd.grad(-redirected_relu(six, 6.0).sum(), [six])
    assert grad.tolist() == [[0.0, 0.0]]  # but never further up


def test_the_fourier_image_starts_grey_and_the_transforms_keep_its_size():
    generator = torch.Generator().manual_seed(0)
    for channels in (1, 3):
        image = FourierImage(channels, (28, 30), generator=generator).image().detach()
        assert image.shape == (1, channels, 28, 30)
        assert (image - 0.5).abs().max() < 0.05  # sd 0.01: a nearly grey start
        moved = random_transform(image, pad=3, jitter=2, scale=(0.9, 1.1), rotate=10.0, generator=generator)
        assert moved.shape == image.shape and 0 <= float(moved.min()) and float(moved.max()) <= 1


def test_the_cache_lives_in_the_cache_folder():
    from explorer.settings import cache_dir

    png, meta = cache_paths("my model/../x", "abc")
    assert png.parent == meta.parent == cache_dir() / "feature_vis"
    assert png.name == "my_model_.._x-abc.png" and meta.suffix == ".json"


def _progress(steps):
    """Every report of a feature_vis generator, then its result."""
    while True:
        try:
            yield next(steps)
        except StopIteration as done:
            yield done.value
            return
