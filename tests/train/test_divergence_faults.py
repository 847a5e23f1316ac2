"""Fault tests for divergence: runs that blow up stop with "training diverged" and save
nothing from the bad epoch; healthy runs (small data, a slow sigmoid start) are left alone."""

from __future__ import annotations

import math

import pytest

from explorer.cli import main
from explorer.errors import UserError
from explorer.train import EpochMetrics, RunFinished, TrainConfig, Trainer, TrainingError, load_checkpoint, make_config
from explorer.train.loss import CHANCE_STEPS, DIVERGE_FACTOR, DIVERGE_PATIENCE, DivergenceWatch, SmoothedLoss


@pytest.mark.parametrize(
    "optimizer, lr",
    [("sgd", 1000.0), ("adam", 1e4), ("rmsprop", 1000.0)],
)
def test_a_diverging_run_stops_and_saves_nothing_from_it(optimizer, lr, tiny_data, history, tmp_path):
    ckpt = tmp_path / "run.pt"
    config = make_config(model="lenet_small", optimizer=optimizer, lr=lr, epochs=5, batch_size=64, device="cpu")
    trainer = Trainer(config, data=tiny_data, history=history, checkpoint_path=ckpt)
    seen = []
    with pytest.raises(TrainingError, match="training diverged") as excinfo:
        for event in trainer.run():
            if isinstance(event, EpochMetrics):
                seen.append(event)
    assert "\n" not in str(excinfo.value) and "learning rate" in str(excinfo.value)
    assert all(math.isfinite(e.train_loss) and math.isfinite(e.test_loss) for e in seen)
    if ckpt.exists():  # only epochs before the diverged one were saved
        assert load_checkpoint(ckpt)["epoch"] == len(seen)
    assert history.load(trainer.record.run_id).status == "failed"


@pytest.mark.parametrize(
    "preset, model, epochs",
    [("quick", "lenet_small", 3), ("textbook-lenet", "lenet", 4), ("strong", "lenet_small", 2)],
)
def test_healthy_runs_on_small_data_are_not_stopped(preset, model, epochs, tiny_data, history):
    config = make_config(preset, model=model, epochs=epochs, device="cpu")
    events = list(Trainer(config, data=tiny_data, history=history, checkpoint_path=False).run())
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"


def test_non_finite_test_loss_saves_no_checkpoint(tiny_data, make_tiny, history, tmp_path, monkeypatch):
    """resnet18_small at lr 1000 saved an epoch whose test loss was NaN."""
    ckpt = tmp_path / "run.pt"
    trainer = Trainer(TrainConfig(model="tiny", epochs=3, batch_size=64, lr=3e-3, optimizer="adam", device="cpu"),
                      data=tiny_data, model=make_tiny(), history=history, checkpoint_path=ckpt)
    real = Trainer._evaluate
    calls = []

    def evaluate(self, images, labels):
        loss, confusion, preds = real(self, images, labels)
        calls.append(1)
        return (math.nan if len(calls) > 2 else loss), confusion, preds  # 2 passes per epoch

    monkeypatch.setattr(Trainer, "_evaluate", evaluate)
    with pytest.raises(TrainingError, match="training diverged: the test loss is nan"):
        list(trainer.run())
    assert load_checkpoint(ckpt)["epoch"] == 1


# ---- the watch itself ----------------------------------------------------------------


def test_one_spike_is_tolerated_a_sustained_rise_is_not():
    watch = DivergenceWatch()
    assert watch.check_losses([2.3] * 50) is None
    assert watch.check_losses([2.3 * DIVERGE_FACTOR * 30] + [2.0] * 100) is None  # one bad batch
    # The smoothed loss needs a few batches to cross the bar, then must stay over it.
    verdict = watch.check_losses([2.3 * DIVERGE_FACTOR * 2] * (DIVERGE_PATIENCE * 3))
    assert verdict is not None and verdict.startswith("training diverged: the smoothed loss rose to")


def test_measured_slow_start_of_the_textbook_lenet_passes():
    """Per-10-batch mean losses of the textbook LeNet on the 8,226 images (10 epochs, lr 0.9):
    at chance for about 230 steps, then learning."""
    means = [2.491, 2.341, 2.333, 2.32, 2.323, 2.312, 2.31, 2.31, 2.308, 2.315, 2.31, 2.307, 2.306, 2.304,
             2.301, 2.308, 2.302, 2.299, 2.296, 2.294, 2.278, 2.246, 2.181, 2.1, 1.781, 1.579, 1.568, 1.354, 1.304]
    watch = DivergenceWatch(lr=0.9)
    for i, mean in enumerate(means):
        assert watch.check_losses([mean] * 10) is None
        if (i + 1) % 3 == 0:  # about an epoch
            assert watch.check_epoch(mean, 0.1 if i < 22 else 0.3, mean) is None


def test_stuck_at_chance_stops_with_a_hint():
    watch = DivergenceWatch(lr=5.0)
    watch.check_losses([2.3, 60.0, 40.0] + [2.3026] * (CHANCE_STEPS - 3))
    verdict = watch.check_epoch(2.3026, 0.1, 2.3026)
    assert verdict is not None and "still at chance (0.100)" in verdict and "too high" in verdict
    calm = DivergenceWatch(lr=1e-6)
    calm.check_losses([2.3026] * CHANCE_STEPS)
    assert "too high or too low" in calm.check_epoch(2.3026, 0.1, 2.3026)


def test_non_finite_batch_loss_is_caught_at_once():
    assert DivergenceWatch().check_losses([2.3, math.inf]).startswith("training diverged: the loss became inf")


def test_smoothed_loss_is_bias_corrected():
    smooth = SmoothedLoss()
    assert smooth.add(2.0) == pytest.approx(2.0)
    values = smooth.extend([2.0] * 10)
    assert values[-1] == pytest.approx(2.0)


# ---- options checked at the start ------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(lr=math.inf), "lr must be a finite number"),
        (dict(lr=math.nan), "lr must be a finite number"),
        (dict(lr=1e300), "learning rate must be above 0 and at most"),
        (dict(lr=0.0), "learning rate must be above 0"),
        (dict(momentum=1.0), "momentum must be in \\[0, 1\\)"),
        (dict(momentum=math.nan), "momentum must be a finite number"),
        (dict(weight_decay=-0.1), "weight decay must be in"),
        (dict(weight_decay=math.inf), "weight_decay must be a finite number"),
        (dict(lr="0.1"), "lr must be float or int"),
        (dict(epochs=2.0), "epochs must be int"),
    ],
)
def test_bad_rates_are_refused_before_anything_runs(changes, message):
    with pytest.raises(UserError, match=message):
        TrainConfig(**changes).validate()


@pytest.mark.parametrize("lr", ["inf", "nan", "1e300", "-1"])
def test_cli_refuses_absurd_learning_rates(lr, tiny_fashion_root, capsys):
    # A usage error since every numeric option is bounded (issue 17): exit 2, one line
    # naming the range, before any data is read.
    with pytest.raises(SystemExit) as exited:
        main(["train", "lenet_small", "--lr", lr, "--data-dir", str(tiny_fashion_root), "--device", "cpu"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "--lr: must be a number above 0 and at most 10000" in err and "unexpected" not in err


def test_cli_diverging_run_exits_1(tiny_fashion_root, tmp_path, capsys):
    out = tmp_path / "d.pt"
    code = main(["train", "lenet_small", "--optimizer", "sgd", "--lr", "1000", "--epochs", "5", "--subset", "400",
                 "--data-dir", str(tiny_fashion_root), "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "error: training diverged" in err
    assert not out.exists() or load_checkpoint(out)["epoch"] < 5
