"""`cnn-explorer train`: JSON result line, CSV log, checkpoint, and user-error exits."""

from __future__ import annotations

import csv
import json

import pytest

from explorer.cli import main
from explorer.train import load_checkpoint


def test_json_line_log_and_checkpoint(tiny_fashion_root, tmp_path, capsys):
    out, log = tmp_path / "ck" / "run.pt", tmp_path / "run.csv"
    code = main([
        "train", "lenet_small", "--epochs", "2", "--batch-size", "64", "--lr", "0.003",
        "--optimizer", "adam", "--subset", "300", "--data-dir", str(tiny_fashion_root),
        "--device", "cpu", "--out", str(out), "--log", str(log), "--json",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert {"test_acc", "train_acc", "epochs", "images_per_s"} <= result.keys()
    assert result["epochs"] == 2 and result["images_per_s"] > 0 and 0 <= result["test_acc"] <= 1
    assert result["config"]["optimizer"] == "adam" and result["test_images"] == 200
    assert "epoch 2/2: train_loss" in captured.err  # progress goes to stderr
    rows = list(csv.DictReader(log.open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[-1]["test_acc"]) == result["test_acc"]
    assert load_checkpoint(out)["epoch"] == 2


def test_preset_with_overrides_and_plain_output(tiny_fashion_root, capsys):
    code = main(["train", "lenet", "--preset", "textbook-lenet", "--epochs", "1", "--subset", "200",
                 "--data-dir", str(tiny_fashion_root), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("lenet: train_acc ") and "images/s over 1 epochs" in captured.out


def test_missing_data_exits_1_naming_the_folder(tmp_path, capsys, monkeypatch):
    from torchvision.datasets import FashionMNIST

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://..., got:\n"
                           "<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(FashionMNIST, "download", offline)
    (tmp_path / "empty").mkdir()
    code = main(["train", "lenet_small", "--data-dir", str(tmp_path / "empty"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: Fashion-MNIST could not be downloaded") and "empty/FashionMNIST/raw" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "no_such_net"], "unknown model 'no_such_net'"),
        # --epochs 0 and --subset 3 are argparse's usage errors now: tests/core/test_cli_bounds.py
    ],
)
def test_user_errors_exit_1(argv, message, tiny_fashion_root, capsys):
    code = main([*argv, "--data-dir", str(tiny_fashion_root), "--device", "cpu"])
    assert code == 1 and message in capsys.readouterr().err
