"""Fault tests for weight files: planted malicious pickles never run, bad tensors are
refused by name, JSON output stays JSON.

The malicious payloads are live: unpickling any of them runs a shell command that creates
a marker file. Every test asserts the marker never appears.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from explorer.models import ModelError, get_model, load_pretrained, load_state_dict_file, weights_cache_path
from explorer.models import weights as weights_module
from explorer.models import weight_files as weight_files_module
from explorer.models.weights import pickled_code_in, read_torch_file, validate_state_dict
from explorer.train import CheckpointError, load_checkpoint

RESNET18 = "ResNet18_Weights.IMAGENET1K_V1"
REPO = Path(__file__).resolve().parents[2]


class Shell:
    """Unpickling this runs ``touch MARKER`` through the shell."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _legacy_torch_save(obj, f) -> None:
    torch.save(obj, f, _use_new_zipfile_serialization=False)


def payloads(marker: Path) -> dict[str, bytes]:
    """Twelve ways a weights file can carry the shell payload."""
    evil = Shell(marker)
    out: dict[str, bytes] = {}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):  # 0..5
        out[f"raw-pickle-p{protocol}"] = pickle.dumps(evil, protocol=protocol)
    out["raw-pickle-in-dict"] = pickle.dumps({"fc.weight": evil}, protocol=2)
    for name, save in (("zip", torch.save), ("legacy", _legacy_torch_save)):
        for shape in ("bare", "in-state-dict", "in-checkpoint"):
            if shape == "bare":
                obj = evil
            elif shape == "in-state-dict":
                obj = {"fc.weight": torch.zeros(2), "fc.bias": evil}
            else:
                obj = {"format": "cnn-explorer-checkpoint", "version": 1, "model_name": "lenet",
                       "config": {}, "epoch": 1, "model_state": {"w": torch.zeros(1)}, "x": evil}
            buffer = io.BytesIO()
            save(obj, buffer)
            out[f"torch-{name}-{shape}"] = buffer.getvalue()
    # 6 raw pickles + 1 + 6 torch files = 13; drop one duplicate shape to keep the 12.
    out.pop("raw-pickle-p1")
    return out


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a pickled payload ran"


def test_the_payloads_are_live(tmp_path):
    """Guard: unpickling a payload really runs the command (else the tests prove nothing)."""
    marker = tmp_path / "live"
    pickle.loads(payloads(marker)["raw-pickle-p2"])
    assert marker.exists()


@pytest.mark.parametrize("kind", sorted(payloads(Path("x"))))
def test_weights_file_with_pickled_code_is_refused_by_name(kind, tmp_path, marker):
    path = tmp_path / "w.pt"
    path.write_bytes(payloads(marker)[kind])
    with pytest.raises(ModelError, match="this file contains pickled code .*: refused"):
        load_state_dict_file(get_model("lenet"), path)
    assert pickled_code_in(path)


@pytest.mark.parametrize("kind", ["raw-pickle-p2", "torch-zip-bare", "torch-legacy-in-state-dict"])
def test_checkpoint_with_pickled_code_is_refused(kind, tmp_path, marker):
    path = tmp_path / "run.pt"
    path.write_bytes(payloads(marker)[kind])
    with pytest.raises(CheckpointError, match="contains pickled code"):
        load_checkpoint(path)


def _plant_resnet18(marker: Path, kind: str) -> Path:
    path = weights_cache_path(RESNET18)
    assert path.name == "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payloads(marker)[kind])
    return path


@pytest.mark.parametrize("kind", ["raw-pickle-p2", "torch-zip-in-state-dict", "torch-legacy-bare"])
def test_planted_torchvision_cache_file_is_refused_in_process(kind, marker):
    """The window builds models through load_pretrained (ui.main_window._ModelBuilder)."""
    path = _plant_resnet18(marker, kind)
    model, loaded, message = load_pretrained("resnet18", allow_download=False)
    assert not loaded and model is not None
    assert message.startswith(f"cached ImageNet weights for resnet18 at {path}: this file contains pickled code: refused")


def test_planted_cache_file_with_a_matching_hash_is_still_not_run(monkeypatch, marker):
    """Even a file whose hash prefix matches (8 hex digits can be forged) is loaded as
    tensors only."""
    data = payloads(marker)["torch-zip-in-state-dict"]
    name = f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(weights_module, "weights_file_name", lambda w: name)
    path = weights_cache_path(RESNET18)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    _, loaded, message = load_pretrained("resnet18", allow_download=False)
    assert not loaded and "this file contains pickled code" in message


def test_planted_cache_file_through_the_cli(tmp_path, marker, isolated_folders):
    _plant_resnet18(marker, "torch-zip-bare")
    env = dict(os.environ, PYTHONPATH=str(REPO), TORCH_HOME=str(isolated_folders / "torch"))
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "inspect", "resnet18", "sample", "--device", "cpu", "--json"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    notes = json.loads(result.stdout)["notices"]
    assert any("this file contains pickled code: refused" in n for n in notes), notes


def test_planted_payload_through_resume(tmp_path, marker):
    from explorer.train import Trainer, TrainConfig

    path = tmp_path / "run.pt"
    path.write_bytes(payloads(marker)["torch-zip-in-checkpoint"])
    trainer = Trainer(TrainConfig(model="lenet_small", device="cpu"), resume=path, history=False)
    with pytest.raises(CheckpointError, match="contains pickled code"):
        next(trainer.run())


# ---- bad contents -----------------------------------------------------------------


def _lenet_state_with(key: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    state = get_model("lenet").state_dict()
    state[key] = value
    return state


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: t.clone().fill_(float("nan")), "holds NaN or infinite values"),
        (lambda t: t.clone().fill_(float("inf")), "holds NaN or infinite values"),
        (lambda t: t.to(torch.complex64), "is torch.complex64, not floating point"),
        (lambda t: t.to(torch.int64), "is torch.int64, not floating point"),
        (lambda t: t.to(torch.bool), "is torch.bool, not floating point"),
    ],
)
def test_bad_tensors_are_refused_naming_the_first(make, message, tmp_path):
    model = get_model("lenet")
    state = _lenet_state_with("fc3.weight", make(model.fc3.weight.detach()))
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    before = model.fc3.weight.detach().clone()
    with pytest.raises(ModelError, match=f"bad.pt: tensor fc3.weight {message}.*refused"):
        load_state_dict_file(model, path)
    assert torch.equal(model.fc3.weight, before)  # nothing was loaded


def test_model_integer_buffers_and_doubles_are_accepted():
    model = get_model("resnet18_small")
    state = {k: (v.double() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    assert validate_state_dict(state, "x", model).keys() == state.keys()  # num_batches_tracked is int64
    with pytest.raises(ModelError, match="not floating point"):
        validate_state_dict({"w": torch.zeros(2, dtype=torch.complex64)}, "x")


def test_nan_weights_in_the_torchvision_cache_are_refused(monkeypatch):
    model = get_model("mobilenet_v2")
    state = model.state_dict()
    state["classifier.1.bias"] = torch.full_like(state["classifier.1.bias"], float("nan"))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    name = f"mobilenet_v2-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(weights_module, "weights_file_name", lambda w: name)
    path = weights_cache_path("MobileNet_V2_Weights.IMAGENET1K_V1")
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    _, loaded, message = load_pretrained("mobilenet_v2", allow_download=False)
    assert not loaded and "classifier.1.bias holds NaN or infinite values" in message


def test_inspect_json_never_holds_nan(tmp_path, capsys):
    """Finite but huge weights overflow to inf and NaN probabilities: the JSON stays JSON."""
    from explorer.cli import main

    model = get_model("lenet")
    state = {k: torch.full_like(v, 1e37) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path / "huge.pt"
    torch.save(state, path)
    code = main(["inspect", "lenet", "sample", "--weights", str(path), "--device", "cpu", "--json"])
    out = capsys.readouterr().out
    assert code == 0

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    payload = json.loads(out, parse_constant=refuse)
    assert payload["trained"] is True
    assert any(p["probability"] is None for p in payload["top5"])  # the overflow did happen


def test_read_torch_file_names_missing_and_unreadable(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="weights file not found"):
        read_torch_file(tmp_path / "nope.pt")
    path = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(1)}, path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(weight_files_module, "open", denied, raising=False)
    with pytest.raises(ModelError, match="permission denied"):
        read_torch_file(path)
