"""Lesson 9, growth rate and transitions: the ledger (read from the graph) against the real
torchvision DenseNet-121 module's own layers, and a forward pass's channel counts."""

from __future__ import annotations

import json
import time

import pytest
import torch

from explorer.graph.stored import named_graph
from explorer.lessons import dense_growth as lesson
from explorer.models import get_model


@pytest.fixture(scope="module")
def outcome():
    lesson.demonstrate.cache_clear()
    start = time.perf_counter()
    result = lesson.demonstrate()
    print(f"growth-rate demonstrate(): {time.perf_counter() - start:.3f} s")
    return result


@pytest.fixture(scope="module")
def features():
    with torch.device("meta"):
        return get_model("densenet121").features.eval()


def _blocks(features):
    return [(name, m) for name, m in features.named_children() if name.startswith("denseblock")]


def _figure(outcome, start: str):
    return next(f for f in outcome.figures if f.label.startswith(start))


def test_first_block_ledger_matches_the_module(outcome, features):
    layers = list(features.denseblock1.children())
    rows = outcome.tables[0].rows
    assert len(rows) == len(layers) == 6
    for i, (row, layer) in enumerate(zip(rows, layers, strict=True)):
        assert row[2] == layer.norm1.num_features == layer.conv1.in_channels == 64 + i * 32
        assert row[4] == layer.conv1.out_channels == 128
        assert row[5] == layer.conv2.out_channels == 32
    assert _figure(outcome, "first block's channels").ours == "64 → 256"
    assert _figure(outcome, "growth rate").ours == "32"


def test_blocks_and_transitions_match_a_forward_pass(outcome, features):
    outputs = {}
    handles = [m.register_forward_hook(lambda _m, _a, out, name=name: outputs.__setitem__(name, tuple(out.shape)))
               for name, m in features.named_children()]
    try:
        with torch.no_grad():
            features(torch.zeros(1, 3, 224, 224, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    rows = outcome.tables[1].rows
    blocks = _blocks(features)
    assert [r[1] for r in rows] == [len(list(b.children())) for _, b in blocks] == [6, 12, 24, 16]
    for row, (name, _) in zip(rows, blocks, strict=True):
        assert row[4] == outputs[name][1]
        index = name.removeprefix("denseblock")
        transition = f"transition{index}"
        if transition in outputs:
            conv = features.get_submodule(f"{transition}.conv")
            assert row[6] == f"{conv.in_channels} → {conv.out_channels}"
            assert conv.out_channels == outputs[transition][1] == outputs[name][1] // 2
            assert row[8] == f"{outputs[transition][2]}×{outputs[transition][3]}"
    assert _figure(outcome, "compression").ours == "0.5"
    assert _figure(outcome, "layers per dense block").ours == "6, 12, 24, 16"
    assert _figure(outcome, "channels into the classifier").ours == outputs["denseblock4"][1] == 1024


def test_page_parts_and_links(outcome):
    assert lesson.LESSON.claim and lesson.LESSON.sources and lesson.LESSON.look_at
    assert lesson.LESSON.kind == "live" and lesson.LESSON.number == 9
    assert outcome.figures and outcome.verdict.startswith("Reproduced")
    for link in lesson.LESSON.links:
        assert named_graph(link.model)[0].find_node(link.node) is not None, link
    json.dumps(outcome.to_dict())  # the CLI prints it as JSON
