"""Weights choices: what a model offers, building with each, and remembering per model."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.errors import ModelError
from explorer.models import choices
from explorer.models.choices import (
    WeightsMemory,
    available_weights,
    build_with_weights,
    default_weights,
    resolve_and_build,
    seed_for,
)
from explorer.session import WeightsChoice
from explorer.train import RunRecord, save_checkpoint


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
    monkeypatch.setattr(choices, "build_with_weights", _offline_imagenet(choices.build_with_weights))
    built = resolve_and_build("resnet18", None)
    assert built.choice == WeightsChoice("random", seed=seed_for("resnet18"))
    assert "offline" in built.notice
    with pytest.raises(ModelError):
        resolve_and_build("resnet18", WeightsChoice("imagenet"))


def _offline_imagenet(real):
    def build(name, choice):
        if choice.kind == "imagenet":
            raise ModelError(f"no ImageNet weights available offline for {name}; using random weights")
        return real(name, choice)
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

    from explorer.models.choices import resolve_and_build
    from explorer.session import WeightsChoice
    from explorer.train import Trainer, make_config
    from explorer.train.snapshots import snapshot_folder

    checkpoint = tmp_path / "run.pt"
    config = make_config(model="lenet_small", epochs=2, subset=256, device="cpu", width_mult=0.5)
    for _event in Trainer(config, data_root=str(fashion_root), download=False, checkpoint_path=str(checkpoint)).run():
        pass
    first = WeightsChoice("run", path=str(checkpoint), run_id="r", epoch=1, test_accuracy=0.5)
    built = resolve_and_build("lenet_small", first)
    assert built.choice == first
    snapshot = torch.load(snapshot_folder(checkpoint) / "epoch-0001.pt", weights_only=True)["model_state"]
    name, tensor = next(iter(snapshot.items()))
    assert torch.allclose(built.model.state_dict()[name], tensor.float())
    assert built.model.state_dict()[name].shape == tensor.shape  # built at the run's width

    shutil.rmtree(snapshot_folder(checkpoint))
    built = resolve_and_build("lenet_small", first)
    assert built.choice.epoch == 2 and built.choice.test_accuracy != 0.5
    assert "epoch 2" in built.choice.label()
