"""`bench explain`'s GUI-responsiveness probe drives every explain view of the panel and
measures the longest stall (no timing assertions: the limit is the bench's to check)."""

from __future__ import annotations

from explorer.bench.explain import heartbeat_while_explaining


def test_heartbeat_measurement_drives_each_explain_view(qtbot, qt_warnings):
    result = heartbeat_while_explaining(top_images=False)
    assert {"receptive field", "gradcam", "saliency", "occlusion", "knockout"} <= set(result["steps_s"])
    explain = {k: v for k, v in result["gaps_ms"].items() if k not in ("model", "node")}
    assert result["max_gap_ms"] == max(explain.values()) > 0
    assert not result["test_data"]  # the tests' data folder is empty: no scan, no accuracy
