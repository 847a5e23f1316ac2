"""Top images per channel: correct against brute force, reported progress, cached by weights."""

from __future__ import annotations

import torch

from explorer.explain.top_images import Progress, TopImages, run, top_images
from explorer.graph import build_graph
from explorer.settings import cache_dir

from .conftest import TRAINED_MODEL, batch


def test_scan_finds_each_channels_strongest_images_and_caches_them(trained, tiny_data):
    model, _ = trained
    images = tiny_data.test_images
    x = batch(TRAINED_MODEL, images)
    scan = top_images(model, TRAINED_MODEL, x, images=images, batch_size=64)
    reports = []
    while True:
        try:
            reports.append(next(scan))
        except StopIteration as done:
            result: TopImages = done.value
            break
    assert [r.done for r in reports] == [64, 128, 192, len(images)]
    assert reports[-1].fraction == 1.0 and not reports[-1].cached

    graph = build_graph(model, (1, 1, 28, 28))
    node = next(n for n in graph.order if graph.node(n)["category"] == "conv")
    module = graph.node(node)["module_path"]
    seen = {}
    handle = model.get_submodule(module).register_forward_hook(lambda _m, _i, out: seen.setdefault("out", out))
    with torch.no_grad():
        model(x)
    handle.remove()
    peaks = seen["out"].flatten(2).amax(2)  # (N, C)
    for channel in (0, 3):
        hits = result.top(node, channel)
        assert len(hits) == 9
        expected = peaks[:, channel].topk(9).values
        torch.testing.assert_close(torch.tensor([h.value for h in hits]), expected)
        best = hits[0]
        assert seen["out"][best.image, channel, best.y, best.x] == peaks[best.image, channel]
    for hit, box in result.patches(graph, node, 0, (28, 28)):
        top, left, bottom, right = box.clipped
        assert top <= hit.y <= bottom and left <= hit.x <= right  # stride 1 near the input

    files = list((cache_dir() / "top_images").glob(f"{TRAINED_MODEL}-*.pt"))
    assert len(files) == 1 and result.weights in files[0].name
    again = top_images(model, TRAINED_MODEL, x, images=images, batch_size=64)
    assert next(again) == Progress(len(images), len(images), cached=True)
    cached = run(top_images(model, TRAINED_MODEL, x, images=images))
    assert torch.equal(cached.nodes[node]["images"], result.nodes[node]["images"])

    with torch.no_grad():
        model.get_submodule(module).weight.mul_(-1)  # other weights: another scan
    try:
        other = run(top_images(model, TRAINED_MODEL, x[:64], images=images[:64]))
    finally:
        with torch.no_grad():
            model.get_submodule(module).weight.mul_(-1)
    assert other.weights != result.weights
    assert len(list((cache_dir() / "top_images").glob("*.pt"))) == 2


def test_weights_hash_takes_batchnorm_counters():
    from explorer.explain.top_images import weights_hash
    from explorer.models import get_model

    model = get_model("resnet18_small")  # num_batches_tracked: 0-dim int64 buffers
    first = weights_hash(model)
    model.fc.bias.data += 1
    assert len(first) == 16 and weights_hash(model) != first
