"""Lesson 3, global average pooling: the parameter counts against the registry's modules
counted here by name (GoogLeNet's aux heads by their paths), and the class maps against
the shipped nin_small run here."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch import nn

from explorer.activations.preprocess import preprocess
from explorer.activations.samples import load_sample
from explorer.graph.stored import named_graph
from explorer.lessons import global_pooling as lesson
from explorer.loading import load_model
from explorer.models import get_model


@pytest.fixture(scope="module")
def outcome():
    lesson.demonstrate.cache_clear()
    start = time.perf_counter()
    result = lesson.demonstrate()
    print(f"global-average-pooling demonstrate(): {time.perf_counter() - start:.3f} s")
    return result


def _counts(name: str) -> tuple[int, int]:
    """(parameters outside the aux heads, parameters of Linear layers outside them)."""
    with torch.device("meta"):
        model = get_model(name)
    total = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("aux"))
    fc = sum(p.numel() for path, m in model.named_modules() if isinstance(m, nn.Linear) and not path.startswith("aux")
             for p in m.parameters())
    return total, fc


def _figure(outcome, start: str):
    return next(f for f in outcome.figures if f.label.startswith(start))


def test_parameter_table_matches_the_registry(outcome):
    rows = {row[0]: row for row in outcome.tables[0].rows}
    titles = {"alexnet": "AlexNet", "vgg16": "VGG-16", "nin": "NiN", "googlenet": "GoogLeNet (Inception v1)"}
    counts = {name: _counts(name) for name in titles}
    for name, title in titles.items():
        total, fc = counts[name]
        assert rows[title][1:3] == (f"{total:,}", f"{fc:,}"), name
        assert rows[title][4] == f"{100 * fc / total:.1f}%"
    assert counts["alexnet"] == (62_378_344, 58_631_144)
    assert counts["vgg16"] == (138_357_544, 123_642_856)
    assert counts["nin"][1] == 0
    assert counts["googlenet"][0] == 6_998_552
    ratio = _figure(outcome, "AlexNet ÷ GoogLeNet")
    assert ratio.ours == round(counts["alexnet"][0] / counts["googlenet"][0], 2) and ratio.paper == 12
    assert _figure(outcome, "AlexNet parameters").ours == counts["alexnet"][0]


def test_class_maps_average_to_the_logits(outcome):
    loaded = load_model("nin_small")
    with torch.no_grad():
        logits = loaded.module(preprocess(load_sample().image, loaded.input_spec).tensor)[0]
    table = outcome.tables[1]
    assert len(table.rows) == 10
    for row, logit in zip(table.rows, logits.tolist(), strict=True):
        values = [float(v) for v in row[1].split()]
        assert len(values) == 4  # a 2x2 map
        assert float(row[3]) == pytest.approx(logit, abs=1e-4)
        assert sum(values) / 4 == pytest.approx(logit, abs=2e-3)  # printed to 3 decimals
    assert float(_figure(outcome, "nin_small: logits").ours) <= 1e-5


def test_flattened_head(outcome):
    rows = outcome.tables[2].rows
    assert rows[0][2] == f"{1024 * 1000 + 1000:,}"
    assert rows[1][2] == f"{1024 * 7 * 7 * 1000 + 1000:,}"


def test_page_parts_and_links(outcome):
    assert lesson.LESSON.claim and lesson.LESSON.sources and lesson.LESSON.look_at
    assert lesson.LESSON.kind == "live" and lesson.LESSON.number == 3
    assert outcome.figures and "not reproduced for GoogLeNet's '12×'" in outcome.verdict
    for link in lesson.LESSON.links:
        assert named_graph(link.model)[0].find_node(link.node) is not None, link
    json.dumps(outcome.to_dict())  # the CLI prints it as JSON
