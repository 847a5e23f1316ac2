"""`cnn-explorer bench explain`'s measurements run and report what they measured."""

from __future__ import annotations

from explorer.bench import SUITES
from explorer.bench.explain import knockout_vs_plain, receptive_field_times


def test_suite_is_listed_and_measures_fields_and_knockouts():
    assert "explain" in SUITES
    times = receptive_field_times(["lenet_small", "googlenet_small"])
    assert set(times) == {"lenet_small", "googlenet_small"} and all(t > 0 for t in times.values())
    knock = knockout_vs_plain("resnet18_small", 32, repeats=1)
    assert knock["images"] == 32 and knock["plain_s"] > 0 and knock["knockout_s"] > 0
    assert "random images" in knock["source"]  # the tests' data folder is empty
    assert len(knock["knockouts"]) == 3
