"""The registry and graph snapshots (explorer/snapshots.py): equal to the live registry and
tracer, read without torch, and never used when stale or damaged."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from explorer import snapshots
from explorer.commands.snapshots import catalog_entry, live_graph
from explorer.graph import ModelGraph, build_named_graph
from explorer.graph.service import GraphService
from explorer.models import list_models

REGENERATE = "run `cnn-explorer snapshots` and commit resources/snapshots"


def test_the_shipped_snapshots_carry_this_installations_key():
    # The key holds a digest of the architectures, registry, counting and tracer sources:
    # any change there without regenerating the snapshots fails here.
    catalog, why = snapshots.load_catalog()
    assert catalog is not None, f"{why}: {REGENERATE}"
    folder = snapshots.shipped_graphs_folder()
    for name in list_models():
        snapshots.read_document(folder / snapshots.graph_file_name(name, {}))  # raises when stale


def test_the_registry_snapshot_lists_every_registered_model_in_order():
    catalog, why = snapshots.load_catalog()
    assert catalog is not None, why
    assert list(catalog.entries) == list_models(), REGENERATE


@pytest.mark.parametrize("name", list_models())
def test_the_registry_snapshot_equals_the_live_registry_field_by_field(name):
    catalog, why = snapshots.load_catalog()
    assert catalog is not None, why
    live = catalog_entry(name)
    shipped = catalog.get(name)
    for field in live.keys() | shipped.keys():
        assert shipped.get(field) == live.get(field), f"{name}.{field} differs: {REGENERATE}"


@pytest.mark.parametrize("name", ["lenet5", "alexnet_split", "googlenet", "resnet50", "densenet121_small", "mobilenet_v2"])
def test_graph_snapshots_equal_a_live_trace(name):
    document = snapshots.read_document(snapshots.shipped_graphs_folder() / f"{name}.json.gz")
    assert document["graph"] == live_graph(name), REGENERATE


CLI_WITHOUT_TORCH = """
import io, contextlib, json, sys
from explorer import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = cli.main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "torchvision") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()[:200]}))
"""


@pytest.mark.parametrize("argv", [["models"], ["models", "--json", "--family", "resnet"], ["summary", "vgg16"],
                                  ["summary", "googlenet", "--json"], ["runs"], ["runs", "--json"],
                                  ["rf", "googlenet", "--layer", "inception3a", "--pixel", "3", "3"],
                                  ["zoo", "list"], ["scoreboard", "--json"], ["scoreboard", "--panel", "reference"]])
def test_commands_that_need_no_forward_pass_do_not_import_torch(argv):
    done = subprocess.run([sys.executable, "-c", CLI_WITHOUT_TORCH, *argv], capture_output=True, text=True, timeout=120)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["heavy"] == [], (result, done.stderr[-2000:])


# One family for `models`: every model's figures are compared field by field above.
@pytest.mark.parametrize("argv", [["models", "--json", "--family", "GoogLeNet"], ["summary", "googlenet", "--json"],
                                  ["summary", "lenet5"],
                                  ["rf", "densenet121", "--layer", "features.denseblock2", "--pixel", "5", "9", "--json"]])
def test_the_snapshot_answers_as_the_live_registry_does(argv, monkeypatch, capsys):
    from explorer.cli import main

    assert main(argv) == 0
    from_snapshot = capsys.readouterr().out
    monkeypatch.setenv("CNN_EXPLORER_NO_SNAPSHOTS", "1")
    assert main(argv) == 0
    assert capsys.readouterr().out == from_snapshot


def test_the_graph_service_answers_from_the_snapshot_without_torch():
    code = (
        "import json, sys\n"
        "from explorer.graph.service import GraphService\n"
        "reply = GraphService().handle({'id': 1, 'op': 'open', 'name': 'resnet50', 'kwargs': {}, 'state': None})\n"
        "print(json.dumps({'ok': reply['ok'], 'torch': 'torch' in sys.modules, 'nodes': len(reply['graph']['nodes'])}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"ok": True, "torch": False, "nodes": len(build_named_graph("resnet50").order)}, done.stderr[-2000:]


def _copy_shipped(tmp_path, monkeypatch) -> None:
    """Point the resources at a copy whose snapshots a test may damage."""
    import shutil

    from explorer import resources

    root = tmp_path / "resources"
    shutil.copytree(resources.resources_root() / "snapshots", root / "snapshots")
    monkeypatch.setattr(snapshots, "resources_root", lambda: root)


@pytest.mark.parametrize("damage", ["truncated", "not-gzip", "stale-version", "stale-source", "another-model", "fifo"])
def test_a_bad_graph_snapshot_is_traced_again_with_a_notice_and_cached(tmp_path, monkeypatch, damage):
    _copy_shipped(tmp_path, monkeypatch)
    path = snapshots.shipped_graphs_folder() / "resnet18_small.json.gz"
    document = json.loads(gzip.decompress(path.read_bytes()))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "not-gzip":
        path.write_text("{}")
    elif damage == "fifo":
        path.unlink()
        import os

        os.mkfifo(path)
    else:
        if damage == "stale-version":
            document["key"]["version"] = "0.0.1"
        elif damage == "stale-source":
            document["key"]["source"] = "0" * 16
        else:
            document["graph"] = live_graph("lenet_small")
        path.write_bytes(gzip.compress(json.dumps(document).encode()))
    service = GraphService()
    reply = service.handle({"id": 1, "op": "open", "name": "resnet18_small", "kwargs": {}, "state": None})
    assert reply["ok"] and "traced it again" in reply["notice"] and "\n" not in reply["notice"]
    assert reply["graph"] == live_graph("resnet18_small")  # never the stale or damaged graph
    # The traced graph is kept for the next start, which needs no trace and says nothing.
    assert (snapshots.graph_cache_folder() / "resnet18_small.json.gz").is_file()
    again = GraphService().handle({"id": 2, "op": "open", "name": "resnet18_small", "kwargs": {}, "state": None})
    assert again["ok"] and "notice" not in again and again["graph"] == reply["graph"]


def test_other_builder_options_are_traced_and_cached_under_their_own_key():
    kwargs = {"num_classes": 7}
    assert snapshots.read_graph("resnet18_small", kwargs) == (None, None)
    reply = GraphService().handle({"id": 1, "op": "open", "name": "resnet18_small", "kwargs": kwargs, "state": None})
    assert reply["ok"] and "notice" not in reply
    graph = ModelGraph.from_dict(reply["graph"])
    assert graph.node(graph.order[-1])["shape"][-1] == 7
    document, why = snapshots.read_graph("resnet18_small", kwargs)
    assert why is None and document == reply["graph"]
    assert snapshots.read_graph("resnet18_small", {})[0]["name"] == "resnet18_small"  # the default is untouched


def test_a_damaged_registry_snapshot_falls_back_to_the_live_registry_with_a_warning(tmp_path, monkeypatch, capsys):
    _copy_shipped(tmp_path, monkeypatch)
    snapshots.catalog_path().write_bytes(b"\x1f\x8b broken")
    catalog, why = snapshots.load_catalog()
    assert catalog is None and why == "the registry snapshot is damaged (not a whole compressed JSON file)"
    from explorer.cli import main

    with pytest.warns(UserWarning, match=r"^the registry snapshot is damaged \(not a whole compressed JSON file\); measuring the models live$"):
        assert main(["models", "--family", "LeNet"]) == 0
    assert "lenet5_small" in capsys.readouterr().out
