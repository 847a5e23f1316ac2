"""The graph subprocess protocol, the CLI command, and the no-Qt rule for the core."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys

import pytest

from explorer import cli
from explorer.commands import graph as graph_command
from explorer.errors import UserError
from explorer.graph.service import GraphService, serve


def _run_cli(*argv: str) -> int:
    """``cnn-explorer graph ARGV`` with its parser from the CLI, which hands the command the
    window's renderer for SVG and PNG; user errors raise."""
    args = cli.build_parser("graph").parse_args(["graph", *argv])
    return args.run(args)


def _run_bare(*argv: str) -> int:
    """The graph command with nothing handed in: what it can do on its own (no Qt)."""
    parser = argparse.ArgumentParser()
    graph_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["graph", *argv])
    return args.run(args)


def test_service_answers_open_then_view_from_its_cache():
    service = GraphService()
    reply = service.handle({"id": 7, "op": "open", "name": "torchvision.resnet18", "kwargs": {}})
    assert reply["ok"] and reply["id"] == 7
    assert len(reply["graph"]["nodes"]) == 71
    assert reply["timings"]["trace_s"] > 0
    state = dict(reply["view"]["state"], expanded=reply["view"]["state"]["expanded"] + ["layer1.0"])
    again = service.handle({"id": 8, "op": "view", "name": "torchvision.resnet18", "state": state})
    assert again["ok"] and "graph" not in again and again["timings"]["trace_s"] == 0.0
    assert "layer1_0_conv1" in again["view"]["order"]


def test_service_prepares_a_model_file_ahead_and_traces_it_again_when_it_changes(tmp_path):
    import os

    import torch

    from tests.models.user_models import write_program

    path = write_program(tmp_path, torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU()), "net.pt2")
    service = GraphService()
    prepared = service.handle({"id": 1, "op": "prepare", "name": str(path), "kwargs": {}})
    assert prepared["ok"] and set(prepared) == {"id", "ok", "timings"} and prepared["timings"]["trace_s"] > 0
    opened = service.handle({"id": 2, "op": "open", "name": str(path), "kwargs": {}})
    assert opened["ok"] and opened["timings"]["trace_s"] == 0.0  # the prepared graph
    assert [n["layer_type"] for n in opened["graph"]["nodes"]] == ["input", "Conv2d", "ReLU", "output"]

    other = write_program(tmp_path, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)), "other.pt2")
    os.replace(other, path)  # the same name, another program
    again = service.handle({"id": 3, "op": "open", "name": str(path), "kwargs": {}})
    assert again["ok"] and again["timings"]["trace_s"] > 0
    assert [n["layer_type"] for n in again["graph"]["nodes"]] == ["input", "Flatten", "Linear", "output"]


def test_service_reports_user_errors_in_one_line():
    reply = GraphService().handle({"id": 1, "op": "open", "name": "torchvision.nonexistent"})
    assert not reply["ok"] and reply["error"] == "unknown torchvision model 'nonexistent'"


def test_serve_speaks_json_lines():
    stdin = io.StringIO(json.dumps({"id": 3, "name": "torchvision.alexnet"}) + "\nnot json\n")
    stdout = io.StringIO()
    assert serve(stdin, stdout) == 0
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert lines[0]["ready"]
    assert lines[1]["id"] == 3 and lines[1]["ok"]
    assert lines[2] == {"id": None, "ok": False, "error": "malformed request"}


def test_service_module_runs_as_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "explorer.graph.service", "torchvision.resnet18",
                          "--expand", "all"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["ok"] and len(reply["view"]["order"]) == 71


@pytest.mark.parametrize("suffix", [".svg", ".png", ".json"])
def test_cli_writes_each_format(tmp_path, suffix, capsys):
    out = tmp_path / f"graph{suffix}"
    assert _run_cli("torchvision.googlenet", "--out", str(out)) == 0
    assert out.stat().st_size > 1000
    assert "torchvision.googlenet: 219 nodes, 11 blocks" in capsys.readouterr().out
    if suffix == ".json":
        doc = json.loads(out.read_text())
        assert {e["kind"] for e in doc["edges"]} == {"plain", "aux"}
        assert sum(1 for n in doc["nodes"] if n.get("block_type") == "inception") == 9
    if suffix == ".svg":
        assert out.read_text().lstrip().startswith("<?xml")


def test_cli_svg_is_vector_with_a_text_per_node_label(tmp_path, capsys):
    import re

    svg_out, json_out = tmp_path / "g.svg", tmp_path / "g.json"
    assert _run_cli("torchvision.resnet18", "--out", str(svg_out)) == 0
    assert _run_cli("torchvision.resnet18", "--out", str(json_out)) == 0
    svg = svg_out.read_text()
    assert "<image" not in svg
    texts = set(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    labels = {n["label"] for n in json.loads(json_out.read_text())["nodes"]}
    assert labels and labels <= texts


def test_cli_left_to_right_json(tmp_path, capsys):
    out = tmp_path / "lr.json"
    assert _run_cli("torchvision.resnet18", "--direction", "LR", "--out", str(out)) == 0
    doc = json.loads(out.read_text())
    assert doc["view"]["direction"] == "LR"
    for edge in doc["edges"]:
        assert edge["points"][-1][0] > edge["points"][0][0]


def test_cli_expand_all_json(tmp_path, capsys):
    out = tmp_path / "all.json"
    assert _run_cli("torchvision.resnet18", "--expand", "all", "--out", str(out), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["drawn"] == summary["nodes"] == 71
    doc = json.loads(out.read_text())
    assert "residual" in {e["kind"] for e in doc["edges"]}


def test_cli_user_errors(tmp_path):
    with pytest.raises(UserError, match="use a .svg, .png or .json"):
        _run_cli("torchvision.resnet18", "--out", str(tmp_path / "x.txt"))
    with pytest.raises(UserError, match="does not exist"):
        _run_cli("torchvision.resnet18", "--out", str(tmp_path / "missing" / "x.svg"))
    with pytest.raises(UserError, match="unknown"):
        _run_cli("no_such_model_anywhere")
    with pytest.raises(UserError, match="not valid JSON"):
        _run_cli("torchvision.resnet18", "--kwargs-json", "{")


def test_the_command_draws_only_with_the_renderer_the_cli_hands_it(tmp_path, monkeypatch):
    """The commands sit below the UI: SVG/PNG come from the renderer the entry layer hands
    in (``cli.INJECTED``); without it the command refuses before tracing, and JSON needs none."""
    assert cli.build_parser("graph").parse_args(["graph", "lenet5"]).draw is cli._draw_graph
    monkeypatch.setattr("explorer.graph.build_named_graph", lambda *a: pytest.fail("traced"))
    with pytest.raises(UserError, match="no renderer for SVG or PNG"):
        _run_bare("lenet5", "--out", str(tmp_path / "g.svg"))
    monkeypatch.undo()
    assert _run_bare("lenet5", "--out", str(tmp_path / "g.json")) == 0
    assert json.loads((tmp_path / "g.json").read_text())["nodes"]
    assert not (tmp_path / "g.svg").exists()


def test_core_graph_modules_import_without_qt():
    code = (
        "import sys\n"
        "for name in ('PySide6', 'pyqtgraph', 'superqt'):\n"
        "    sys.modules[name] = None\n"
        "import explorer.graph, explorer.graph.service, explorer.graph.notes, explorer.graph.export\n"
        "assert not any(m.startswith('explorer.ui') for m in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
