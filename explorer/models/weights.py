"""Pretrained ImageNet weights (torchvision's, from torch hub's cache) and weight files.

Nothing here may hang without a network: a missing cache file is fetched only after a
short reachability probe, with a per-read timeout, and any failure falls back to random
weights with a plain message for the user.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from explorer.models._api import ModelError, get_model, get_model_info

# Checkpoint dicts may wrap the state dict under one of these keys (ours is "model_state").
STATE_DICT_KEYS = ("model_state", "state_dict", "model")


def weights_file_name(weights: str) -> str:
    """The file name torch hub caches a torchvision weights enum member under."""
    import torchvision

    member = torchvision.models.get_weight(weights)
    return os.path.basename(urllib.parse.urlparse(member.url).path)


def weights_cache_path(weights: str) -> Path:
    """Where torch hub keeps (or would keep) the file: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / weights_file_name(weights)


def _reachable(url: str, timeout: float) -> bool:
    parts = urllib.parse.urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _download(
    url: str, destination: Path, timeout: float, progress: Callable[[int, int], None] | None
) -> None:
    """Fetch ``url`` into ``destination`` atomically, checking torch hub's hash prefix."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    # torchvision file names end in "-<first hex digits of the sha256>.pth".
    match = torch.hub.HASH_REGEX.search(destination.name)
    expected = match.group(1) if match else None
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        # The timeout bounds each socket read, so a stalled connection raises, never hangs.
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if expected and not digest.hexdigest().startswith(expected):
            raise OSError("downloaded file does not match its published hash")
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)


class Pretrained(NamedTuple):
    """What ``load_pretrained`` gives: the model, whether ImageNet weights are in it, and
    a one-line message for the user."""

    model: nn.Module
    loaded: bool
    message: str


def load_pretrained(
    name: str,
    *,
    allow_download: bool = True,
    timeout: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
) -> Pretrained:
    """Build ``name`` with its published ImageNet weights when they can be had.

    Weights come from torch hub's cache (``$TORCH_HOME/hub/checkpoints``) or, when
    ``allow_download`` and the server answers within ``timeout`` seconds, are downloaded
    there first. Otherwise the model keeps random weights.

    Args:
        name: a registered model name.
        allow_download: try the network when the cache lacks the file.
        timeout: seconds for the reachability probe and for each read of the download.
        progress: called with (bytes so far, total bytes or 0) while downloading.

    Returns:
        The model (in training mode, like ``get_model``), whether the ImageNet weights were
        loaded, and a one-line message for the user saying which weights it holds.

    Raises:
        ModelError: ``name`` is not registered.
    """
    info = get_model_info(name)
    if info.weights is None:
        return Pretrained(get_model(name), False, f"no ImageNet weights are published for {name}; using random weights")
    path = weights_cache_path(info.weights)
    offline = f"no ImageNet weights available offline for {name}; using random weights"
    if not path.is_file():
        if not allow_download:
            return Pretrained(get_model(name), False, offline)
        import torchvision

        url = torchvision.models.get_weight(info.weights).url
        if not _reachable(url, timeout):
            return Pretrained(get_model(name), False, offline)
        try:
            _download(url, path, timeout, progress)
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", None) or exc
            message = f"could not download ImageNet weights for {name} ({reason}); using random weights"
            return Pretrained(get_model(name), False, message)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = get_model(name, weights=info.weights)
    except (RuntimeError, ValueError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Pretrained(get_model(name), False, (
            f"cached ImageNet weights for {name} at {path} are unreadable ({first_line[:120]}); "
            "delete the file to download it again; using random weights"
        ))
    message = f"loaded ImageNet weights {info.weights} for {name}"
    # torchvision warns that googlenet's aux heads hold untrained weights: say it once, here.
    if any("auxiliary heads" in str(w.message) for w in caught):
        message += " (its auxiliary heads are not pretrained)"
    return Pretrained(model, True, message)


def _unwrap(obj: Any, path: Path) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
        if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
            return obj
    raise ModelError(
        f"{path.name} holds no state dict (expected tensors by parameter name, or a checkpoint "
        f"with a {'/'.join(STATE_DICT_KEYS)} entry)"
    )


def _strip_wrapper_prefixes(state: Mapping[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    # DataParallel saves "module.<name>", torch.compile "_orig_mod.<name>".
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state) and not set(state) <= expected:
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def _sample(keys: set[str]) -> str:
    shown = sorted(keys)[:3]
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return ", ".join(shown) + more


def load_state_dict_file(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a state dict (or a checkpoint holding one) from ``path`` into ``model``.

    Only tensors and plain containers are unpickled (``weights_only=True``); the keys and
    shapes must match the model exactly.

    Returns:
        ``model``, loaded in place.

    Raises:
        ModelError: the file is missing, empty, corrupt or truncated, holds pickled objects
            or no state dict, or its keys or shapes do not fit the model.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"weights file not found: {path}")
    if not path.is_file():
        raise ModelError(f"not a weights file: {path}")
    if path.stat().st_size == 0:
        raise ModelError(f"weights file {path.name} is empty (0 bytes)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise ModelError(f"cannot read {path}: permission denied") from None
    except pickle.UnpicklingError as exc:
        # The weights-only unpickler names a refused class ("Unsupported global") for a
        # pickled object; byte garbage fails earlier ("Unsupported operand").
        text = str(exc)
        if "Unsupported global" in text or "can still be loaded" in text:
            raise ModelError(
                f"{path.name} contains pickled Python objects, not only tensors; refusing to load it"
            ) from None
        raise ModelError(f"{path.name} is not a PyTorch weights file (corrupt or truncated)") from None
    except Exception:  # noqa: BLE001 - garbage bytes surface as KeyError, EOFError, RuntimeError...
        raise ModelError(f"{path.name} is not a PyTorch weights file (corrupt or truncated)") from None
    expected_state = model.state_dict()
    expected = set(expected_state)
    state = _strip_wrapper_prefixes(_unwrap(obj, path), expected)
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_sample(missing)}")
        if unexpected:
            parts.append(f"unexpected {_sample(unexpected)}")
        raise ModelError(f"{path.name} does not fit this model: {'; '.join(parts)}")
    for key, tensor in state.items():
        want = expected_state[key].shape
        if tensor.shape != want:
            raise ModelError(
                f"{path.name} does not fit this model: {key} has shape {tuple(tensor.shape)}, "
                f"the model needs {tuple(want)}"
            )
    model.load_state_dict(state)
    return model
