"""Which device runs the models: automatic choice, user override, and a human name for it.

No Qt here: the status bar, the stepper and the training engine all use these functions.
"""

from __future__ import annotations

import torch

from explorer.errors import UserError

#: Values the user may pick in the settings or pass on the command line.
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(UserError):
    """The requested device does not exist on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device names usable on this machine, best first (``cuda``, ``mps``, ``cpu``)."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def choose_device(choice: str | torch.device | None = "auto") -> torch.device:
    """Turn a user's device choice into a ``torch.device``.

    Args:
        choice: ``"auto"`` (or None) picks CUDA, then Apple MPS, then the CPU; ``"cpu"``,
            ``"cuda"``, ``"cuda:1"`` or ``"mps"`` ask for that device.

    Returns:
        The device to use.

    Raises:
        DeviceError: the named device is unknown or absent on this machine.
    """
    if isinstance(choice, torch.device):
        choice = str(choice)
    text = (choice or "auto").strip().lower()
    if text == "auto":
        return torch.device(available_devices()[0])
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise DeviceError(
            f"unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}"
        ) from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"CUDA device {device.index} requested but this machine has "
                f"{torch.cuda.device_count()}"
            )
        return device
    if device.type == "mps":
        if not _mps_available():
            raise DeviceError("Apple MPS was requested but is not available on this machine")
        return device
    raise DeviceError(f"unsupported device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}")


def describe_device(device: str | torch.device) -> str:
    """A short human name for a device, for the status bar and benchmark reports.

    Examples: ``"NVIDIA H100 80GB HBM3"``, ``"Apple MPS"``, ``"CPU (2 threads)"``.
    """
    # Strings go through choose_device so "auto" names the device auto would pick.
    device = choose_device(device) if isinstance(device, str) else device
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_name(index)
    if device.type == "mps":
        return "Apple MPS"
    if device.type == "cpu":
        return f"CPU ({torch.get_num_threads()} threads)"
    return str(device)
