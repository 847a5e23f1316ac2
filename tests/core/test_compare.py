"""`compare`: two models or two epochs on one image, at matching stages."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from explorer.cli import main
from explorer.compare import compare, load_subject
from explorer.errors import UserError
from explorer.train import RunHistory, TrainConfig, Trainer, load_fashion_mnist


@pytest.fixture
def lenet_run(tiny_fashion_root, tmp_path):
    cfg = TrainConfig(model="lenet_small", epochs=2, batch_size=64, lr=3e-3, optimizer="adam", device="cpu", subset=300)
    trainer = Trainer(cfg, data=load_fashion_mnist(tiny_fashion_root, "cpu", seed=0, subset=300),
                      history=RunHistory(), checkpoint_path=tmp_path / "run.pt")
    for _ in trainer.run():
        pass
    return trainer.record.run_id


@pytest.fixture
def image():
    return Image.new("L", (28, 28), 40)


def test_same_weights_match_and_epochs_differ(lenet_run, image):
    same = compare(load_subject(f"{lenet_run}@2"), load_subject(f"{lenet_run}@last"), image)
    labels = [s["a_stage"] for s in same["stages"]]
    assert labels[-1] == "classifier" and len(labels) >= 3 and labels == [s["b_stage"] for s in same["stages"]]
    assert all(s["max_abs_diff"] == 0 and s["cosine"] == pytest.approx(1) for s in same["stages"])
    moved = compare(load_subject(f"{lenet_run}@0"), load_subject(f"{lenet_run}@2"), image)
    assert all(s["a_shape"] == s["b_shape"] for s in moved["stages"])
    assert moved["stages"][-1]["max_abs_diff"] > 0
    with pytest.raises(UserError, match="epoch 7"):
        load_subject(f"{lenet_run}@7")


def test_different_models_pair_by_stage_and_report_shapes(image):
    result = compare(load_subject("resnet18_small"), load_subject("lenet_small"), image)
    first = result["stages"][0]
    assert first["a_stage"] == "layer1" and first["b_stage"].startswith("pool")
    assert first["a_shape"] != first["b_shape"] and first["mean_abs_diff"] is None
    assert result["stages"][-1]["a_shape"] == result["stages"][-1]["b_shape"] == [1, 10]


def test_cli_json_and_png(lenet_run, tmp_path, capsys):
    out = tmp_path / "cmp.png"
    assert main(["compare", f"{lenet_run}@1", "lenet_small", "--image", "sample", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["a"]["weights"].startswith("run ") and result["png"] == str(out)
    assert Image.open(out).height > 96
    assert main(["compare", "lenet_small", "nope_model", "--image", "sample"]) == 1
