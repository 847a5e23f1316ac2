"""Per-epoch snapshots and per-layer summaries recorded by the engine (the time machine)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer.errors import UserError
from explorer.train import EpochMetrics, TrainConfig, Trainer
from explorer.train.snapshots import SnapshotStore, half_state, snapshot_folder
from explorer.train.summaries import dead_relu_fraction


def config(**changes) -> TrainConfig:
    base = dict(model="tiny", epochs=3, batch_size=64, lr=3e-3, optimizer="adam", device="cpu")
    base.update(changes)
    return TrainConfig(**base)


def run(cfg, tiny_data, model, history, ckpt, **kwargs):
    return list(Trainer(cfg, data=tiny_data, model=model, history=history, checkpoint_path=ckpt,
                        report_interval_s=0.0, **kwargs).run())


def test_each_epoch_is_kept_in_fp16_with_summaries(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "c.pt"
    events = run(config(), tiny_data, make_tiny(), history, ckpt)
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    store = SnapshotStore(snapshot_folder(ckpt))
    assert store.weight_epochs() == [0, 1, 2, 3] and store.record_epochs() == [1, 2, 3]
    raw = torch.load(store.weights_path(3), weights_only=True)["model_state"]
    assert all(v.dtype == torch.float16 for v in raw.values())
    # The last snapshot is the trained model (within fp16 rounding); the first is not.
    model = make_tiny()
    store.load_weights(3, model)
    live = epochs[-1].model.state_dict()
    for name, value in model.state_dict().items():
        assert torch.allclose(value, live[name].float(), atol=1e-2, rtol=1e-3)
    start = store.load_weights(0)
    assert not torch.allclose(start["0.weight"], live["0.weight"], atol=1e-3)
    # Confusion matrix and the test images in its cells agree with the epoch's event.
    assert store.confusion(3) == epochs[-1].confusion
    cells = [len(store.cell_indices(3, t, p)) for t in range(10) for p in range(10)]
    assert cells == [n for row in epochs[-1].confusion for n in row]
    index = store.cell_indices(3, 2, 2)
    assert all(int(tiny_data.test_labels[i]) == 2 for i in index)


def test_summaries_are_per_layer_and_change_over_epochs(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "c.pt"
    events = run(config(), tiny_data, make_tiny(), history, ckpt)
    summaries = [e.summaries for e in events if isinstance(e, EpochMetrics)]
    layers = summaries[0].layers
    assert set(layers) == {"0.weight", "0.bias", "4.weight", "4.bias"}
    first, last = summaries[0].layers["4.weight"], summaries[-1].layers["4.weight"]
    assert first.grad_norm > 0 and 0 < first.weight_change < last.weight_change
    assert sum(last.histogram.counts) == make_tiny().get_parameter("4.weight").numel()
    assert set(summaries[0].dead_relu) == {"1"} and 0 <= summaries[0].dead_relu["1"] <= 1
    assert SnapshotStore(snapshot_folder(ckpt)).summaries()[3] == summaries[-1]  # typed, and the same after JSON


def test_dead_relu_fraction_counts_units_that_never_fire():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]]))
        model[0].bias.copy_(torch.tensor([0.0, 0, -10, -10]))
    probe = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert dead_relu_fraction(model, probe) == {"1": pytest.approx(0.5)}


def test_keep_epochs_and_size_cap_drop_the_oldest(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "a.pt"
    run(config(epochs=4, keep_epochs=2), tiny_data, make_tiny(), history, ckpt)
    store = SnapshotStore(snapshot_folder(ckpt))
    assert store.weight_epochs() == [0, 3, 4] and store.record_epochs() == [1, 2, 3, 4]
    with pytest.raises(UserError, match="epoch 1"):
        store.load_weights(1)
    one = store.weights_path(4).stat().st_size
    ckpt = tmp_path / "b.pt"
    cap_mb = 2.5 * one / 2**20
    run(config(epochs=4, snapshot_cap_mb=cap_mb), tiny_data, make_tiny(), history, ckpt)
    assert SnapshotStore(snapshot_folder(ckpt)).weight_epochs() == [0, 4]


def test_no_summaries_when_switched_off(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "c.pt"
    events = run(config(epochs=1), tiny_data, make_tiny(), history, ckpt, record_summaries=False)
    assert [e.summaries for e in events if isinstance(e, EpochMetrics)] == [None]
    assert not snapshot_folder(ckpt).exists()


def test_resumed_run_measures_change_from_the_first_start(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "c.pt"
    run(config(epochs=1), tiny_data, make_tiny(), history, ckpt)
    events = run(config(epochs=2), tiny_data, make_tiny(), history, ckpt, resume=ckpt)
    store = SnapshotStore(snapshot_folder(ckpt))
    assert store.weight_epochs() == [0, 1, 2]
    start = store.load_weights(0)
    live = [e for e in events if isinstance(e, EpochMetrics)][-1].model.state_dict()
    w, w0 = live["4.weight"].float(), start["4.weight"]
    expected = float((w - w0).norm() / w0.norm())
    got = store.summaries()[2].layers["4.weight"].weight_change
    assert got == pytest.approx(expected, rel=1e-2)


def test_config_refuses_bad_caps():
    with pytest.raises(UserError, match="keep epochs"):
        TrainConfig(keep_epochs=-1).validate()
    with pytest.raises(UserError, match="snapshot cap"):
        TrainConfig(snapshot_cap_mb=-1.0).validate()


def test_half_state_keeps_integer_buffers_and_values_fp16_cannot_hold():
    state = half_state({"w": torch.ones(2), "n": torch.tensor(3), "big": torch.tensor([1e6])})
    assert state["w"].dtype == torch.float16 and state["n"].dtype == torch.int64
    assert state["big"].dtype == torch.float32 and float(state["big"]) == 1e6
