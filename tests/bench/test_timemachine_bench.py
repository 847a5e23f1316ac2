"""`bench timemachine`: the latency check runs anywhere; the data checks say why they skip."""

from __future__ import annotations

from explorer.bench import SUITES, timemachine


def test_suite_is_registered_and_skips_without_data(tmp_path):
    assert "timemachine" in SUITES
    result = timemachine.run(quick=True, data_dir=str(tmp_path))
    checks = {c["name"]: c for c in result["checks"]}
    latency = checks["latency_sum_vs_eager"]
    assert latency["eager_ms"] > 0 and latency["nodes"] > 50 and latency["passed"] in (True, False)
    assert latency["value"] == latency["sum_ms"] / latency["eager_ms"]
    for name in ("summaries_throughput_ratio", "snapshot_mb_30_epochs", "scrub_ms_max"):
        assert checks[name]["passed"] is None and "no Fashion-MNIST" in checks[name]["note"]


def test_scrub_is_timed_per_small_form(tmp_path, tiny_fashion_root):
    check = timemachine._scrub(tiny_fashion_root, True, tmp_path)
    assert check["name"] == "scrub_ms_max" and check["models"] == len(check["per_model_ms"]) == 4
    assert check["value"] == max(check["per_model_ms"].values()) > 0
    assert check["per_model_ms"][check["slowest"]] == check["value"]
    assert set(check["first_two_frames_ms"]) == set(check["per_model_ms"])
