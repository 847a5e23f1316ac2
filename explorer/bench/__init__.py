"""`cnn-explorer bench SUITE`: speed goals checked as ratios against baselines measured in
the same run where possible. Each suite module defines ``run(quick: bool = False) -> dict``
with a ``checks`` list of ``{"name", "value", "unit", "limit", "passed"}`` entries."""

SUITES = ("graph", "inspect", "train", "explain", "timemachine", "startup", "unit", "open_model", "lessons")
