"""`bench timemachine`: the latency check runs anywhere; the data checks say why they skip.

The numbers a check reports are compared with hand-computed ones: the latency profile and
the scrub's clock are replaced by known values, so a wrong ratio, median, maximum or pass
rule shows up as a wrong number rather than as the same formula evaluated twice.
"""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.fx

from explorer.bench import SUITES, timemachine
from explorer.metrics import latency as latency_module
from explorer.metrics.latency import LatencyProfile


def test_suite_is_registered_and_skips_without_data(tmp_path):
    from explorer.graph.named import resolve_model

    assert "timemachine" in SUITES
    result = timemachine.run(quick=True, data_dir=str(tmp_path))
    checks = {c["name"]: c for c in result["checks"]}
    assert set(checks) == {"latency_sum_vs_eager", "summaries_throughput_ratio", "snapshot_mb_30_epochs",
                           "scrub_ms_max"}
    latency = checks["latency_sum_vs_eager"]
    # One timed row per node of resnet18_small's traced graph except the input (counted
    # here with plain torch.fx, not the stepper the profile uses).
    model, _ = resolve_model("resnet18_small", meta=False)
    assert latency["nodes"] == len(torch.fx.symbolic_trace(model).graph.nodes) - 1
    assert latency["eager_ms"] > 0 and 0 <= latency["sum_ms"] <= latency["raw_sum_ms"]
    assert latency["overhead_us"] >= 0 and latency["threads"] == 1
    assert latency["limit"] == 1.15 and latency["lower_limit"] == 0.85 and latency["unit"] == "x"
    assert math.isfinite(latency["value"]) and latency["value"] > 0
    assert isinstance(latency["passed"], bool)
    for name in ("summaries_throughput_ratio", "snapshot_mb_30_epochs", "scrub_ms_max"):
        assert checks[name]["passed"] is None and checks[name]["value"] is None
        assert "no Fashion-MNIST" in checks[name]["note"]


@pytest.mark.parametrize(
    "sum_ms, eager_ms, ratio, passed",
    [
        (9.0, 10.0, 0.9, True),  # inside 0.85-1.15
        (12.0, 10.0, 1.2, False),  # the node times add up to more than the eager pass
        (8.0, 10.0, 0.8, False),  # below the lower limit: nodes are missing from the sum
    ],
)
def test_latency_check_from_known_timings(monkeypatch, sum_ms, eager_ms, ratio, passed):
    seen = {}

    def fake_profile(model, x, device="cpu", repeats=20, **_):
        seen.update(shape=tuple(x.shape), device=device, repeats=repeats, threads=torch.get_num_threads())
        nodes = [{"node": f"n{i}", "kind": "Conv2d", "module_path": "", "raw_ms": 1.0, "ms": 1.0} for i in range(3)]
        return LatencyProfile(device="cpu", nodes=nodes, sum_ms=sum_ms, eager_ms=eager_ms, repeats=repeats,
                              overhead_us=2.0, raw_sum_ms=sum_ms + 0.006)

    monkeypatch.setattr(latency_module, "profile_latency", fake_profile)
    threads = torch.get_num_threads()
    check = timemachine._latency(quick=True)
    assert seen == {"shape": (1, 1, 28, 28), "device": "cpu", "repeats": 20, "threads": 1}
    assert torch.get_num_threads() == threads  # restored after the measurement
    assert check["value"] == pytest.approx(ratio)
    assert check["passed"] is passed
    assert (check["sum_ms"], check["eager_ms"], check["nodes"]) == (sum_ms, eager_ms, 3)
    assert (check["overhead_us"], check["raw_sum_ms"]) == (2.0, pytest.approx(sum_ms + 0.006))
    timemachine._latency(quick=False)
    assert seen["repeats"] == 50


# Milliseconds the fake clock advances for each frame a model's replay draws: the first two
# (before preload), then six scrubs whose median is (7 + 8) / 2 = 7.5 (their mean is 10.8,
# their maximum 30). Each model's times are scaled by its factor below.
FIRST_TWO = (40.0, 20.0)
SCRUBS = (5.0, 9.0, 7.0, 30.0, 6.0, 8.0)
FACTORS = (2.0, 1.0, 25.0, 3.0)


def test_scrub_reports_the_slowest_models_median(tmp_path, tiny_fashion_root, monkeypatch):
    from explorer.explain import replay
    from explorer.models import list_models

    clock = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(timemachine, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    calls: list[list] = []
    real = replay.EpochReplay

    class TimedReplay(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.factor = FACTORS[len(calls)]
            self.calls: list = []
            calls.append(self.calls)

        def frame(self, epoch, image, *args, **kwargs):
            frame = super().frame(epoch, image, *args, **kwargs)
            n = sum(1 for c in self.calls if c != "preload")
            clock.now += (FIRST_TWO + SCRUBS)[n] * self.factor / 1e3
            self.calls.append(epoch)
            assert frame.epoch == epoch  # the real replay ran
            return frame

        def preload(self, *args, **kwargs):
            self.calls.append("preload")
            return super().preload(*args, **kwargs)

    monkeypatch.setattr(replay, "EpochReplay", TimedReplay)
    check = timemachine._scrub(tiny_fashion_root, True, tmp_path)

    names = list_models("small")[:4]  # quick: the first four small forms
    # Each model: the two epochs once, preload, then six scrubs alternating 0 and 1.
    assert calls == [[0, 1, "preload", 0, 1, 0, 1, 0, 1]] * 4
    assert check["name"] == "scrub_ms_max" and check["models"] == 4
    assert check["per_model_ms"] == {n: pytest.approx(7.5 * f) for n, f in zip(names, FACTORS)}
    assert check["first_two_frames_ms"] == {n: pytest.approx(60.0 * f) for n, f in zip(names, FACTORS)}
    assert check["slowest"] == names[2]
    assert check["value"] == pytest.approx(187.5)  # 7.5 * 25
    assert check["limit"] == 150.0 and check["passed"] is False


def test_scrub_passes_under_the_limit(tmp_path, tiny_fashion_root, monkeypatch):
    from explorer.explain import replay

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(timemachine, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    real = replay.EpochReplay

    class TimedReplay(real):
        def frame(self, *args, **kwargs):
            clock.now += 0.012  # 12 ms every frame
            return super().frame(*args, **kwargs)

    monkeypatch.setattr(replay, "EpochReplay", TimedReplay)
    check = timemachine._scrub(tiny_fashion_root, True, tmp_path)
    assert check["value"] == pytest.approx(12.0) and check["passed"] is True
    assert all(ms == pytest.approx(24.0) for ms in check["first_two_frames_ms"].values())
