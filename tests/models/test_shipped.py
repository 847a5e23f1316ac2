"""The shipped Fashion-MNIST weights: the manifest matches the files, each file loads and
scores its manifest accuracy, and the loader refuses anything damaged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.errors import ModelError
from explorer.models import get_model, list_models, shipped
from explorer.models.zoo import ZOO_EPOCHS, ZOO_EXCLUDED
from explorer.train.data import RAW_FILES, load_fashion_mnist
from explorer.train.evaluation import accuracy_on

FOLDER = shipped.weights_folder()
MANIFEST = shipped.read_manifest(FOLDER)
SHIPPED = sorted(MANIFEST["models"])
SIZE_CAP = 30 * 1024 * 1024


def test_manifest_lists_exactly_the_weight_files():
    files = {p.name for p in FOLDER.glob("*.pt")}
    listed = {record["file"] for record in MANIFEST["models"].values()}
    assert files == listed
    assert SHIPPED, "no shipped weights"


def test_the_set_fits_the_size_cap():
    assert sum((FOLDER / r["file"]).stat().st_size for r in MANIFEST["models"].values()) < SIZE_CAP


@pytest.mark.parametrize("name", SHIPPED)
def test_manifest_record_matches_its_file(name):
    record = MANIFEST["models"][name]
    path = FOLDER / record["file"]
    assert path.stat().st_size == record["bytes"]
    assert shipped.sha256_file(path) == record["sha256"]
    state = torch.load(path, map_location="cpu", weights_only=True)
    floats = [t for t in state.values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
    model = get_model(name)
    assert record["params"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    # Every field a reader relies on is there and plausible.
    assert name in list_models(form="small") and name in ZOO_EPOCHS and name not in ZOO_EXCLUDED
    assert record["command"].startswith("cnn-explorer zoo train") and name in record["command"]
    assert record["recipe"]["model"] == name and record["recipe"]["epochs"] == record["epochs"]
    assert record["dataset"]["name"] == "Fashion-MNIST"
    assert set(record["dataset"]["sha256"]) == set(RAW_FILES)
    assert record["dataset"]["train_images"] > 0 and record["dataset"]["test_images"] > 0
    assert 0.0 < record["test_accuracy"] <= 1.0 and 0.0 < record["train_accuracy"] <= 1.0
    assert record["torch"] and record["date"] and record["seed"] == record["recipe"]["seed"]


def test_excluded_forms_say_why_and_ship_nothing():
    assert MANIFEST["excluded"] == ZOO_EXCLUDED
    for name in ZOO_EXCLUDED:
        assert shipped.shipped_entry(name) is None


def _dataset_matches(root: Path, record: dict) -> bool:
    raw = root / "FashionMNIST" / "raw"
    return all(
        (raw / stem).is_file() and shipped.sha256_file(raw / stem) == digest
        for stem, digest in record["dataset"]["sha256"].items()
    )


@pytest.fixture(scope="module")
def scored_data(fashion_root):
    """The data the manifest was scored on, or a skip saying why it is not here."""
    record = MANIFEST["models"][SHIPPED[0]]
    if not _dataset_matches(fashion_root, record):
        pytest.skip(
            f"the shipped weights were scored on {record['dataset']['note']}; "
            f"{fashion_root} holds other images (the tiny generated set?), so their accuracy cannot be checked here"
        )
    return load_fashion_mnist(fashion_root, "cpu", val_fraction=0.0)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_reach_their_manifest_accuracy(name, scored_data):
    # Two threads when the suite runs alone; one per xdist worker, two of which share the
    # two cores (two threads each made every later test on that worker slower).
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
    model = get_model(name)
    entry = shipped.load_shipped(model, name)
    assert len(scored_data.test_labels) == entry.dataset["test_images"]
    accuracy = accuracy_on(model, name, scored_data.test_images, scored_data.test_labels)
    assert abs(accuracy - entry.test_accuracy) <= 0.01, (name, accuracy, entry.test_accuracy)


def test_resnet18_small_names_the_builtin_fashion_samples():
    from explorer.activations.predictions import FASHION_MNIST_CLASSES
    from explorer.activations.samples import SAMPLES, load_sample

    model = get_model("resnet18_small").eval()
    shipped.load_shipped(model, "resnet18_small")
    fashion = [s for s in SAMPLES if s.file.startswith("fashion_")]
    assert len(fashion) == 10
    images = []
    labels = []
    for sample in fashion:
        grey = load_sample(sample.name).image.convert("L")
        images.append(torch.from_numpy(np.array(grey, dtype=np.uint8)))
        labels.append(int(sample.file.split("_")[1]))
    accuracy_hits = accuracy_on(model, "resnet18_small", torch.stack(images), torch.tensor(labels))
    assert accuracy_hits >= 0.9, f"{accuracy_hits * 10:.0f}/10 of {[FASHION_MNIST_CLASSES[i] for i in labels]}"


def test_entry_label_shows_the_test_accuracy():
    entry = shipped.shipped_entry(SHIPPED[0])
    assert entry is not None
    assert entry.label == f"Fashion-MNIST, shipped: test {entry.test_accuracy:.3f}"
    assert shipped.shipped_entry("no_such_model") is None


# ------------------------------------------------------------- the loader refuses damage


def _ship(folder: Path, name: str = "lenet_small", state: dict | None = None) -> Path:
    model = get_model(name)
    path = folder / f"{name}.pt"
    if state is None:
        shipped.save_compact(model, path)
    else:
        torch.save(state, path)
    record = {
        "file": path.name,
        "sha256": shipped.sha256_file(path),
        "bytes": path.stat().st_size,
        "test_accuracy": 0.5,
        "train_accuracy": 0.5,
        "epochs": 1,
        "seed": 0,
        "command": f"cnn-explorer zoo train --models {name}",
    }
    shipped.write_manifest({"format": 1, "models": {name: record}}, folder)
    return path


def test_round_trip_loads_half_precision_into_fp32(tmp_path):
    source = get_model("lenet_small")
    shipped.save_compact(source, tmp_path / "x.pt")
    _ship(tmp_path, state=torch.load(tmp_path / "x.pt", weights_only=True))
    target = get_model("lenet_small")
    entry = shipped.load_shipped(target, "lenet_small", tmp_path)
    assert entry.epochs == 1
    for key, value in target.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.allclose(value, source.state_dict()[key], atol=1e-3)


def test_changed_file_fails_the_hash_check(tmp_path):
    path = _ship(tmp_path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ModelError, match="hash"):
        shipped.load_shipped(get_model("lenet_small"), "lenet_small", tmp_path)


def test_non_finite_tensors_are_refused(tmp_path):
    state = shipped.compact_state(get_model("lenet_small"))
    state["fc3.bias"][0] = float("nan")
    _ship(tmp_path, state=state)
    with pytest.raises(ModelError, match="NaN"):
        shipped.load_shipped(get_model("lenet_small"), "lenet_small", tmp_path)


def test_pickled_objects_are_refused(tmp_path):
    _ship(tmp_path, state={"fc3.bias": torch.zeros(10), "extra": Path("x")})
    with pytest.raises(ModelError, match="unreadable"):
        shipped.load_shipped(get_model("lenet_small"), "lenet_small", tmp_path)


def test_weights_for_another_model_do_not_fit(tmp_path):
    _ship(tmp_path, name="lenet_small")
    with pytest.raises(ModelError, match="do not fit"):
        shipped.load_shipped(get_model("lenet5_small"), "lenet_small", tmp_path)


def test_missing_entry_file_and_broken_manifest(tmp_path):
    with pytest.raises(ModelError, match="no shipped"):
        shipped.load_shipped(get_model("lenet_small"), "lenet_small", tmp_path)
    path = _ship(tmp_path)
    path.unlink()
    with pytest.raises(ModelError, match="missing"):
        shipped.load_shipped(get_model("lenet_small"), "lenet_small", tmp_path)
    (tmp_path / shipped.MANIFEST).write_text("{not json", encoding="utf-8")
    assert shipped.shipped_entry("lenet_small", tmp_path) is None
    with pytest.raises(ModelError, match="unreadable"):
        shipped.load_shipped(get_model("lenet_small"), "lenet_small", tmp_path)


def test_manifest_is_stable_json(tmp_path):
    _ship(tmp_path)
    text = (tmp_path / shipped.MANIFEST).read_text(encoding="utf-8")
    assert json.loads(text)["models"]["lenet_small"]["epochs"] == 1
    assert text.endswith("\n")


@pytest.mark.parametrize("name", SHIPPED)
def test_manifest_recipe_is_what_zoo_train_would_use_now(name):
    # Weights must come from the recorded command: the recipe the code gives today for this
    # model must be the one stored with its weights (data and device aside).
    from explorer.train import TrainConfig, make_config
    from explorer.train.recipes import zoo_recipe

    record = MANIFEST["models"][name]
    expected = make_config(None, **zoo_recipe(name), device=record["recipe"]["device"]).to_dict()
    # Read as today's code reads it: options added since (snapshot keeping) take their defaults.
    assert TrainConfig.from_dict(record["recipe"]).to_dict() == expected
