"""Weights choices: what a model offers, building with each, and remembering per model."""

from __future__ import annotations

import json

import pytest
import torch

from explorer import loading as choices
from explorer.errors import ModelError
from explorer.loading import (
    available_weights,
    build_with_weights,
    default_weights,
    load_model,
    seed_for,
)
from explorer.session import WeightsChoice
from explorer.train import RunRecord, save_checkpoint
from explorer.weights_choice import WeightsMemory


def _run(tmp_path, name="lenet_small", run_id="r1", acc=0.81, write=True) -> RunRecord:
    path = tmp_path / f"{run_id}.pt"
    if write:
        torch.manual_seed(11)
        from explorer.models import get_model

        save_checkpoint(path, model_name=name, config={}, epoch=2,
                        model_state=get_model(name).state_dict())
    return RunRecord(run_id=run_id, model=name, config={}, status="completed",
                     curves={"epoch": [1, 2], "test_acc": [0.7, acc]}, final={"test_acc": acc},
                     checkpoint=str(path))


def test_random_weights_have_one_stable_seed_per_model():
    assert seed_for("lenet_small") == seed_for("lenet_small") != seed_for("alexnet_small")
    assert default_weights("resnet101_small") == WeightsChoice("random", seed=seed_for("resnet101_small"))
    choice = WeightsChoice("random", seed=seed_for("lenet_small"))
    a, b = (build_with_weights("lenet_small", choice) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    other = build_with_weights("lenet_small", WeightsChoice("random", seed=choice.seed + 1))
    assert not torch.equal(next(a.parameters()), next(other.parameters()))


def test_defaults_prefer_shipped_then_imagenet(monkeypatch):
    assert default_weights("resnet18").kind == "imagenet"
    entry = type("Entry", (), {"test_accuracy": 0.912})()
    monkeypatch.setattr("explorer.models.shipped.shipped_entry",
                        lambda name: entry if name == "lenet_small" else None)
    shipped = default_weights("lenet_small")
    assert shipped.kind == "shipped" and shipped.label() == "Fashion-MNIST, shipped: test 0.912"
    assert available_weights("lenet_small", runs=[])[0] == shipped


def test_runs_with_a_checkpoint_are_offered_and_build(tmp_path):
    kept = _run(tmp_path)
    gone = _run(tmp_path, run_id="r2", write=False)
    other = _run(tmp_path, name="alexnet_small", run_id="r3", write=False)
    offered = available_weights("lenet_small", runs=[kept, gone, other])
    runs = [c for c in offered if c.kind == "run"]
    assert runs == [WeightsChoice("run", path=kept.checkpoint, run_id="r1", epoch=2, test_accuracy=0.81)]
    assert offered[-1].kind == "random"
    model = build_with_weights("lenet_small", runs[0])
    torch.manual_seed(11)
    from explorer.models import get_model

    assert torch.equal(next(model.parameters()), next(get_model("lenet_small").parameters()))
    with pytest.raises(ModelError, match="holds lenet_small"):
        build_with_weights("alexnet_small", runs[0])


def test_default_falls_back_to_random_when_imagenet_cannot_be_had(monkeypatch):
    monkeypatch.setattr(choices, "_build", _offline_imagenet(choices._build))
    loaded = load_model("resnet18", None)
    assert loaded.weights == WeightsChoice("random", seed=seed_for("resnet18"))
    assert loaded.fallback and loaded.requested is None and "offline" in loaded.notice


def test_a_chosen_weights_that_fail_keep_what_was_shown_else_random(monkeypatch):
    monkeypatch.setattr(choices, "_build", _offline_imagenet(choices._build))
    imagenet = WeightsChoice("imagenet")
    loaded = load_model("resnet18", imagenet)
    assert loaded.fallback and loaded.requested == imagenet
    assert loaded.weights == WeightsChoice("random", seed=seed_for("resnet18"))
    assert "cannot use ImageNet" in loaded.notice and "showing random weights" in loaded.notice
    shown = load_model("resnet18", WeightsChoice("random", seed=4))
    kept = load_model("resnet18", imagenet, previous=shown)
    assert kept.module is shown.module and kept.weights == shown.weights and kept.requested == imagenet
    assert "keeping random (seed 4)" in kept.notice
    other = load_model("resnet34", imagenet, previous=shown)  # another model's: not kept
    assert other.module is not shown.module and other.weights.kind == "random"


def test_a_loaded_model_knows_its_facts_classes_input_and_structure():
    loaded = load_model("lenet_small", WeightsChoice("random", seed=1))
    assert loaded.info.name == "lenet_small" and loaded.num_classes == 10 and len(loaded.class_names) == 10
    assert loaded.input_spec.in_channels == 1 and loaded.input_spec.input_size == (28, 28)
    assert loaded.structure == ("lenet_small", ()) and not loaded.trained and not loaded.module.training


def _offline_imagenet(real):
    def build(name, choice, *rest):
        if choice.kind == "imagenet":
            raise ModelError(f"no ImageNet weights available offline for {name}; using random weights")
        return real(name, choice, *rest)
    return build


def test_memory_round_trips_and_forgets_missing_files(tmp_path):
    path = tmp_path / "config" / "weights.json"
    memory = WeightsMemory(path)
    checkpoint = tmp_path / "a.pt"
    checkpoint.write_bytes(b"x")
    run = WeightsChoice("run", path=str(checkpoint), run_id="a", epoch=3, test_accuracy=0.83)
    memory.remember("resnet18_small", run)
    memory.remember("lenet_small", WeightsChoice("random", seed=5))
    again = WeightsMemory(path)
    assert again.recall("resnet18_small") == run and again.warning is None
    assert again.recall("lenet_small") == WeightsChoice("random", seed=5)
    checkpoint.unlink()
    assert WeightsMemory(path).recall("resnet18_small") is None


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", json.dumps({"a": {"kind": "quantum"}})])
def test_bad_memory_file_is_empty_with_one_warning(tmp_path, content):
    path = tmp_path / "weights.json"
    path.write_text(content, encoding="utf-8")
    with pytest.warns(UserWarning):
        memory = WeightsMemory(path)
    assert memory.recall("a") is None and memory.warning
    memory.remember("a", WeightsChoice("random", seed=1))
    assert WeightsMemory(path).recall("a") == WeightsChoice("random", seed=1)


def test_a_run_choice_loads_the_epoch_it_names_or_says_which_it_loads(tmp_path, fashion_root):
    """A run remembered at epoch 1 that went on to epoch 2: the kept snapshot of epoch 1
    loads; without snapshots the checkpoint (epoch 2) loads and the label says so."""
    import shutil

    import torch

    from explorer.loading import load_model
    from explorer.session import WeightsChoice
    from explorer.train import Trainer, make_config
    from explorer.train.snapshots import snapshot_folder

    checkpoint = tmp_path / "run.pt"
    config = make_config(model="lenet_small", epochs=2, subset=256, device="cpu", width_mult=0.5)
    for _event in Trainer(config, data_root=str(fashion_root), download=False, checkpoint_path=str(checkpoint)).run():
        pass
    first = WeightsChoice("run", path=str(checkpoint), run_id="r", epoch=1, test_accuracy=0.5)
    built = load_model("lenet_small", first)
    assert built.weights == first and not built.fallback
    snapshot = torch.load(snapshot_folder(checkpoint) / "epoch-0001.pt", weights_only=True)["model_state"]
    name, tensor = next(iter(snapshot.items()))
    assert torch.allclose(built.module.state_dict()[name], tensor.float())
    assert built.module.state_dict()[name].shape == tensor.shape  # built at the run's width
    # The graph is asked for by structure: the run's builder options, not the default's.
    assert built.structure == ("lenet_small", (("width_mult", 0.5),))

    shutil.rmtree(snapshot_folder(checkpoint))
    built = load_model("lenet_small", first)
    assert built.weights.epoch == 2 and built.weights.test_accuracy != 0.5
    assert "epoch 2" in built.weights.label()
