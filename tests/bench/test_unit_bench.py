"""`cnn-explorer bench unit`: the quick run end to end through the CLI, and the limit
comparisons checked on a fake clock (timings themselves are never asserted: the machine is
shared)."""

from __future__ import annotations

import argparse
import json
import math
import types

import pytest

from explorer.bench import SUITES, command
from explorer.bench import unit as bench

NAMES = {f"arithmetic_ms_{m}" for m in bench.QUICK_FAMILIES} | {
    "unit_page_click_ms", "animation_fps", "heartbeat_while_animating_ms", "feature_vis_s",
    "heartbeat_while_visualising_ms"}
LIMITS = {"unit_page_click_ms": (100.0, "ms"), "animation_fps": (28.5, "fps"), "heartbeat_while_animating_ms": (100.0, "ms"),
          "feature_vis_s": (5.0, "s"), "heartbeat_while_visualising_ms": (100.0, "ms"),
          **{f"arithmetic_ms_{m}": (100.0, "ms") for m in bench.QUICK_FAMILIES}}


@pytest.mark.timeout(120)
def test_quick_run_through_the_cli_reports_every_check(capsys, tmp_path):
    assert "unit" in SUITES
    out = tmp_path / "unit.json"
    args = argparse.Namespace(suite="unit", quick=True, json=True, out=str(out), repeats=None)
    code = command.run(args)
    printed = capsys.readouterr().out
    result = json.loads(printed)
    assert json.loads(out.read_text()) == result
    assert result["suite"] == "unit" and result["quick"] is True
    checks = {c["name"]: c for c in result["checks"]}
    assert set(checks) == NAMES
    for name, (limit, unit) in LIMITS.items():
        c = checks[name]
        assert (c["limit"], c["unit"]) == (limit, unit), name
        assert isinstance(c["value"], float) and math.isfinite(c["value"]) and c["value"] > 0, name
        at_least = name == "animation_fps"
        assert c["passed"] is (c["value"] >= limit if at_least else c["value"] <= limit), name
    assert checks["animation_fps"]["limit_kind"] == "at least"
    assert code == (1 if any(c["passed"] is False for c in checks.values()) else 0)

    # The numbers come from the work itself: real nodes, real frames, a computed image.
    from explorer.bench.unit import _stepper

    for a in result["arithmetic"]:
        titles = [r.title for r in _stepper(a["model"]).nodes]
        assert a["node"] in titles and a["nodes_explained"] <= a["nodes"] == len(titles)
        assert a["repeats"] == 3 and 0 < a["median_ms"] <= a["max_ms"]
        # The slowest node was really explained, and its recomputed value is the model's.
        assert a["kind"] != "unexplained" and a["matches"] is True
        assert checks[f"arithmetic_ms_{a['model']}"]["value"] == a["median_ms"]
    window = result["window"]
    assert len(window["clicks_ms"]) == bench.CLICKS and checks["unit_page_click_ms"]["value"] == max(window["clicks_ms"])
    assert window["interval_ms"] == 33 and window["frames"] >= 2 and window["paints"] >= 1
    assert window["animation_frames"] > window["frames"]  # still playing when the clock ran out
    assert checks["animation_fps"]["value"] == window["fps"]
    assert window["visualise_cached"] is False and window["visualise_node"].startswith("layer3")
    vis = result["feature_vis"]
    assert vis["cached"] is False and vis["steps"] == 128 and vis["end"] != vis["start"]
    assert checks["feature_vis_s"]["value"] == vis["seconds"]


def _fake_clock(monkeypatch, cost_ms):
    """Replace the bench's clock with one that only moves when explain_unit runs: by
    ``cost_ms(title, call)`` milliseconds, call counting the calls at that node."""
    from explorer.explain import units

    clock = types.SimpleNamespace(now=100.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    real = units.explain_unit
    calls: dict[str, int] = {}

    def timed(stepper, node=None, channel=0, at=None, **kwargs):
        result = real(stepper, node, channel, at, **kwargs)  # the real arithmetic still runs
        title = stepper.nodes[stepper.position].title
        calls[title] = calls.get(title, 0) + 1
        clock.now += cost_ms(title, calls[title]) / 1e3
        return result

    monkeypatch.setattr(units, "explain_unit", timed)
    return calls


def test_the_slowest_node_is_found_and_its_median_compared_with_the_limit(monkeypatch):
    # The scan keeps the faster of two samples: c3's 150 is one slow sample (40 kept), so
    # c5 (80 and 80) is the worst node; then c5 timed 3 times: 130, 101, 95, median 101 > 100.
    costs = {"c3": [150, 40], "c5": [80, 80, 130, 101, 95, 500]}  # c5's last: the untimed read of its kind
    calls = _fake_clock(monkeypatch, lambda title, n: costs.get(title, [1.0] * 2)[n - 1])
    a = bench.arithmetic_times("lenet5_small", 3)
    assert a["node"] == "c5" and a["scan_ms"] == 80.0
    # Two scan samples everywhere; at the worst node 3 repeats and one call reading its kind.
    assert calls["c5"] == 6 and calls["c3"] == 2 and a["kind"] == "lenet_conv" and a["matches"] is True
    assert a["median_ms"] == pytest.approx(101.0) and a["max_ms"] == pytest.approx(130.0)
    check = bench._check("arithmetic_ms_lenet5_small", a["median_ms"], "ms", bench.ARITHMETIC_MS)
    assert check["passed"] is False and check["limit"] == 100.0


def test_a_node_under_the_limit_passes(monkeypatch):
    _fake_clock(monkeypatch, lambda title, n: 99.0 if title == "f6" else 2.0)
    a = bench.arithmetic_times("lenet5_small", 3)
    assert a["node"] == "f6" and a["median_ms"] == pytest.approx(99.0)
    assert bench._check("x", a["median_ms"], "ms", bench.ARITHMETIC_MS)["passed"] is True


@pytest.mark.parametrize("interval_s, passed", [(1 / 30, True), (1 / 28.6, True), (1 / 28.4, False)])
def test_frames_per_second_from_the_advance_times(interval_s, passed):
    advances = [5.0 + k * interval_s for k in range(61)]
    fps = bench.fps_of(advances)
    assert fps == pytest.approx(1 / interval_s)
    check = bench._check("animation_fps", fps, "fps", bench.MIN_FPS, at_least=True)
    assert check["passed"] is passed and check["limit"] == 28.5
    assert bench.fps_of([1.0]) is None and bench._check("animation_fps", None, "fps", 28.5)["passed"] is None
