"""Weights trained on Fashion-MNIST by ``cnn-explorer zoo train`` and shipped in the package.

``resources/weights/`` holds one half-precision state dict per small form and a
``manifest.json`` saying how each was made (command, data set hashes and sizes, epochs,
seed, accuracies, torch version, date). Half precision keeps the set under 30 MB; the
weights are loaded into an ordinary fp32 model, and the manifest's accuracies are those of
the stored (rounded) weights, so loading them reproduces the figures.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explorer.errors import ModelError

MANIFEST = "manifest.json"
STORED_DTYPE = torch.float16
FORMAT = 1


@dataclasses.dataclass(frozen=True)
class ShippedEntry:
    """One model's record in the manifest.

    Attributes:
        name: registry name of the small form.
        file: state dict file name inside the weights folder.
        sha256: hash of that file.
        bytes: its size.
        test_accuracy: accuracy of the stored weights on the test split they were scored on.
        train_accuracy: accuracy of the stored weights on the (unaugmented) training images.
        epochs: training epochs.
        seed: the run's seed.
        command: the command that trained it.
        params: trainable parameters.
        seconds: wall-clock training time.
        dataset: name, file hashes and image counts of the data it was trained and scored on.
        recipe: every training option (TrainConfig as a dict).
        torch: torch version that trained it.
        date: ISO date and time the run finished.
        device: where it trained.
    """

    name: str
    file: str
    sha256: str
    bytes: int
    test_accuracy: float
    train_accuracy: float
    epochs: int
    seed: int
    command: str
    params: int = 0
    seconds: float = 0.0
    dataset: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    recipe: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    torch: str = ""
    date: str = ""
    device: str = ""

    @property
    def label(self) -> str:
        """What the weights choice shows, e.g. "Fashion-MNIST, shipped: test 0.912"."""
        return f"Fashion-MNIST, shipped: test {self.test_accuracy:.3f}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ShippedEntry:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def weights_folder() -> Path:
    """``resources/weights`` of this installation (it may not exist yet)."""
    from explorer.resources import resources_root

    return resources_root() / "weights"


def read_manifest(folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest as stored; an empty one when the folder has none.

    Raises:
        ModelError: the manifest exists but is not valid JSON of the expected shape.
    """
    path = Path(folder or weights_folder()) / MANIFEST
    if not path.is_file():
        return {"format": FORMAT, "models": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"shipped weights manifest {path} is unreadable ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ModelError(f"shipped weights manifest {path} has no 'models' table")
    return data


def write_manifest(data: Mapping[str, Any], folder: str | os.PathLike | None = None) -> Path:
    """Write the manifest atomically (sorted, indented: it is reviewed in diffs)."""
    path = Path(folder or weights_folder()) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


@functools.lru_cache(maxsize=4)
def _cached_manifest(folder: str, stamp: int) -> dict[str, Any]:
    # Pickers ask about every model; parse the manifest once per change of the file.
    return read_manifest(folder)


def shipped_entry(name: str, folder: str | os.PathLike | None = None) -> ShippedEntry | None:
    """The manifest record of ``name``'s shipped weights, or None when none ship.

    A missing or unreadable manifest means "nothing shipped" here, so pickers can ask
    about every model; ``load_shipped`` reports the problem when someone loads one.
    """
    try:
        path = Path(folder or weights_folder()) / MANIFEST
        stamp = path.stat().st_mtime_ns if path.is_file() else 0
        record = _cached_manifest(str(path.parent), stamp)["models"].get(name)
    except (ModelError, FileNotFoundError):
        return None
    if not isinstance(record, Mapping):
        return None
    try:
        return ShippedEntry.from_dict({**record, "name": name})
    except TypeError:
        return None


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


def save_compact(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save ``compact_state(model)`` atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(compact_state(model), tmp)
    os.replace(tmp, path)
    return path


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
        ModelError: nothing ships for ``name``, the file is missing or does not match the
            manifest's hash, it is not a tensors-only state dict, holds non-finite values, or
            does not fit ``model``.
    """
    try:
        folder = Path(folder or weights_folder())
    except FileNotFoundError as exc:
        raise ModelError(str(exc)) from None
    entry = shipped_entry(name, folder)
    if entry is None:
        read_manifest(folder)  # a broken manifest says so instead of "no weights"
        raise ModelError(f"no shipped Fashion-MNIST weights for {name}")
    path = folder / entry.file
    if not path.is_file():
        raise ModelError(f"shipped weights for {name} are missing from this installation ({path})")
    if sha256_file(path) != entry.sha256:
        raise ModelError(f"shipped weights {path.name} do not match the manifest's hash (damaged file?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
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


def evaluate(model: nn.Module, name: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    """Accuracy of ``model`` (a registered small form ``name``) on uint8 images (N, 28, 28),
    preprocessed as training and the app do: scale, the model's size, its normalisation."""
    from explorer.models import get_model_info
    from explorer.train.augment import prepare_batch

    info = get_model_info(name)
    mean, std = info.mean_std
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(labels), batch_size):
            x = prepare_batch(
                images[start : start + batch_size].to(device),
                mean=float(mean[0]),
                std=float(std[0]),
                size=tuple(info.input_size),
                in_channels=info.in_channels,
            )
            out = model(x)
            logits = out[0] if isinstance(out, (tuple, list)) else out
            correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size].cpu()).sum())
    model.train(was_training)
    return correct / max(len(labels), 1)


def dataset_facts(root: str | os.PathLike, train_images: int, test_images: int) -> dict[str, Any]:
    """Name, raw-file hashes and image counts of the Fashion-MNIST copy under ``root``."""
    from explorer.train.data import RAW_FILES, raw_folder

    raw = raw_folder(root)
    hashes = {}
    for stem in RAW_FILES:
        for candidate in (raw / stem, raw / f"{stem}.gz"):
            if candidate.is_file():
                hashes[candidate.name] = sha256_file(candidate)
                break
    full = train_images == 60_000 and test_images == 10_000
    return {
        "name": "Fashion-MNIST",
        "full": full,
        "train_images": train_images,
        "test_images": test_images,
        "sha256": hashes,
        "note": "the full set" if full else (
            f"a real subset: the first {train_images:,} training and {test_images:,} test images; "
            "the full set was not available on the training machine"
        ),
    }
