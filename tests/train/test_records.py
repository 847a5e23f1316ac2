"""Typed run records (explorer/train/records.py): the curves, final figures, epoch summaries
and run record are frozen values checked on read; the files earlier versions wrote still
load with the same keys; and each metric's name is spelled in that one module."""

from __future__ import annotations

import ast
import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from explorer.train import records
from explorer.train.history import RunHistory
from explorer.train.records import (
    BEST_TEST_ACC,
    CURVE_KEYS,
    EPOCH_SERIES,
    FINAL_METRICS,
    LAYER_METRICS,
    TEST_ACC,
    Curves,
    EpochSummary,
    FinalFigures,
    Histogram,
    LayerSummary,
    RecordError,
    RunRecord,
)

# A record as the version before typed records wrote it (dataclasses.asdict of its
# RunRecord after two epochs): every reader must still take it, key for key.
OLD_RECORD = {
    "run_id": "20260101-100000-lenet_small-ab12", "model": "lenet_small",
    "config": {"model": "lenet_small", "epochs": 3, "optimizer": "adam", "lr": 0.003, "batch_size": 128},
    "status": "stopped", "started": "2026-01-01T10:00:00", "finished": "2026-01-01T10:03:00",
    "curves": {
        "epoch": [1, 2], "train_loss": [0.9, 0.5], "train_acc": [0.7, 0.82], "val_loss": [None, None],
        "val_acc": [None, None], "test_loss": [0.6, 0.45], "test_acc": [0.78, 0.84], "lr": [0.003, 0.003],
        "images_per_s": [9000.0, 9100.5], "batch_loss": [1.2, 0.8, 0.6, 0.5, 0.45],
    },
    "final": {
        "epochs": 2, "train_acc": 0.82, "val_acc": None, "test_acc": 0.84, "best_test_acc": 0.84,
        "train_loss": 0.5, "test_loss": 0.45, "images_per_s": 9100.5, "train_time_s": 12.5,
        "train_images": 60000, "test_images": 10000, "device": "cpu",
    },
    "message": "stopped by the user", "checkpoint": "/data/checkpoints/20260101-100000-lenet_small-ab12.pt",
    "name": "first try",
}

SUMMARY = {
    "layers": {
        "0.weight": {"grad_norm": 0.1, "weight_change": 0.2, "weight_norm": 1.0,
                     "histogram": {"min": -1.0, "max": 1.0, "counts": [1, 2, 3]}},
        "0.bias": {"grad_norm": 0.01, "weight_change": 0.5},  # no norm, no histogram: optional
    },
    "dead_relu": {"1": 0.25},
}


# ----- round trips ---------------------------------------------------------------------------


def test_an_old_record_loads_with_its_values_and_writes_back_the_same_keys():
    record = RunRecord.from_dict(OLD_RECORD)
    assert record.curves.epoch == (1, 2) and record.curves.test_acc == (0.78, 0.84)
    assert record.curves.val_acc == (None, None) and record.curves.epochs == 2
    assert record.final.test_acc == 0.84 and record.final.epochs == 2 and record.final.device == "cpu"
    assert record.final.val_acc is None and record.final.train_images == 60000
    again = record.to_dict()
    assert again.keys() == OLD_RECORD.keys()
    assert again["curves"] == OLD_RECORD["curves"]  # same keys, same order, same lists
    assert list(again["curves"]) == list(OLD_RECORD["curves"])
    assert again["final"] == {k: v for k, v in OLD_RECORD["final"].items() if v is not None}
    assert RunRecord.from_dict(json.loads(json.dumps(again))) == record


def test_a_record_round_trips_through_the_history_folder(tmp_path):
    history = RunHistory(tmp_path / "runs")
    record = RunRecord.from_dict(OLD_RECORD)
    history.save(record)
    on_disk = json.loads(history.path_of(record.run_id).read_text(encoding="utf-8"))
    assert on_disk["curves"] == OLD_RECORD["curves"]
    assert history.load(record.run_id) == record
    renamed = history.rename(record.run_id, "second name")
    assert renamed == dataclasses.replace(record, name="second name") and record.name == "first try"


def test_a_partial_record_reads_missing_series_as_none():
    """A record or checkpoint that lacks a per-epoch series (an old or hand-made one) has
    None there for every epoch, not a shorter series."""
    curves = Curves.from_dict({"epoch": [1, 2], "test_acc": [0.5, 0.6]})
    assert curves.train_acc == (None, None) and curves.batch_loss == ()
    assert Curves.from_dict({}) == Curves() and Curves().epochs == 0
    assert FinalFigures.from_dict({}) == FinalFigures()


def test_curves_grow_by_whole_epochs():
    curves = Curves().with_epoch([1.0, 0.8], epoch=1, train_loss=0.9, train_acc=0.6, val_loss=None, val_acc=None,
                                 test_loss=0.7, test_acc=0.65, lr=0.1, images_per_s=1000.0)
    curves = curves.with_epoch([0.6], epoch=2, train_loss=0.5, train_acc=0.8, val_loss=None, val_acc=None,
                               test_loss=0.6, test_acc=0.7, lr=0.05, images_per_s=1100.0)
    assert curves.epochs == 2 and curves.test_acc == (0.65, 0.7) and curves.batch_loss == (1.0, 0.8, 0.6)
    assert curves.last(TEST_ACC) == 0.7 and curves[TEST_ACC] is curves.test_acc
    assert curves.with_batch_losses([0.55]).batch_loss == (1.0, 0.8, 0.6, 0.55)
    with pytest.raises(TypeError, match="lr"):
        curves.with_epoch(epoch=3, train_loss=0.5, train_acc=0.8, val_loss=None, val_acc=None, test_loss=0.6,
                          test_acc=0.7, images_per_s=1.0)  # no lr
    final = FinalFigures.after(curves, train_time_s=3.0, train_images=100, test_images=50, device="cpu")
    assert final == FinalFigures(epochs=2, train_acc=0.8, test_acc=0.7, best_test_acc=0.7, train_loss=0.5,
                                 test_loss=0.6, images_per_s=1100.0, train_time_s=3.0, train_images=100,
                                 test_images=50, device="cpu")
    assert final[BEST_TEST_ACC] == 0.7 and final.val_acc is None


def test_an_epoch_summary_round_trips_and_pickles():
    summary = EpochSummary.from_dict(SUMMARY)
    assert summary.layers["0.weight"] == LayerSummary(0.1, 0.2, 1.0, Histogram(-1.0, 1.0, (1, 2, 3)))
    assert summary.layers["0.bias"].weight_norm is None and summary.dead_relu == {"1": 0.25}
    assert summary.to_dict() == SUMMARY
    assert pickle.loads(pickle.dumps(summary)) == summary  # events cross to the window by pickle
    record = RunRecord.from_dict(OLD_RECORD)
    assert pickle.loads(pickle.dumps(record)) == record


def test_records_are_frozen():
    record = RunRecord.from_dict(OLD_RECORD)
    for target, field in ((record, "status"), (record.curves, "test_acc"), (record.final, "test_acc"),
                          (EpochSummary.from_dict(SUMMARY), "layers")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(target, field, None)


# ----- validation ----------------------------------------------------------------------------


BAD_CURVES = {
    "ragged": ({"epoch": [1, 2], "test_acc": [0.5]}, "'test_acc' has 1 values for 2 epochs"),
    "ragged without epochs": ({"train_loss": [0.5]}, "'train_loss' has 1 values for 0 epochs"),
    "unknown metric": ({"epoch": [1], "top5_acc": [0.9]}, "unknown metric 'top5_acc'"),
    "not a table": ([1, 2], "not a table"),
    "series is text": ({"epoch": "12"}, "'epoch' is not a list of numbers"),
    "value is text": ({"epoch": [1], "test_acc": ["0.9"]}, "'test_acc' is not a list of numbers"),
    "value is a bool": ({"epoch": [1], "test_acc": [True]}, "'test_acc' is not a list of numbers"),
    "epoch is a fraction": ({"epoch": [1.5]}, "'epoch' is not a list of epoch numbers"),
}


@pytest.mark.parametrize("data, message", BAD_CURVES.values(), ids=BAD_CURVES.keys())
def test_bad_curves_are_refused_in_one_line(data, message):
    with pytest.raises(RecordError, match=message):
        Curves.from_dict(data)
    with pytest.raises(RecordError, match=message):
        RunRecord.from_dict({**OLD_RECORD, "curves": data})


def test_ragged_curves_cannot_be_built_either():
    with pytest.raises(RecordError, match="'train_acc' has 0 values for 1 epochs"):
        Curves(epoch=(1,), train_loss=(0.5,))


BAD_FINAL = {
    "unknown figure": ({"top5_acc": 0.9}, "unknown figure 'top5_acc'"),
    "metric is text": ({"test_acc": "0.9"}, "'test_acc' is not a number"),
    "epochs is a fraction": ({"epochs": 1.5}, "'epochs' is not a count"),
    "images negative": ({"train_images": -1}, "'train_images' is not a count"),
    "device is a number": ({"device": 3}, "'device' is not text"),
    "not a table": ([], "not a table"),
}


@pytest.mark.parametrize("data, message", BAD_FINAL.values(), ids=BAD_FINAL.keys())
def test_bad_final_figures_are_refused_in_one_line(data, message):
    with pytest.raises(RecordError, match=message):
        FinalFigures.from_dict(data)


BAD_SUMMARIES = {
    "unknown layer figure": ({"layers": {"w": {"grad_normal": 1.0}}}, "unknown figure 'grad_normal'"),
    "unknown part": ({"layerz": {}}, "unknown part 'layerz'"),
    "figure is text": ({"layers": {"w": {"grad_norm": "x"}}}, "layer 'w'.s summary is not numbers"),
    "histogram without counts": ({"layers": {"w": {"histogram": {"min": 0, "max": 1}}}}, "not numbers"),
    "dead fraction is text": ({"dead_relu": {"1": "x"}}, "not a table of fractions"),
}


@pytest.mark.parametrize("data, message", BAD_SUMMARIES.values(), ids=BAD_SUMMARIES.keys())
def test_bad_epoch_summaries_are_refused_in_one_line(data, message):
    with pytest.raises(RecordError, match=message):
        EpochSummary.from_dict(data)


def test_a_constructed_record_checks_curves_and_figures_given_as_tables():
    record = RunRecord(run_id="r", model="m", config={}, curves={"epoch": [1], TEST_ACC: [0.5]}, final={"epochs": 1})
    assert isinstance(record.curves, Curves) and record.curves.test_acc == (0.5,)
    assert isinstance(record.final, FinalFigures) and record.final.epochs == 1
    with pytest.raises(RecordError, match="unknown metric"):
        RunRecord(run_id="r", model="m", config={}, curves={"accuracy": [0.5]})


# ----- what the engine records ---------------------------------------------------------------


def test_a_run_records_whole_epochs_and_the_losses_of_an_unfinished_one(tiny_data, make_tiny, history):
    from explorer.train import BatchMetrics, EpochMetrics, RunFinished, TrainConfig, Trainer

    config = TrainConfig(model="tiny", epochs=3, batch_size=64, lr=3e-3, optimizer="adam", device="cpu")
    trainer = Trainer(config, data=tiny_data, model=make_tiny(), history=history, checkpoint_path=False,
                      report_interval_s=0.0)
    losses, finished, epoch = [], None, None
    for event in trainer.run():
        if isinstance(event, BatchMetrics):
            losses.extend(event.losses)
            if event.epoch == 2 and event.batch == 2:
                trainer.control.stop()  # in the second epoch, after two batches
        elif isinstance(event, EpochMetrics):
            epoch = event
        elif isinstance(event, RunFinished):
            finished = event
    record = history.load(finished.record.run_id)
    assert record == finished.record and record.status == "stopped"
    assert record.curves.epochs == 1 and record.curves.test_acc == (epoch.test_acc,)
    assert record.curves.batch_loss == pytest.approx(losses)  # the unfinished epoch's two losses too
    assert len(record.curves.batch_loss) == trainer.batches_per_epoch + 2
    assert record.final.epochs == 1 and record.final.test_acc == epoch.test_acc == record.final.best_test_acc
    assert record.final.images_per_s == epoch.images_per_s and record.final.device == "cpu"
    assert record.final.val_acc == epoch.val_acc and record.curves.val_acc == (epoch.val_acc,)


# ----- the names, once -----------------------------------------------------------------------


def test_the_names_are_the_fields():
    assert tuple(f.name for f in dataclasses.fields(Curves)) == CURVE_KEYS
    assert CURVE_KEYS == (*EPOCH_SERIES, records.BATCH_LOSS)
    assert set(FINAL_METRICS) <= {f.name for f in dataclasses.fields(FinalFigures)}
    assert set(LAYER_METRICS) <= {f.name for f in dataclasses.fields(LayerSummary)}
    # The keys on disk never change: older files must load (compare OLD_RECORD above).
    assert CURVE_KEYS == tuple(OLD_RECORD["curves"])
    assert {f.name for f in dataclasses.fields(FinalFigures)} == set(OLD_RECORD["final"])


PACKAGE = Path(__file__).resolve().parents[2] / "explorer"
HOME = "explorer.train.records"
# A run metric's name as a string anywhere in explorer/ but its home. "epoch" and "lr" are
# left out: they are also a checkpoint's epoch count and an option's name.
METRIC_NAMES = {records.TRAIN_LOSS, records.TRAIN_ACC, records.VAL_LOSS, records.VAL_ACC, records.TEST_LOSS,
                TEST_ACC, BEST_TEST_ACC, records.IMAGES_PER_S, records.BATCH_LOSS}


def _spellings() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in METRIC_NAMES}
        if names:
            found[module] = names
    return found


def test_each_metric_name_is_spelled_in_one_module():
    found = _spellings()
    assert found.get(HOME) == METRIC_NAMES  # the check sees the home
    extra = {m: sorted(n) for m, n in found.items() if m != HOME}
    assert not extra, (f"metric names spelled outside {HOME}; read them from there "
                       f"(records.TEST_ACC, record.final.test_acc, ...): {extra}")
