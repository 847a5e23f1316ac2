"""The Qt-free feature-map pipeline: a run converges to the wish, stops when it moves on,
and describes the node it reached."""

from __future__ import annotations

import dataclasses

from explorer.activations.pipeline import Pipeline, Wish, superseded
from explorer.activations.samples import load_sample
from explorer.models import get_model


def _drain(generator):
    progress = []
    while True:
        try:
            progress.append(next(generator))
        except StopIteration as stop:
            return stop.value, progress


def _wish(**changes) -> Wish:
    wish = Wish(model_gen=1, model=get_model("lenet_small").eval(), model_name="lenet_small",
                image_gen=1, image=load_sample(), device="cpu", version=1)
    return dataclasses.replace(wish, **changes)


def test_a_run_reaches_the_target_and_describes_it():
    pipeline = Pipeline()
    wish = _wish(target="conv1")
    view, progress = _drain(pipeline.run(wish, lambda: wish))
    assert view.model_name == "lenet_small" and view.record.name == "conv1"
    assert view.channels.shape[0] == view.mosaic.channels and view.stats is not None
    assert view.facts.predictions is not None and len(view.facts.predictions.top) == 5
    assert progress[0] == (0, len(pipeline.stepper))
    assert pipeline.built_for(1) is pipeline.stepper and pipeline.built_for(2) is None


def test_a_run_stops_when_the_model_changes_and_not_for_a_target_further_on():
    pipeline = Pipeline()
    plan = _wish(target=9)
    latest = dataclasses.replace(plan, version=2, model_gen=2)
    view, _ = _drain(pipeline.run(plan, lambda: latest))
    assert view is None
    stepper = pipeline.stepper
    ahead = dataclasses.replace(plan, version=3, target=len(stepper) - 1)
    assert not superseded(plan, ahead, stepper)
    assert superseded(plan, dataclasses.replace(plan, version=3, image_gen=5), stepper)
    pipeline.drop()
    assert pipeline.stepper is None
