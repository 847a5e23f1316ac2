"""A CNN that is not in the zoo, opened as a ``.pt2`` program and as a ``.py`` class with its
state dict: every view's core and every CLI command works on both, and they agree with the
network they came from (issue 22)."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.cli import main
from explorer.loading import load_model
from explorer.models.python_file import allow_in_process
from explorer.weights_choice import WeightsChoice
from tests.models.user_models import tiny_params, write_program, write_python_model


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user-model")
    code, state, model = write_python_model(folder)
    program = write_program(folder, model)
    return {"code": code, "state": state, "program": program, "model": model}


def _sources(files) -> dict[str, tuple[str, WeightsChoice | None]]:
    allow_in_process(files["code"])
    return {"pt2": (str(files["program"]), None),
            "py": (f"{files['code']}:TinyNet", WeightsChoice("file", path=str(files["state"])))}


@pytest.mark.parametrize("form", ["pt2", "py"])
def test_every_view_works_on_a_users_model(user_files, form):
    from explorer.activations.stepper import Stepper
    from explorer.explain.attribution import attribute
    from explorer.explain.knockout_spec import knockouts_for
    from explorer.explain.units import unit_arithmetic
    from explorer.graph import default_state, prepare_view
    from explorer.graph.export import view_document
    from explorer.graph.stored import named_graph
    from explorer.metrics.overlays import static_metrics

    source, weights = _sources(user_files)[form]
    loaded = load_model(source, weights)
    assert loaded.weights.kind == ("saved" if form == "pt2" else "file") and not loaded.fallback
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = user_files["model"](x)
        assert torch.allclose(loaded.module(x), expected, atol=1e-5)

    # The graph: traced, blocks found, parameters and FLOPs, receptive fields, export.
    graph, _ = named_graph(source)
    assert graph.traced and graph.total_params == tiny_params() and graph.total_flops > 0
    assert graph.find_node("block.conv2") is not None and graph.node(graph.find_node("block.conv2"))["receptive_field"]
    # The residual addition, its skip edge and the concatenation, found generically; the block folded.
    assert {"add", "concat"} <= {graph.node(n).get("category") for n in graph.order}
    assert "residual" in {data.get("kind") for _, _, data in graph.graph.edges(data=True)}
    assert [record.path for record in graph.blocks()] == ["block"]
    view, layout = prepare_view(graph, default_state(graph))
    assert view_document(graph, view, layout)["nodes"] and static_metrics(graph)

    # Stepping: every node, the same output as the network.
    stepper = Stepper(loaded.module, "cpu")
    stepper.set_input(x)
    stepper.run_to_end()
    assert torch.allclose(stepper.output(), expected, atol=1e-5)
    # A channel knockout changes the output; restoring gives it back.
    stepper.set_knockouts(knockouts_for(["block.conv1:3"], graph, loaded.module))
    stepper.run_to_end()
    assert not torch.allclose(stepper.output(), expected, atol=1e-6)
    stepper.set_knockouts([])
    stepper.run_to_end()
    assert torch.allclose(stepper.output(), expected, atol=1e-5)

    # Why: Grad-CAM, saliency and occlusion; the unit arithmetic.
    for method in ("gradcam", "saliency", "occlusion"):
        result = attribute(loaded.module, x, method, graph=graph, class_names=loaded.class_names)
        assert result.values.shape[-2:] == (28, 28) and torch.isfinite(torch.as_tensor(result.values)).all()
    unit = unit_arithmetic(loaded.module, x, "block.conv1", 2, None, top=3)
    assert unit.matches
    assert loaded.class_names[7] == "class 7"


@pytest.mark.parametrize("form", ["pt2", "py"])
def test_every_command_works_on_a_users_model(user_files, form, capsys, tmp_path):
    source, weights = _sources(user_files)[form]
    given = ["--weights", weights.path] if weights else []
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(f"kind {i}" for i in range(10)))

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    summary = json.loads(run("summary", source, "--json"))
    assert summary["total_params"] == tiny_params()
    graph = json.loads(run("graph", source, "--json", "--out", str(tmp_path / "g.json")))
    assert graph["params"] == tiny_params() and graph["blocks"] >= 1 and (tmp_path / "g.json").is_file()
    inspect = json.loads(run("inspect", source, "sample", "--json", "--layer", "block.conv1", *given,
                             "--classes", str(classes)))
    assert inspect["trained"] and inspect["layer"]["shape"] == [1, 8, 28, 28]
    assert inspect["top5"][0]["name"].startswith("kind ")
    rf = json.loads(run("rf", source, "--layer", "block.conv2", "--json"))
    assert rf["size"] == [7, 7]
    explain = json.loads(run("explain", source, "sample", "--json", *given))
    assert explain["map"]["shape"] == [28, 28]
    profile = json.loads(run("profile", source, "--json", "--repeats", "1"))
    assert profile["nodes"]


def test_bad_files_are_one_line_each(tmp_path, capsys):
    text = tmp_path / "notes.pt2"
    text.write_text("not a model")
    raises = tmp_path / "raises.py"
    raises.write_text("import torch\n1 / 0\n")
    needs = tmp_path / "needs.py"
    needs.write_text("from torch import nn\nclass Net(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n")
    for argv, words in [
        (["summary", str(text)], "notes.pt2"),
        (["summary", f"{raises}:Net"], "raises on import: ZeroDivisionError"),
        (["summary", f"{needs}:Net"], "needs argument width"),
        (["summary", str(tmp_path / "gone.pt2")], "no such file"),
    ]:
        code = main(argv)
        out, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if not line.startswith("note:")]
        assert code == 1 and len(lines) == 1 and words in lines[0], err
