"""The zoo scoreboard: torchvision's published figures and the small forms' accuracies."""

from __future__ import annotations

import types

import torchvision
from torchvision.models import get_model_weights

from explorer.models import model_stats
from explorer.metrics import scoreboard
from explorer.train import RunHistory, RunRecord


def test_every_torchvision_classifier_with_its_published_figures():
    points = {p["name"]: p for p in scoreboard.reference_points()}
    assert set(points) == set(torchvision.models.list_models(module=torchvision.models))
    meta = get_model_weights("resnet50").DEFAULT.meta
    assert points["resnet50"]["top1"] * 100 == meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert points["resnet50"]["params"] == meta["num_params"] and points["resnet50"]["gmacs"] == meta["_ops"]
    assert points["alexnet"]["top1"] < points["resnet50"]["top1"]


def test_small_forms_show_shipped_and_runs_marked_apart(tmp_path, monkeypatch):
    import explorer.models.shipped as shipped

    monkeypatch.setattr(shipped, "shipped_entry",
                        lambda name: types.SimpleNamespace(test_accuracy=0.91) if name == "lenet_small" else None)
    history = RunHistory(tmp_path)
    history.save(RunRecord(run_id="r1", model="lenet_small", config={}, status="completed", name="mine",
                           final={"test_acc": 0.87}))
    history.save(RunRecord(run_id="r2", model="tiny", config={}, final={"test_acc": 0.5}))  # not registered
    history.save(RunRecord(run_id="r3", model="lenet_small", config={}))  # no epoch finished
    points = scoreboard.small_points(history)
    assert [(p["source"], p["test_acc"]) for p in points] == [("shipped", 0.91), ("run", 0.87)]
    stats = model_stats("lenet_small")
    assert points[1]["run_name"] == "mine" and points[1]["params"] == stats["params"]
    assert points[0]["gmacs"] == stats["macs"] / 1e9
    board = scoreboard.scoreboard(history)
    assert "torchvision" in board["reference"]["label"] and board["small"]["points"] == points


def test_scoreboard_cli_tables_and_json(capsys, monkeypatch, tmp_path):
    import json

    from explorer.cli import main

    history = RunHistory(tmp_path)
    history.save(RunRecord(run_id="r1", model="lenet_small", config={}, status="completed", name="mine",
                           final={"test_acc": 0.87}))
    real = scoreboard.small_points
    monkeypatch.setattr(scoreboard, "small_points", lambda history_=None: real(history))
    assert main(["scoreboard", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["reference"]["points"]) == len(scoreboard.reference_points())
    assert [p["source"] for p in data["small"]["points"]].count("run") == 1
    assert main(["scoreboard", "--panel", "small"]) == 0
    out = capsys.readouterr().out
    assert "run mine" in out and "87.00%" in out and "torchvision's figure" not in out
    assert main(["scoreboard", "--panel", "reference"]) == 0
    out = capsys.readouterr().out
    assert "torchvision's figure" in out and "resnet50" in out
