"""The training engine: events, learning, pause/stop, faults, schedules, resume."""

from __future__ import annotations

import collections
import math

import pytest
import torch
from torch import nn

from explorer.errors import UserError
from explorer.train import (
    BatchMetrics,
    EpochMetrics,
    RunFinished,
    RunStarted,
    StateChanged,
    TrainConfig,
    Trainer,
    TrainingError,
    build_model,
    load_checkpoint,
    training_model_name,
)
from explorer.train.evaluation import overfitting_notice
from explorer.train.recipe import lr_at, split_outputs


def config(**changes) -> TrainConfig:
    base = dict(model="tiny", epochs=1, batch_size=64, lr=3e-3, optimizer="adam", device="cpu")
    base.update(changes)
    return TrainConfig(**base)


def test_events_arrive_in_order_with_consistent_counts(tiny_data, make_tiny, history, tmp_path):
    events = list(
        Trainer(
            config(epochs=2),
            data=tiny_data,
            model=make_tiny(),
            history=history,
            checkpoint_path=tmp_path / "c.pt",
            report_interval_s=0.0,
        ).run()
    )
    batches = [e for e in events if isinstance(e, BatchMetrics)]
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    started = events[0]
    assert isinstance(started, RunStarted) and started.checkpoint == str(tmp_path / "c.pt")
    assert started.run_id == events[-1].record.run_id and started.sizes == tiny_data.sizes
    n_train = len(tiny_data.train_labels)
    per_epoch = math.ceil(n_train / 64)
    assert len(batches) == 2 * per_epoch and [e.epoch for e in epochs] == [1, 2]
    assert batches[-1].images_seen == 2 * n_train
    # With report_interval_s=0 every batch is read back: one loss per batch, in order.
    assert [b.first_loss_index for b in batches] == list(range(2 * per_epoch))
    assert all(len(b.losses) == 1 for b in batches)
    last = epochs[-1]
    assert sum(map(sum, last.confusion)) == len(tiny_data.test_labels)
    assert 0.0 <= last.test_acc <= 1.0 and last.checkpoint == str(tmp_path / "c.pt")
    wrong = last.misclassified
    assert len(wrong.predicted) == len(wrong.true) == wrong.images.shape[0] <= 32
    assert all(p != t for p, t in zip(wrong.predicted, wrong.true))
    record = history.load(events[-1].record.run_id)
    assert record.status == "completed" and len(record.curves["test_acc"]) == 2
    assert record.final["test_acc"] == last.test_acc


def test_losses_are_read_back_only_at_report_points(tiny_data, make_tiny, history):
    # A long report interval: the device is read once per epoch (the last batch) only.
    events = list(
        Trainer(config(), data=tiny_data, model=make_tiny(), history=history, checkpoint_path=False,
                report_interval_s=1e9).run()
    )
    batches = [e for e in events if isinstance(e, BatchMetrics)]
    assert all(not b.losses for b in batches[:-1])
    assert len(batches[-1].losses) == len(batches) and batches[-1].train_acc is not None


def test_accuracy_improves_on_learnable_set(tiny_data, make_tiny, history):
    events = list(
        Trainer(config(epochs=4, batch_size=32), data=tiny_data, model=make_tiny(), history=history,
                checkpoint_path=False).run()
    )
    accs = [e.test_acc for e in events if isinstance(e, EpochMetrics)]
    # Chance is 0.1; the class bars of the tiny set are easy to learn.
    assert accs[-1] > 0.8 and accs[-1] > accs[0]


def test_registry_model_trains(tiny_data, history):
    cfg = config(model="lenet_small", width_mult=0.5, batch_norm=True, dropout=0.1, batch_size=128, epochs=2)
    trainer = Trainer(cfg, data=tiny_data, history=history, checkpoint_path=False, report_interval_s=0.0)
    run = trainer.run()
    assert isinstance(next(run), RunStarted)
    # The model the trainer built from the registry, before any step.
    model = trainer.model
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    events = list(run)
    assert events[-1].status == "completed"
    assert trainer.model is model

    # The builder options reached the model: half of LeNet's 6/16 channels and 120/84
    # units, a BatchNorm after each conv and hidden linear layer, dropout 0.1 after each
    # hidden linear layer.
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [3, 8]
    assert [(m.in_features, m.out_features) for m in linears] == [(8 * 25, 60), (60, 42), (42, 10)]
    assert [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)] == [3, 8]
    assert [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm1d)] == [60, 42]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.1, 0.1]

    # And it learnt: every weight moved, the BatchNorm running statistics were updated,
    # and the loss fell from near chance (ln 10).
    after = model.state_dict()
    weights = [k for k in before if k.endswith("weight")]
    assert weights and all(not torch.equal(before[k], after[k]) for k in weights)
    assert all(not torch.equal(before[k], after[k]) for k in before if k.endswith("running_mean"))
    losses = [loss for b in events if isinstance(b, BatchMetrics) for loss in b.losses]
    assert len(losses) >= 4
    assert losses[0] == pytest.approx(math.log(10), rel=0.3)
    assert sum(losses[-2:]) / 2 < losses[0] - 0.3


def test_pause_resume_and_stop_take_effect_between_batches(tiny_data, make_tiny, history):
    trainer = Trainer(config(batch_size=32), data=tiny_data, model=make_tiny(), history=history,
                      checkpoint_path=False)
    run = trainer.run()
    assert isinstance(next(run), RunStarted)
    first = next(run)
    assert isinstance(first, BatchMetrics) and first.batch == 1
    trainer.control.pause()
    assert next(run) == StateChanged("paused")
    # Resume before asking for more: the wait returns at once and no batch was skipped.
    trainer.control.resume()
    assert next(run) == StateChanged("running")
    second = next(run)
    assert isinstance(second, BatchMetrics) and second.batch == 2
    trainer.control.stop()
    finished = next(run)
    assert isinstance(finished, RunFinished) and finished.status == "stopped"
    assert history.load(finished.record.run_id).status == "stopped"
    with pytest.raises(StopIteration):
        next(run)


def test_stop_while_paused_ends_the_run(tiny_data, make_tiny, history):
    trainer = Trainer(config(batch_size=32), data=tiny_data, model=make_tiny(), history=history,
                      checkpoint_path=False)
    run = trainer.run()
    next(run), next(run)  # started, first batch
    trainer.control.pause()
    assert next(run) == StateChanged("paused")
    trainer.control.stop()
    assert next(run).status == "stopped"


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "run.pt"
    model = make_tiny()
    trainer = Trainer(config(epochs=2), data=tiny_data, model=model, history=history, checkpoint_path=ckpt,
                      report_interval_s=0.0)
    run = trainer.run()
    for event in run:
        if isinstance(event, EpochMetrics):
            break
    saved = load_checkpoint(ckpt)["model_state"]
    with torch.no_grad():
        model[-1].weight.fill_(float("nan"))
    with pytest.raises(TrainingError, match="training diverged: the loss became nan .*lower the learning rate.*epoch 2"):
        list(run)
    assert history.load(trainer.record.run_id).status == "failed"
    after = load_checkpoint(ckpt)
    assert after["epoch"] == 1
    assert all(torch.equal(after["model_state"][k], v) for k, v in saved.items())


def test_out_of_memory_is_reported_and_a_new_run_works(tiny_data, make_tiny, history, monkeypatch):
    calls = collections.Counter()
    real_step = Trainer._step

    def step(self, x, y):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(self, x, y)

    monkeypatch.setattr(Trainer, "_step", step)
    trainer = Trainer(config(), data=tiny_data, model=make_tiny(), history=history, checkpoint_path=False)
    with pytest.raises(TrainingError, match=r"out of memory on cpu at batch size 64; halve the batch size \(try 32\)"):
        list(trainer.run())
    assert history.load(trainer.record.run_id).status == "failed"
    events = list(Trainer(config(), data=tiny_data, model=make_tiny(), history=history, checkpoint_path=False).run())
    assert events[-1].status == "completed"


class TwoHeads(nn.Module):
    """Returns (logits, aux) in training mode like GoogLeNet, logits alone in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU())
        self.main = nn.Linear(16, 10)
        self.aux = nn.Linear(16, 10)

    def forward(self, x):
        h = self.body(x)
        return (self.main(h), self.aux(h)) if self.training else self.main(h)


def test_auxiliary_loss_is_added_with_its_weight(tiny_data, history):
    def first_loss(weight):
        torch.manual_seed(0)
        model = TwoHeads()
        cfg = config(aux_weight=weight, optimizer="sgd", lr=1e-9)
        trainer = Trainer(cfg, data=tiny_data, model=model, history=history, checkpoint_path=False,
                          report_interval_s=0.0)
        run = trainer.run()
        next(run)  # RunStarted
        return next(run).losses[0]

    no_aux, with_aux = first_loss(0.0), first_loss(0.3)
    # Two 10-way heads near chance: each cross-entropy is about ln 10.
    assert with_aux - no_aux == pytest.approx(0.3 * math.log(10), rel=0.15)


def test_split_outputs_handles_namedtuples_and_missing_heads():
    Out = collections.namedtuple("Out", "logits aux2 aux1")
    a, b = torch.zeros(2, 10), torch.ones(2, 10)
    logits, aux = split_outputs(Out(a, b, None))
    assert logits is a and len(aux) == 1 and aux[0] is b
    assert split_outputs(a) == (a, [])


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_schedules_shape(schedule):
    cfg = TrainConfig(lr=0.1, schedule=schedule)
    lrs = [lr_at(cfg, s, 100) for s in range(101)]
    assert max(lrs) == pytest.approx(0.1, rel=1e-3)
    if schedule == "constant":
        assert set(lrs) == {0.1}
    elif schedule == "step":
        assert lrs[49] == 0.1 and lrs[50] == pytest.approx(0.01) and lrs[75] == pytest.approx(0.001)
    elif schedule == "cosine":
        assert lrs[0] == 0.1 and lrs[100] == pytest.approx(0.0) and lrs[50] == pytest.approx(0.05)
    else:
        assert lrs[0] == pytest.approx(0.004) and lrs.index(max(lrs)) == 30 and lrs[100] < 1e-6


def test_resume_continues_from_checkpoint(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "run.pt"
    first = list(Trainer(config(epochs=1), data=tiny_data, model=make_tiny(), history=history,
                         checkpoint_path=ckpt).run())
    run_id = first[-1].record.run_id
    resumed = Trainer(config(epochs=2), data=tiny_data, model=make_tiny(), history=history,
                      checkpoint_path=ckpt, resume=ckpt)
    events = list(resumed.run())
    assert [e.epoch for e in events if isinstance(e, EpochMetrics)] == [2]
    assert events[-1].record.run_id == run_id
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 2 and len(state["curves"]["test_acc"]) == 2
    assert len(history.list_runs()) == 1


def test_resume_of_finished_run_asks_for_more_epochs(tiny_data, make_tiny, history, tmp_path):
    ckpt = tmp_path / "run.pt"
    list(Trainer(config(), data=tiny_data, model=make_tiny(), history=history, checkpoint_path=ckpt).run())
    with pytest.raises(UserError, match="already finished 1 epochs"):
        next(Trainer(config(), data=tiny_data, model=make_tiny(), history=history, resume=ckpt).run())


def test_overfitting_notice():
    assert overfitting_notice(0.90, 0.88) is None
    notice = overfitting_notice(0.99, 0.80)
    assert "overfitting" in notice and "0.190" in notice


def test_model_names_resolve_to_trainable_forms():
    assert training_model_name("lenet") == "lenet"  # the textbook LeNet takes 28x28 already
    assert training_model_name("lenet_small") == "lenet_small"
    assert training_model_name("resnet18") == "resnet18_small"
    with pytest.raises(UserError, match="unknown model"):
        training_model_name("no_such_net")


def test_unsupported_builder_option_is_a_user_error():
    with pytest.raises(UserError, match="lenet has no width mult option"):
        build_model(TrainConfig(model="lenet", width_mult=0.5))


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(epochs=0), "epochs must be at least 1"),
        (dict(lr=-1.0), "learning rate must be above 0"),
        (dict(optimizer="lbfgs"), "unknown optimizer"),
        (dict(dropout=1.5), "dropout must be in"),
    ],
)
def test_bad_options_are_user_errors(changes, message):
    with pytest.raises(UserError, match=message):
        TrainConfig(**changes).validate()


def test_format_duration():
    from explorer.train import format_duration

    assert format_duration(3723) == "1:02:03"
    assert format_duration(65.4) == "1:05"
    assert format_duration(None) == format_duration(float("inf")) == "--:--"
