"""Device choice: auto order, explicit choices, refusals, human names."""

from __future__ import annotations

import pytest
import torch

from explorer.devices import DeviceError, available_devices, choose_device, describe_device
from explorer.errors import UserError


def test_auto_picks_the_best_available_device():
    assert choose_device("auto").type == available_devices()[0]
    assert choose_device(None).type == available_devices()[0]
    assert available_devices()[-1] == "cpu"


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("explorer.devices._mps_available", lambda: True)
    assert choose_device("auto") == torch.device("mps")
    monkeypatch.setattr("explorer.devices._mps_available", lambda: False)
    assert choose_device("auto") == torch.device("cpu")


def test_cpu_is_always_available():
    assert choose_device("CPU") == torch.device("cpu")
    assert choose_device(torch.device("cpu")) == torch.device("cpu")


def test_missing_devices_are_refused_with_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("explorer.devices._mps_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA"):
        choose_device("cuda")
    with pytest.raises(DeviceError, match="MPS"):
        choose_device("mps")
    with pytest.raises(UserError, match="unknown device"):
        choose_device("tpu-please")


def test_describe_device():
    assert describe_device("cpu") == f"CPU ({torch.get_num_threads()} threads)"
    assert describe_device(torch.device("mps")) == "Apple MPS"
    assert describe_device("auto")
    if torch.cuda.is_available():
        assert describe_device("cuda") == torch.cuda.get_device_name(0)
