"""`cnn-explorer rf`, `explain` and `knockout`: JSON out, overlays, one-line errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from explorer.cli import main

from .conftest import TRAINED_MODEL


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rf_json_with_a_unit_box(capsys):
    code, out, err = _run(capsys, "rf", "resnet18_small", "--layer", "layer2", "--pixel", "0", "6", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["module_path"].startswith("layer2.1") and payload["input_size"] == [28, 28]
    stride, offset, size = payload["stride"][1], payload["offset"][1], payload["size"][1]
    assert payload["unit"]["box"][1] == 6 * stride + offset
    assert payload["unit"]["box"][3] == 6 * stride + offset + size - 1
    assert payload["unit"]["clipped"][0] == 0 and payload["unit"]["padding"][0] == -offset
    code, out, err = _run(capsys, "rf", "resnet18_small", "--layer", "layer2")
    assert code == 0 and f"stride {stride} px" in out


@pytest.mark.parametrize("argv, message", [
    (["rf", "resnet18_small", "--layer", "layer9"], "unknown layer"),
    (["rf", "resnet18_small", "--layer", "layer4", "--pixel", "0", "9"], "outside"),
    (["explain", "resnet18_small", "sample", "--target", "10"], "out of range"),
    (["explain", "resnet18_small", "sample", "--layer", "nowhere"], "unknown layer"),
    (["explain", "resnet18_small", "sample", "--layer", "fc"], "no spatial feature map"),
    (["knockout", "resnet18_small", "--remove", "layer1.0:groupx"], "valid forms"),
    (["knockout", "resnet50", "--remove", "layer1.0:shortcut"], "small form"),
])
def test_bad_input_is_one_line_and_exit_1(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_explain_json_and_overlay_with_weights_file(capsys, trained, tmp_path):
    _, weights = trained
    png = tmp_path / "overlay.png"
    code, out, err = _run(capsys, "explain", TRAINED_MODEL, "sample", "--weights", str(weights),
                          "--out", str(png), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["trained"] and payload["method"] == "gradcam" and payload["layer"]
    assert payload["map"]["shape"] == [28, 28] and payload["map"]["max"] >= payload["map"]["min"]
    assert payload["target"] == {"index": payload["predicted"]["index"], "name": payload["predicted"]["name"]}
    assert "Grad-CAM" in payload["caption"]
    with Image.open(png) as image:
        assert image.size == (448, 448) and image.mode == "RGBA"
    code, out, err = _run(capsys, "explain", TRAINED_MODEL, "sample", "--weights", str(weights),
                          "--method", "occlusion", "--target", "3")
    assert code == 0, err
    assert "explained: 3 Dress" in out and "Occlusion" in out


def test_knockout_reports_accuracy_before_and_after(capsys, trained, tiny_fashion_root):
    _, weights = trained
    code, out, err = _run(capsys, "knockout", TRAINED_MODEL, "--weights", str(weights),
                          "--data-dir", str(tiny_fashion_root), "--images", "100",
                          *[arg for c in range(6) for arg in ("--remove", f"conv1:{c}")], "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["images"] == 100 and len(payload["knockouts"]) == 6
    assert payload["accuracy_before"] > 0.9 > 0.5 > payload["accuracy_after"]
    assert payload["change"] == pytest.approx(payload["accuracy_after"] - payload["accuracy_before"])
