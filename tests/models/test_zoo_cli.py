"""`cnn-explorer zoo train|list` on the tiny generated set (no real training in tests)."""

from __future__ import annotations

import json

import torch

from explorer.cli import main
from explorer.models import get_model, shipped
from explorer.train.evaluation import accuracy_on


def test_zoo_train_writes_half_precision_weights_and_a_manifest(tiny_fashion_root, tmp_path, capsys):
    out = tmp_path / "weights"
    code = main(["zoo", "train", "--models", "lenet_small", "--epochs", "1", "--threads", "1",
                 "--data-dir", str(tiny_fashion_root), "--device", "cpu", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "lenet_small" in captured.out and "test" in captured.out  # the summary table
    assert "epoch 1/1" in captured.err  # the progress lines
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    record = manifest["models"]["lenet_small"]
    assert record["epochs"] == 1 and record["recipe"]["label_smoothing"] == 0.1
    assert record["recipe"]["val_fraction"] == 0.0 and record["recipe"]["optimizer"] == "adam"
    assert record["dataset"]["train_images"] == 600 and record["dataset"]["test_images"] == 200
    assert record["dataset"]["full"] is False and "subset" in record["dataset"]["note"]
    assert record["command"].startswith("cnn-explorer zoo train --models lenet_small")
    assert "resnet152_small" in manifest["excluded"]
    state = torch.load(out / record["file"], weights_only=True)
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
    # The manifest's accuracy is the stored weights' accuracy, as loaded by the app.
    model = get_model("lenet_small")
    entry = shipped.load_shipped(model, "lenet_small", out)
    data_images, data_labels = _test_split(tiny_fashion_root)
    assert abs(accuracy_on(model, "lenet_small", data_images, data_labels) - entry.test_accuracy) < 1e-6

    assert main(["zoo", "list", "--dir", str(out)]) == 0
    listed = capsys.readouterr().out
    assert "lenet_small" in listed and "not shipped: resnet101_small" in listed


def _test_split(root):
    from explorer.train.data import load_fashion_mnist

    data = load_fashion_mnist(root, "cpu", val_fraction=0.0)
    return data.test_images, data.test_labels


def test_zoo_train_refuses_excluded_and_unknown_models(tiny_fashion_root, tmp_path, capsys):
    code = main(["zoo", "train", "--models", "resnet152_small", "--data-dir", str(tiny_fashion_root),
                 "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "no zoo recipe for resnet152_small" in err and "30 MB" in err and err.count("\n") == 1
    assert not (tmp_path / "manifest.json").exists()


def test_zoo_list_without_weights(tmp_path, capsys):
    assert main(["zoo", "list", "--dir", str(tmp_path)]) == 0
    assert "no shipped weights" in capsys.readouterr().out
