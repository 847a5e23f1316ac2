"""Pretrained weights from torch hub's cache, and weight files a user opens."""

from __future__ import annotations

import fractions
import hashlib
import io
from pathlib import Path
import pickle
import socket
import urllib.error
import urllib.request

import pytest
import torch

from explorer.models import (
    ModelError,
    get_model,
    load_pretrained,
    load_state_dict_file,
    weights_cache_path,
)
from explorer.models import weights as weights_module

MOBILENET = "MobileNet_V2_Weights.IMAGENET1K_V1"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tests must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_cache_path_is_under_torch_home(isolated_folders):
    path = weights_cache_path(MOBILENET)
    assert path.name == "mobilenet_v2-b0353104.pth"
    assert path.parent == isolated_folders / "torch" / "hub" / "checkpoints"


def plant_cached(monkeypatch, weights: str, payload) -> Path:
    """Save ``payload`` where torch hub caches ``weights``, under a name whose hash prefix
    matches the bytes (the published file's hash cannot be matched by a test file)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    stem = weights_module.weights_file_name(weights).split("-")[0]
    name = f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(weights_module, "weights_file_name", lambda w: name)
    path = weights_cache_path(weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_cached_checkpoint_is_found_and_loaded(no_network, monkeypatch):
    torch.manual_seed(1)
    source = get_model("mobilenet_v2")
    plant_cached(monkeypatch, MOBILENET, source.state_dict())
    model, loaded, message = load_pretrained("mobilenet_v2")
    assert loaded
    assert message == f"loaded ImageNet weights {MOBILENET} for mobilenet_v2"
    for key, tensor in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], tensor), key


def test_googlenet_tv_loads_cached_weights_with_aux_heads(no_network, monkeypatch):
    source = get_model("googlenet_tv")
    # torchvision's published file holds the (untrained) aux heads too; loading is strict.
    plant_cached(monkeypatch, "GoogLeNet_Weights.IMAGENET1K_V1", source.state_dict())
    model, loaded, message = load_pretrained("googlenet_tv")
    assert loaded
    assert message == (
        "loaded ImageNet weights GoogLeNet_Weights.IMAGENET1K_V1 for googlenet_tv "
        "(its auxiliary heads are not pretrained)"
    )
    assert model.aux1 is not None and model.transform_input
    assert torch.equal(model.fc.weight, source.fc.weight)


def test_offline_without_download_gives_random_weights_and_a_message(no_network):
    model, loaded, message = load_pretrained("mobilenet_v2", allow_download=False)
    assert not loaded
    assert message == "no ImageNet weights available offline for mobilenet_v2; using random weights"
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_unreachable_server_is_offline(monkeypatch):
    probes = []

    def unreachable(address, timeout=None):
        probes.append((address, timeout))
        raise OSError("Network is unreachable")

    def refuse(*args, **kwargs):
        raise AssertionError("no download after a failed probe")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    _, loaded, message = load_pretrained("mobilenet_v2", timeout=0.5)
    assert not loaded
    assert "no ImageNet weights available offline" in message
    assert probes == [(("download.pytorch.org", 443), 0.5)]


class _FakeResponse(io.BytesIO):
    headers = {"Content-Length": "0"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_with_wrong_hash_is_rejected_and_leaves_no_file(monkeypatch):
    monkeypatch.setattr(weights_module, "_reachable", lambda url, timeout: True)
    seen = []

    def fake_urlopen(url, timeout):
        seen.append((url, timeout))
        buffer = io.BytesIO()
        torch.save(get_model("mobilenet_v2").state_dict(), buffer)
        return _FakeResponse(buffer.getvalue())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    progress = []
    _, loaded, message = load_pretrained(
        "mobilenet_v2", timeout=2.0, progress=lambda done, total: progress.append(done)
    )
    assert not loaded
    assert "could not download ImageNet weights for mobilenet_v2" in message
    assert "does not match its published hash" in message
    assert seen == [("https://download.pytorch.org/models/mobilenet_v2-b0353104.pth", 2.0)]
    assert progress and progress[-1] > 0
    path = weights_cache_path(MOBILENET)
    assert not path.exists() and list(path.parent.iterdir()) == []


def test_download_error_falls_back(monkeypatch):
    monkeypatch.setattr(weights_module, "_reachable", lambda url, timeout: True)

    def failing(url, timeout):
        raise urllib.error.URLError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", failing)
    _, loaded, message = load_pretrained("mobilenet_v2")
    assert not loaded
    assert message == "could not download ImageNet weights for mobilenet_v2 (timed out); using random weights"


def test_corrupt_cached_file_falls_back_with_its_path(no_network, monkeypatch):
    data = b"PK\x03\x04 not really a zip"
    name = f"mobilenet_v2-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(weights_module, "weights_file_name", lambda w: name)
    path = weights_cache_path(MOBILENET)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    model, loaded, message = load_pretrained("mobilenet_v2")
    assert not loaded
    assert "corrupt or truncated" in message and str(path) in message and "\n" not in message
    assert "delete the file to download it again" in message
    assert model is not None


def test_cached_file_that_does_not_match_its_hash_is_refused(no_network):
    path = weights_cache_path(MOBILENET)
    path.parent.mkdir(parents=True)
    torch.save(get_model("mobilenet_v2").state_dict(), path)
    _, loaded, message = load_pretrained("mobilenet_v2")
    assert not loaded
    assert message.startswith(f"cached ImageNet weights for mobilenet_v2 at {path}: it does not match its published hash: refused")


def test_model_without_published_weights(no_network):
    model, loaded, message = load_pretrained("lenet5")
    assert not loaded
    assert message == "no ImageNet weights are published for lenet5; using random weights"
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 10)


def test_unknown_model():
    with pytest.raises(ModelError, match="unknown model"):
        load_pretrained("lenet6")


# ---- load_state_dict_file ------------------------------------------------------------


@pytest.fixture
def lenet():
    torch.manual_seed(0)
    return get_model("lenet")


@pytest.mark.parametrize("wrapper", [None, "model", "state_dict", "model_state"])
def test_state_dict_and_checkpoints_load(tmp_path, lenet, wrapper):
    state = lenet.state_dict()
    payload = state if wrapper is None else {wrapper: state, "epoch": 3, "config": {"lr": 0.1}}
    path = tmp_path / "w.pt"
    torch.save(payload, path)
    fresh = get_model("lenet")
    assert load_state_dict_file(fresh, path) is fresh
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())


def test_data_parallel_prefix_is_stripped(tmp_path, lenet):
    path = tmp_path / "dp.pt"
    torch.save({f"module.{k}": v for k, v in lenet.state_dict().items()}, path)
    fresh = load_state_dict_file(get_model("lenet"), path)
    assert torch.equal(fresh.fc3.weight, lenet.fc3.weight)


def _error(model, path) -> str:
    with pytest.raises(ModelError) as excinfo:
        load_state_dict_file(model, path)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_pickled_module_is_refused(tmp_path, lenet):
    path = tmp_path / "module.pt"
    torch.save(lenet, path)  # a whole pickled nn.Module, not a state dict
    assert "this file contains pickled code" in _error(lenet, path) and "refused" in _error(lenet, path)


def test_checkpoint_with_an_arbitrary_object_is_refused(tmp_path, lenet):
    path = tmp_path / "obj.pt"
    torch.save({"model": lenet.state_dict(), "extra": fractions.Fraction(1, 3)}, path)
    assert "this file contains pickled code" in _error(lenet, path) and "refused" in _error(lenet, path)


def test_plain_pickle_is_not_a_weights_file(tmp_path, lenet):
    path = tmp_path / "obj.pkl"
    path.write_bytes(pickle.dumps({"fc3.weight": [1.0, 2.0]}, protocol=2))
    assert _error(lenet, path) == "obj.pkl is not a PyTorch weights file (corrupt or truncated)"


def test_missing_and_extra_keys(tmp_path, lenet):
    state = lenet.state_dict()
    missing = {k: v for k, v in state.items() if not k.startswith("fc3")}
    torch.save(missing, tmp_path / "missing.pt")
    assert "missing fc3.bias, fc3.weight" in _error(lenet, tmp_path / "missing.pt")
    extra = dict(state, **{"fc4.weight": torch.zeros(2)})
    torch.save(extra, tmp_path / "extra.pt")
    assert "unexpected fc4.weight" in _error(lenet, tmp_path / "extra.pt")


def test_shape_mismatch(tmp_path):
    other = get_model("lenet_small", num_classes=5)
    torch.save(other.state_dict(), tmp_path / "five.pt")
    message = _error(get_model("lenet_small"), tmp_path / "five.pt")
    assert "fc3.weight has shape (5, 84), the model needs (10, 84)" in message


def test_corrupt_truncated_empty_and_missing_files(tmp_path, lenet):
    good = tmp_path / "good.pt"
    torch.save(lenet.state_dict(), good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "corrupt or truncated" in _error(lenet, truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 definitely not torch" * 10)
    assert "corrupt or truncated" in _error(lenet, garbage)
    text = tmp_path / "text.pt"
    text.write_text("hello world " * 5)
    assert "corrupt or truncated" in _error(lenet, text)
    empty = tmp_path / "empty.pt"
    empty.touch()
    assert _error(lenet, empty) == "weights file empty.pt is empty (0 bytes)"
    assert _error(lenet, tmp_path / "nope.pt") == f"weights file not found: {tmp_path / 'nope.pt'}"
    assert _error(lenet, tmp_path) == f"not a weights file: {tmp_path}"


def test_file_without_a_state_dict(tmp_path, lenet):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    assert "holds no state dict" in _error(lenet, path)
    torch.save({"epoch": 3}, path)
    assert "holds no state dict" in _error(lenet, path)
