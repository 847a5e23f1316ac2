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
    for name in ("summaries_throughput_ratio", "snapshot_mb_30_epochs"):
        assert checks[name]["passed"] is None and "no Fashion-MNIST" in checks[name]["note"]
