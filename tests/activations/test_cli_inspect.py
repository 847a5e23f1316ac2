"""`cnn-explorer inspect`: top-5, layer statistics, mosaic PNG, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cli import main
from explorer.models import get_model

MODEL = "lenet5_small"


def _run(capsys, *argv):
    code = main(["inspect", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_and_mosaic(capsys, tmp_path):
    out_png = tmp_path / "maps.png"
    code, out, err = _run(capsys, "resnet18_small", "sample", "--layer", "layer1",
                          "--out", str(out_png), "--json", "--device", "cpu")
    assert code == 0, err
    payload = json.loads(out)
    # Small forms ship trained (resources/weights): the default sample is an ankle boot.
    assert payload["trained"] is True and payload["note"] is None
    assert payload["top5"][0]["name"] == "Ankle boot"
    assert len(payload["top5"]) == 5
    assert {p["name"] for p in payload["top5"]} <= {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
        "Bag", "Ankle boot"}
    layer = payload["layer"]
    assert layer["module_path"].startswith("layer1.") and layer["min"] >= 0.0
    assert 0.0 <= layer["zero_share"] <= 1.0 and layer["shape"][0] == 1
    assert payload["mosaic"]["channels"] == layer["shape"][1]
    with Image.open(out_png) as png:
        assert png.mode == "RGBA" and min(png.size) >= 128


def test_text_output_with_trained_weights(capsys, tmp_path):
    weights = tmp_path / "w.pt"
    torch.save(get_model(MODEL).state_dict(), weights)
    image = tmp_path / "boot.png"
    Image.new("L", (40, 30), 200).save(image)
    code, out, err = _run(capsys, MODEL, str(image), "--weights", str(weights))
    assert code == 0, err
    assert "trained weights" in out and "untrained" not in out
    assert "top-5:" in out and "layer:" in out and "zeros in this map" in out
    assert "sparsity" not in out.lower()  # the overlay's per-layer zero fraction is another figure
    assert "inverted" in out  # bright background for a Fashion-MNIST model


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        (lambda p: p.write_text("hello"), "is not an image"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "not an image"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: None, "file not found"),
    ],
    ids=["zero-byte", "text", "bad-png", "folder", "missing"],
)
def test_bad_images_exit_1_with_one_line(capsys, tmp_path, make, expected):
    path = tmp_path / "input.png"
    make(path)
    code, out, err = _run(capsys, MODEL, str(path))
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]


def test_truncated_jpeg_exits_1(capsys, tmp_path):
    path = tmp_path / "cut.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:600])
    code, _, err = _run(capsys, MODEL, str(path))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "truncated" in err


def test_user_errors_for_model_layer_and_weights(capsys, tmp_path):
    code, _, err = _run(capsys, "no_such_model", "sample")
    assert code == 1 and "unknown model" in err
    code, _, err = _run(capsys, MODEL, "sample", "--layer", "nowhere")
    assert code == 1 and "no node or module named 'nowhere'" in err
    bad = tmp_path / "bad.pt"
    bad.write_text("not weights")
    code, _, err = _run(capsys, MODEL, "sample", "--weights", str(bad))
    assert code == 1 and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, MODEL, "sample:nothing")
    assert code == 1 and "unknown sample" in err


def test_reference_model_uses_cached_imagenet_weights_when_present(capsys, monkeypatch):
    import explorer.models.weights as weights

    calls = []

    def fake_load_pretrained(name, allow_download=True, **_):
        calls.append((name, allow_download))
        return weights.Pretrained(
            get_model("resnet18"), True, "loaded ImageNet weights ResNet18_Weights.IMAGENET1K_V1 for resnet18"
        )

    monkeypatch.setattr(weights, "load_pretrained", fake_load_pretrained)
    code, out, err = _run(capsys, "resnet18", "sample:shapes", "--json", "--layer", "conv1")
    assert code == 0, err
    payload = json.loads(out)
    assert calls == [("resnet18", False)]  # the CLI never downloads
    assert payload["trained"] is True and payload["note"] is None
    assert "ImageNet (torchvision)" in payload["notices"][-1]
    assert payload["layer"]["shape"] == [1, 64, 112, 112]


def test_reference_model_without_cached_weights_says_untrained(capsys):
    code, out, err = _run(capsys, "resnet18", "sample:shapes", "--json", "--layer", "conv1")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["trained"] is False and "untrained weights" in payload["note"]
    assert any("no ImageNet weights available offline" in n for n in payload["notices"])
