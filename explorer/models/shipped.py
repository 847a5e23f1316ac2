"""Weights trained on Fashion-MNIST by ``cnn-explorer zoo train`` and shipped in the package.

``resources/weights/`` holds one half-precision state dict per small form and a
``manifest.json`` saying how each was made (command, data set hashes and sizes, epochs,
seed, accuracies, torch version, date). Half precision keeps the set under 30 MB; the
weights are loaded into an ordinary fp32 model, and the manifest's accuracies are those of
the stored (rounded) weights, so loading them reproduces the figures.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explorer import files
from explorer.errors import ModelError, describe_os_error
from explorer.models import manifest as _manifest

# The manifest (explorer.models.manifest) and changing a weights file with its record
# (explorer.models.weights_journal, through manifest.commit) are part of this module's
# interface under the names its callers have always used.
from explorer.models.manifest import (  # noqa: F401
    FORMAT,
    MANIFEST,
    Manifest,
    ManifestError,
    ShippedEntry,
    file_problem,
    shipped_entry,
    unavailable_reason,
    weights_folder,
)
from explorer.models.manifest import commit as commit_weights  # noqa: F401
from explorer.models.manifest import load as load_manifest  # noqa: F401
from explorer.models.manifest import read as read_manifest  # noqa: F401
from explorer.models.manifest import write as write_manifest  # noqa: F401
from explorer.models.weights_journal import JOURNAL  # noqa: F401

STORED_DTYPE = torch.float16
# A weights file is under 30 MB (the whole set is capped there).
WEIGHTS_LIMIT = 256 * 1024 * 1024


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def compact_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with floating tensors in half precision, others as they are."""
    return {
        key: (t.detach().to("cpu", STORED_DTYPE) if t.is_floating_point() else t.detach().cpu()).contiguous()
        for key, t in model.state_dict().items()
    }


def compact_bytes(model: nn.Module) -> bytes:
    """``compact_state(model)`` serialised by ``torch.save`` in memory (so a full disk is
    met by our atomic writer, never half way through torch's own)."""
    buffer = io.BytesIO()
    torch.save(compact_state(model), buffer)
    return buffer.getvalue()


def save_compact(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save ``compact_state(model)`` atomically to ``path``.

    Raises:
        WriteError: it could not be written; a previous file is intact, no temporary left.
    """
    return files.write_atomic(path, compact_bytes(model), action="save weights")


def check_tensors(state: Mapping[str, Any], source: str) -> None:
    """Every value a tensor; floating ones finite. Raises ModelError naming the first bad one."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ModelError(f"{source}: {key} is not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelError(f"{source}: {key} holds NaN or infinite values")


def load_shipped(model: nn.Module, name: str, folder: str | os.PathLike | None = None) -> ShippedEntry:
    """Load ``name``'s shipped weights into ``model`` (fp32; the file is fp16).

    Returns:
        The manifest record (for its accuracy and label).

    Raises:
        ModelError: nothing ships for ``name`` (a ManifestError when the manifest is
            unusable; its entry's problem when that was skipped), the file is missing or
            does not match the manifest's hash, it is not a tensors-only state dict, holds
            non-finite values, or does not fit ``model``.
    """
    folder = _manifest.folder_or_default(folder)
    manifest = load_manifest(folder)
    entry = manifest.entries.get(name)
    if entry is None:
        raise ModelError(_manifest.skipped_reason(manifest, name) or f"no shipped Fashion-MNIST weights for {name}")
    problem = file_problem(folder, entry.file)  # checked when read; checked again: links change
    if problem is not None:
        raise ModelError(f"shipped weights for {name} unavailable: manifest {manifest.path}: {problem}")
    path = folder / entry.file
    if not path.is_file():
        raise ModelError(f"shipped weights for {name} are missing from this installation ({path})")
    try:
        # One read for the hash and the load: the file cannot change between the two.
        data = files.read_regular(path, limit=WEIGHTS_LIMIT)
    except (OSError, ValueError) as exc:
        why = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        raise ModelError(f"shipped weights {path.name} cannot be read ({why})") from None
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ModelError(f"shipped weights {path.name} do not match the manifest's hash (damaged file?)")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelError(f"shipped weights {path.name} are unreadable ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(state, Mapping):
        raise ModelError(f"shipped weights {path.name} hold no state dict")
    check_tensors(state, path.name)
    expected = model.state_dict()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise ModelError(
            f"shipped weights {path.name} do not fit this model (missing {missing[:2]}, unexpected {extra[:2]})"
        )
    converted = {}
    for key, tensor in state.items():
        want = expected[key]
        if tensor.shape != want.shape:
            raise ModelError(f"shipped weights {path.name}: {key} has shape {tuple(tensor.shape)}, needs {tuple(want.shape)}")
        converted[key] = tensor.to(want.dtype) if want.is_floating_point() else tensor
    model.load_state_dict(converted)
    return entry
