"""The zoo scoreboard: torchvision's published figures and the small forms' accuracies."""

from __future__ import annotations

import json
import types
import warnings

import pytest
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
    from explorer.models import manifest

    monkeypatch.setattr(manifest, "shipped_entry",
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


REGENERATE = "run `cnn-explorer snapshots` and commit resources/snapshots"


def test_the_shipped_torchvision_table_equals_torchvisions_metadata_field_by_field():
    shipped, why = scoreboard.load_reference_table()
    assert shipped is not None, f"{why}: {REGENERATE}"
    live = scoreboard.live_reference_points()
    assert [p["name"] for p in shipped] == [p["name"] for p in live], REGENERATE
    for stored, measured in zip(shipped, live):
        for field in stored.keys() | measured.keys():
            assert stored.get(field) == measured.get(field), f"{stored['name']}.{field} differs: {REGENERATE}"
    # And against torchvision's own metadata, not only this module's reading of it.
    document = json.loads(scoreboard.reference_table_path().read_text())
    assert document["torchvision"] == torchvision.__version__.split("+")[0]
    for point in shipped:
        weights = get_model_weights(point["name"]).DEFAULT
        meta = weights.meta
        assert point["weights"] == weights.name and point["params"] == meta["num_params"]
        assert point["gmacs"] == meta["_ops"]
        assert point["top1"] * 100 == pytest.approx(meta["_metrics"]["ImageNet-1K"]["acc@1"], rel=1e-12)
        assert point["top5"] * 100 == pytest.approx(meta["_metrics"]["ImageNet-1K"]["acc@5"], rel=1e-12)


def _table_copy(tmp_path, monkeypatch, change) -> None:
    document = json.loads(scoreboard.reference_table_path().read_text())
    path = tmp_path / "torchvision_scoreboard.json"
    path.write_text(change(document))
    monkeypatch.setattr(scoreboard, "reference_table_path", lambda root=None: path)


@pytest.mark.parametrize("case, why", [
    ("another torchvision", r"stale \(made with torchvision 0\.1\.0, this is [0-9.]+\)"),
    ("damaged", r"damaged \(not a whole JSON file\)"),
    ("a bad point", r"damaged \(top1 of a point is not float\)"),
])
def test_a_stale_or_damaged_torchvision_table_is_read_live_with_a_one_line_warning(tmp_path, monkeypatch, case, why):
    def change(document):
        if case == "damaged":
            return json.dumps(document)[:200]
        if case == "a bad point":
            document["points"][3]["top1"] = "85%"
        else:
            document["torchvision"] = "0.1.0"
        return json.dumps(document)

    _table_copy(tmp_path, monkeypatch, change)
    with pytest.warns(UserWarning, match=rf"^the torchvision scoreboard table is {why}; "
                                         r"reading torchvision's weights metadata live$"):
        points = scoreboard.reference_points()
    assert points == scoreboard.live_reference_points()


def test_the_torchvision_table_round_trips_and_is_skipped_quietly_when_snapshots_are_off(tmp_path, monkeypatch):
    path = scoreboard.write_reference_table(tmp_path / "snapshots" / "table.json", scoreboard.live_reference_points())
    assert scoreboard.load_reference_table(path) == (scoreboard.live_reference_points(), None)
    assert path.read_text().count("\n") == len(scoreboard.live_reference_points()) + 7  # one point a line
    monkeypatch.setenv("CNN_EXPLORER_NO_SNAPSHOTS", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scoreboard.reference_points() == scoreboard.live_reference_points()
