"""Pretrained ImageNet weights (torchvision's, in torch hub's cache) and weight files.

Nothing here runs code from a file. Every file is read with ``torch.load(weights_only=True)``
(tensors and plain containers only), and torchvision's weights are never loaded through
torchvision: that goes through ``torch.hub.load_state_dict_from_url``, which unpickles with
``weights_only=False`` and checks no hash for a file already in the cache. Instead we fetch
the weights enum's URL into torch hub's usual cache ourselves, check the file against the
hash prefix in its name (torch hub's ``check_hash`` convention) and load it as tensors into
a model built without weights. Every state dict is then checked (``validate_state_dict``):
floating-point tensors only, all finite.

Nothing here may hang without a network either: a missing cache file is fetched only after
a short reachability probe, with a per-read timeout, and any failure falls back to random
weights with a plain message for the user.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from explorer.errors import describe_os_error
from explorer.models._api import ModelError
from explorer.models.lookup import get_model, get_model_info
from explorer.models.weight_files import pickled_code_in, read_torch_file, validate_state_dict

__all__ = [
    "Pretrained", "expected_hash_prefix", "load_pretrained", "load_state_dict_file", "pickled_code_in",
    "read_torch_file", "validate_state_dict", "verify_hash", "weights_cache_path", "weights_file_name",
]

# Checkpoint dicts may wrap the state dict under one of these keys (ours is "model_state").
STATE_DICT_KEYS = ("model_state", "state_dict", "model")
# torchvision's DenseNet files keep the old key names "denselayer1.norm.1.weight" (module
# names may no longer hold dots); today's modules are called "norm1".
_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$")


def weights_file_name(weights: str) -> str:
    """The file name torch hub caches a torchvision weights enum member under."""
    import torchvision

    member = torchvision.models.get_weight(weights)
    return os.path.basename(urllib.parse.urlparse(member.url).path)


def weights_cache_path(weights: str) -> Path:
    """Where torch hub keeps (or would keep) the file: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / weights_file_name(weights)


def expected_hash_prefix(path: Path) -> str | None:
    """The sha256 prefix in a torch hub file name (``resnet18-f37072fd.pth``), if any."""
    match = torch.hub.HASH_REGEX.search(path.name)
    return match.group(1) if match and match.group(1) else None


# --------------------------------------------------------------------------- torchvision's files


_verified: dict[tuple[str, int, int], bool] = {}


def verify_hash(path: Path) -> bool:
    """Whether ``path``'s sha256 starts with the prefix in its name (True if it names none).

    Remembered per (path, size, mtime): VGG's 550 MB take a second to hash.
    """
    expected = expected_hash_prefix(path)
    if expected is None:
        return True
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        _verified[key] = digest.hexdigest().startswith(expected)
    return _verified[key]


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
    expected = expected_hash_prefix(destination)
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


def _fit_torchvision_file(model: nn.Module, state: Any) -> Any:
    """What torchvision's builders do around loading their own files, without loading."""
    if not isinstance(state, Mapping):
        return state  # validate_state_dict says what is wrong with it
    state = {(
        "".join(m.groups()) if (m := _DENSENET_OLD_KEY.match(k)) else k
    ): v for k, v in state.items()}
    # GoogLeNet and Inception v3 were trained on inputs normalised the old way; torchvision
    # turns transform_input on whenever it loads their ImageNet weights.
    if hasattr(model, "transform_input"):
        model.transform_input = True
    return state


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
    model = get_model(name)
    refused = f"cached ImageNet weights for {name} at {path}"
    again = "delete the file to download it again; using random weights"
    try:
        if not verify_hash(path):
            code = pickled_code_in(path)
            why = "this file contains pickled code" if code else "it does not match its published hash"
            return Pretrained(model, False, f"{refused}: {why}: refused; {again}")
        state = _fit_torchvision_file(model, read_torch_file(path, what="weights file"))
        state = validate_state_dict(state, path.name, model)
        _check_fit(model, state, path.name)
    except OSError as exc:
        return Pretrained(model, False, f"{refused} cannot be read ({describe_os_error(exc)}); using random weights")
    except ModelError as exc:
        return Pretrained(model, False, f"{refused} are refused ({exc}); {again}")
    model.load_state_dict(state)
    message = f"loaded ImageNet weights {info.weights} for {name}"
    # torchvision's GoogLeNet file holds auxiliary heads that were never trained.
    if getattr(model, "aux_logits", False) and type(model).__name__ == "GoogLeNet":
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


def _keys(keys: set[str]) -> str:
    """Every key, sorted: the user fixes a mismatch from the whole list, not a sample of it."""
    return ", ".join(sorted(keys))


def _check_fit(model: nn.Module, state: Mapping[str, torch.Tensor], source_name: str) -> None:
    expected_state = model.state_dict()
    expected = set(expected_state)
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected {_keys(unexpected)}")
        raise ModelError(f"{source_name} does not fit this model: {'; '.join(parts)}")
    for key, tensor in state.items():
        want = expected_state[key].shape
        if tensor.shape != want:
            raise ModelError(
                f"{source_name} does not fit this model: {key} has shape {tuple(tensor.shape)}, "
                f"the model needs {tuple(want)}"
            )


def load_state_dict_file(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a state dict (or a checkpoint holding one) from ``path`` into ``model``.

    Only tensors and plain containers are unpickled (``weights_only=True``); every tensor
    must be floating point and finite, and the keys and shapes must match the model exactly.

    Returns:
        ``model``, loaded in place.

    Raises:
        ModelError: the file is missing, empty, corrupt or truncated, holds pickled code
            or no state dict, holds bad values, or its keys or shapes do not fit the model.
    """
    path = Path(path)
    obj = read_torch_file(path, what="weights file")
    expected = set(model.state_dict())
    state = _strip_wrapper_prefixes(_unwrap(obj, path), expected)
    state = validate_state_dict(state, path.name, model)
    _check_fit(model, state, path.name)
    model.load_state_dict(state)
    return model
