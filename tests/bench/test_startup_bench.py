"""`bench startup` measures every milestone of a first launch in fresh processes and reports
the issue's limits as booleans (the timings themselves are not asserted: the machine is noisy)."""

from __future__ import annotations

import pytest

from explorer.bench import SUITES, startup
from explorer.settings import DEFAULTS


@pytest.mark.timeout(600)
def test_one_round_reports_every_figure_and_limit():
    assert "startup" in SUITES
    result = startup.run(quick=True, repeats=1)
    assert result["repeats"] == 1 and result["errors"] == [], result["errors"]
    for field in startup.FIELDS:
        assert isinstance(result[field], float) and result[field] > 0, (field, result[field])
    assert result["first_model"] == DEFAULTS["last_model"]
    names = {c["name"] for c in result["checks"]}
    assert set(result["limits"]) == names and len(names) == 5
    for check in result["checks"]:
        assert isinstance(check["passed"], bool) and result["limits"][check["name"]] is check["passed"]
        assert isinstance(check["value"], float)
    load = result["load_average"]
    assert len(load["start"]) == len(load["end"]) == 3
    assert result["python"] and result["qt"] and result["torch"] and result["torchvision"]


def test_checks_follow_the_issue_limits():
    figures = dict.fromkeys(startup.FIELDS, 100.0) | {
        "qt_baseline_ms": 200.0, "model_list_ms": 700.0, "first_graph_ms": 1600.0,
        "cli_models_ms": 300.0, "torch_import_ms": 1000.0, "first_maps_ms": 1900.0}
    found = {c["name"]: c for c in startup.checks(figures)}
    assert found["model_list_vs_qt_baseline"]["value"] == 3.5 and found["model_list_vs_qt_baseline"]["passed"] is False
    assert found["model_list_ms"]["passed"] is True
    assert found["first_graph_ms"]["passed"] is False
    assert found["cli_models_vs_torch_import"]["value"] == 0.3 and found["cli_models_vs_torch_import"]["passed"] is True
    assert found["first_maps_after_torch_import_ms"]["value"] == 900.0
    assert found["first_maps_after_torch_import_ms"]["passed"] is True
