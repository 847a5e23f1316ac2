"""`cnn-explorer models` and `cnn-explorer summary`."""

from __future__ import annotations

import json

from explorer.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_json_for_one_family(capsys):
    code, out, err = _run(capsys, "models", "--json", "--family", "lenet")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["lenet5", "lenet5_small", "lenet", "lenet_small"]
    lenet = rows[2]
    assert lenet["family"] == "LeNet" and lenet["form"] == "reference"
    assert lenet["input_shape"] == [1, 1, 28, 28]
    assert lenet["params"] == lenet["reference_params"] == 61_706
    assert lenet["flops"] == 2 * lenet["macs"] > 0
    assert lenet["title"] and lenet["year"] == 1998


def test_models_table_filters_by_form(capsys):
    code, out, _ = _run(capsys, "models", "--form", "small", "--family", "ResNet")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "family", "form", "input", "params", "FLOPs", "MACs", "year"]
    names = [line.split()[0] for line in lines[2:]]
    assert names == ["resnet18_small", "resnet34_small", "resnet50_small", "resnet101_small", "resnet152_small"]
    assert "701,178" in out and "1x28x28" in out


def test_models_table_reference_numbers(capsys):
    code, out, _ = _run(capsys, "models", "--family", "VGG", "--form", "reference")
    assert code == 0
    vgg16 = next(line for line in out.splitlines() if line.startswith("vgg16 "))
    assert "138,357,544" in vgg16 and "15.47 G" in vgg16


def test_unknown_family_exits_1_with_one_line(capsys):
    code, out, err = _run(capsys, "models", "--family", "Transformer")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: unknown family 'Transformer'")


def test_summary_json(capsys):
    code, out, _ = _run(capsys, "summary", "lenet5", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["name"] == "lenet5" and payload["input_shape"] == [1, 1, 32, 32]
    layers = {layer["path"]: layer for layer in payload["layers"]}
    assert layers["c3"]["params"] == 1_516 and layers["c3"]["type"] == "ConnectionTableConv2d"
    assert layers["c1"]["output_shape"] == [1, 6, 28, 28]
    assert payload["trainable_params"] == 60_000
    assert payload["total_params"] == 60_000
    assert payload["total_flops"] == sum(layer["flops"] for layer in payload["layers"])


def test_summary_table_with_aux_note(capsys):
    code, out, _ = _run(capsys, "summary", "googlenet_small")
    assert code == 0
    assert "inception3a.branch3.1.conv" in out
    assert "total: 456,410 trainable parameters" in out
    assert out.rstrip().endswith("are not counted above")


def test_summary_unknown_name_exits_1_with_one_line(capsys):
    code, out, err = _run(capsys, "summary", "resnet9")
    assert code == 1 and out == ""
    assert err == ("error: unknown model 'resnet9'; `cnn-explorer models` lists them, "
                   "or open a .pt2 program or a file.py:Class\n")
