"""The Qt-free feature-map pipeline: a run converges to the wish, stops when it moves on,
and describes the node it reached."""

from __future__ import annotations

import dataclasses

from explorer.activations.pipeline import Pipeline, Wish, superseded
from explorer.activations.samples import load_sample
from explorer.loading import LoadedModel
from explorer.models import get_model
from explorer.session import WeightsChoice

LENET = LoadedModel.of("lenet_small", WeightsChoice("random", seed=1), get_model("lenet_small"))
IMAGE = load_sample()


def _drain(generator):
    progress = []
    while True:
        try:
            progress.append(next(generator))
        except StopIteration as stop:
            return stop.value, progress


def _wish(**changes) -> Wish:
    wish = Wish(loaded=LENET, image=IMAGE, device="cpu", version=1)
    return dataclasses.replace(wish, **changes)


def test_a_run_reaches_the_target_and_describes_it():
    pipeline = Pipeline()
    wish = _wish(target="conv1")
    view, progress = _drain(pipeline.run(wish, lambda: wish))
    assert view.model_name == "lenet_small" and view.record.name == "conv1"
    assert view.channels.shape[0] == view.mosaic.channels and view.stats is not None
    assert view.facts.predictions is not None and len(view.facts.predictions.top) == 5
    assert progress[0] == (0, len(pipeline.stepper))
    other = LoadedModel.of("lenet_small", WeightsChoice("random", seed=2), get_model("lenet_small"))
    assert pipeline.built_for(LENET) is pipeline.stepper and pipeline.built_for(other) is None


def test_a_run_stops_when_the_model_changes_and_not_for_a_target_further_on():
    pipeline = Pipeline()
    plan = _wish(target=9)
    other = LoadedModel.of("lenet_small", WeightsChoice("random", seed=2), get_model("lenet_small"))
    latest = dataclasses.replace(plan, version=2, loaded=other)
    view, _ = _drain(pipeline.run(plan, lambda: latest))
    assert view is None
    stepper = pipeline.stepper
    ahead = dataclasses.replace(plan, version=3, target=len(stepper) - 1)
    assert not superseded(plan, ahead, stepper)
    assert superseded(plan, dataclasses.replace(plan, version=3, image=load_sample()), stepper)
    assert superseded(plan, dataclasses.replace(plan, version=3, knockouts=("conv1:0",)), stepper)
    pipeline.drop()
    assert pipeline.stepper is None


def _resolve(loaded, specs):
    """What the window hands the pipeline: the explain layer's parser on the model's graph."""
    from explorer.explain.knockout import parse_knockout
    from explorer.graph.stored import named_graph

    graph, _ = named_graph(loaded.source, loaded.builder_kwargs)
    return tuple(parse_knockout(spec, graph, loaded.module) for spec in specs)


def test_knockouts_reach_the_maps_and_the_top5_and_restoring_gives_the_intact_values_back():
    import numpy as np

    from explorer.loading import load_model

    resnet = load_model("resnet18_small")
    pipeline = Pipeline(_resolve)
    intact = Wish(loaded=resnet, image=IMAGE, device="cpu", version=1, target="layer3.0.conv1")
    knocked = dataclasses.replace(intact, version=2, knockouts=("layer2.0:shortcut",))
    before, _ = _drain(pipeline.run(intact, lambda: intact))
    after, _ = _drain(pipeline.run(knocked, lambda: knocked))
    assert after.facts.knockouts == ("layer2.0:shortcut",)
    assert after.facts.predictions.top != before.facts.predictions.top
    assert not np.allclose(after.channels, before.channels)  # downstream of the shortcut
    early = dataclasses.replace(knocked, version=3, target="layer1.0.conv1")
    upstream, _ = _drain(pipeline.run(early, lambda: early))
    back = dataclasses.replace(intact, version=4)
    restored, _ = _drain(pipeline.run(back, lambda: back))
    assert np.array_equal(restored.channels, before.channels)
    assert restored.facts.predictions.top == before.facts.predictions.top
    intact_early = dataclasses.replace(intact, version=5, target="layer1.0.conv1")
    assert np.array_equal(_drain(pipeline.run(intact_early, lambda: intact_early))[0].channels, upstream.channels)
