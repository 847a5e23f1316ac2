"""The inspect benchmark's measuring code runs and measures what it says (tiny sizes, no
timing assertions: the limits are checked by `cnn-explorer bench inspect`)."""

from __future__ import annotations

from explorer.bench import inspect as bench


def test_stepping_measurement_compares_like_with_like():
    result = bench.stepping_vs_eager("resnet18", size=32, repeats=1, device="cpu")
    assert result["nodes"] > 60 and result["device"].startswith("CPU")
    assert result["eager_s"] > 0 and result["stepping_s"] > 0 and result["stepping_with_copies_s"] > 0


def test_mosaic_measurement(qapp):
    result = bench.mosaic_draw_ms(channels=16, size=8, repeats=1)
    assert result["grid"] == [4, 4] and result["image"] == [35, 35] and result["median_ms"] > 0


def test_heartbeat_measurement_drives_the_panel(qapp):
    result = bench.heartbeat_while_stepping("resnet18", single_steps=2)
    assert result["nodes"] > 60 and result["ticks"] > 0 and result["max_gap_ms"] > 0


def test_check_records():
    assert bench._check("x", 1.0, "ms", 2.0)["passed"] is True
    assert bench._check("x", 3.0, "ms", 2.0)["passed"] is False
    assert bench._check("x", 3.0, "ms", None)["passed"] is None
