"""The time machine's replay core: an epoch's weights copied into one module give the same
maps, kernels and top-5 as that epoch built afresh; histograms over epochs keep every
weight; a snapshot of another model is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.activations.samples import FashionTestImages
from explorer.errors import UserError
from explorer.explain.replay import EpochReplay, dead_relu_series, histogram_heat, layer_names, layer_series
from explorer.loading import build_with_weights
from explorer.session import WeightsChoice
from explorer.train import RunHistory, TrainConfig, Trainer, load_fashion_mnist
from explorer.train.snapshots import SnapshotStore


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_fashion_root):
    folder = tmp_path_factory.mktemp("replay")
    torch.set_num_threads(1)
    config = TrainConfig(model="lenet_small", epochs=2, batch_size=32, lr=3e-3, optimizer="adam", device="cpu",
                         width_mult=0.5)
    trainer = Trainer(config, data=load_fashion_mnist(tiny_fashion_root, "cpu", val_fraction=0.0),
                      history=RunHistory(folder / "runs"), checkpoint_path=folder / "run.pt")
    for _ in trainer.run():
        pass
    return str(folder / "run.pt")


def test_a_replayed_epoch_equals_that_epoch_built_afresh(checkpoint, tiny_fashion_root):
    image = FashionTestImages(tiny_fashion_root).load(5)
    replay = EpochReplay(checkpoint)
    assert replay.epochs() == [0, 1, 2]
    frames = {e: replay.frame(e, image) for e in (2, 0, 1)}
    assert replay.preload() == 3
    again = replay.frame(2, image)  # from memory now
    assert np.array_equal(again.view.rgba, frames[2].view.rgba)
    fresh = build_with_weights("lenet_small", WeightsChoice("run", path=checkpoint, run_id="r", epoch=1))
    with torch.no_grad():
        expected = torch.softmax(fresh(replay._pipeline.stepper._input.cpu()), dim=1)[0]
    top = frames[1].predictions.top[0]
    assert top.index == int(expected.argmax()) and top.probability == pytest.approx(float(expected.max()), abs=1e-3)
    assert frames[0].predictions.note and not frames[1].predictions.note  # epoch 0 is untrained
    assert not np.array_equal(frames[0].kernels.rgba, frames[2].kernels.rgba)
    assert frames[0].view.record.name == replay.kernels_of.replace(".", "_")


def test_a_snapshot_of_another_shape_is_refused(checkpoint, tmp_path):
    replay = EpochReplay(checkpoint)
    store = SnapshotStore(tmp_path / "other.epochs")
    state = {k: torch.zeros(3) for k in replay.model.state_dict()}
    store.save_weights(4, state, "lenet_small")
    replay.store = store
    with pytest.raises(UserError, match="epoch 4 .* is \\(3,\\), the model's is"):
        replay.frame(4, None)


def test_histograms_over_epochs_keep_every_weight(checkpoint):
    summaries = SnapshotStore(checkpoint.replace(".pt", ".epochs")).summaries()
    layer = layer_names(summaries)[0]
    heat = histogram_heat(summaries, layer)
    weights = SnapshotStore(checkpoint.replace(".pt", ".epochs")).load_weights(2)[layer]
    assert heat.epochs == [1, 2] and heat.counts.shape == (2, 64)
    assert heat.counts.sum(axis=1) == pytest.approx([weights.numel()] * 2)
    assert heat.lo <= float(weights.min()) and heat.hi >= float(weights.max())
    epochs, grads = layer_series(summaries, layer, "grad_norm")
    assert epochs == [1, 2] and all(g > 0 for g in grads)
    for xs, ys in dead_relu_series(summaries).values():
        assert xs == [1, 2] and all(0 <= y <= 1 for y in ys)
