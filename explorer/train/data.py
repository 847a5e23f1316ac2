"""Fashion-MNIST held whole as tensors on the training device.

The data set is small (60,000 28x28 images are 47 MB as uint8), so instead of a per-sample
``DataLoader`` the images stay on the device as one uint8 tensor; batches are drawn with a
random permutation and converted, resized and augmented there (see ``augment.py``). That
removes the per-image PIL/``ToTensor`` work that dominates a textbook loop on small models.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from explorer.errors import UserError, describe_os_error
from explorer.models.shipped import sha256_file
from explorer.train.config import validation_count

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataError(UserError):
    """Fashion-MNIST is missing, cannot be downloaded, or its files are corrupt."""


@dataclasses.dataclass
class FashionData:
    """The three splits as device tensors: images uint8 (N, 28, 28), labels int64 (N,).

    Attributes:
        root: the folder holding ``FashionMNIST/raw``.
        device: where every tensor lives.
    """

    root: Path
    device: torch.device
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor

    @property
    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train_labels),
            "val": len(self.val_labels),
            "test": len(self.test_labels),
        }


def raw_folder(root: str | Path) -> Path:
    return Path(root) / "FashionMNIST" / "raw"


def dataset_facts(root: str | os.PathLike, train_images: int, test_images: int) -> dict[str, Any]:
    """Name, raw-file hashes and image counts of the Fashion-MNIST copy under ``root``
    (what ``zoo train`` records with the shipped weights)."""
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


def describe_access(path: Path) -> str | None:
    """Why ``path`` cannot be read, by errno: "permission denied: PATH", or None if it can."""
    try:
        if path.is_dir():
            with os.scandir(path):
                pass
        else:
            with open(path, "rb"):
                pass
    except OSError as exc:
        return f"{describe_os_error(exc)}: {path}"
    return None


def raw_files_state(root: str | Path) -> tuple[list[str], str | None]:
    """Which of the four IDX files are missing from ``root/FashionMNIST/raw``, and why the
    folder or a file cannot be read (None when it can).

    Never raises: a folder the user cannot open is an answer, not an error.
    """
    raw = raw_folder(root)
    for folder in (Path(root), raw.parent, raw):
        try:
            exists = folder.exists()
        except OSError:
            exists = True  # stat refused: describe_access says why
        if not exists:
            return list(RAW_FILES), None
        problem = describe_access(folder)
        if problem:
            return [], problem
    missing = []
    for name in RAW_FILES:
        path = raw / name
        try:
            present = path.is_file()
        except OSError:
            present = True
        if not present:
            missing.append(name)
            continue
        problem = describe_access(path)
        if problem:
            return [], problem
    return missing, None


def image_count(root: str | Path, train: bool = True) -> int | None:
    """How many training (or test) images ``root`` holds, from the labels file's IDX header
    (8 bytes, nothing loaded); None when the file is missing, unreadable or not an IDX
    labels file."""
    try:
        with open(raw_folder(root) / f"{'train' if train else 't10k'}-labels-idx1-ubyte", "rb") as handle:
            header = handle.read(8)
    except OSError:
        return None
    if len(header) != 8 or int.from_bytes(header[:4], "big") != 2049:  # IDX magic: 1-d unsigned bytes
        return None
    return int.from_bytes(header[4:], "big")


def _download(root: Path) -> None:
    from torchvision.datasets import FashionMNIST

    try:
        FashionMNIST(root=str(root), train=True, download=True)
    except Exception as exc:  # noqa: BLE001 - torchvision and urllib raise many kinds; all mean the same
        # URLError carries the network's reason; anything else is a bad answer or file.
        reason = getattr(exc, "reason", None) or "the server could not be reached or sent a bad file"
        raise DataError(
            f"Fashion-MNIST could not be downloaded ({reason}); put the four IDX files "
            f"({', '.join(RAW_FILES)}) into {raw_folder(root)}"
        ) from None


def check_data_folder(root: str | Path) -> Path:
    """A data folder the user named (``--data-dir``) must exist: it is not created.

    Raises:
        DataError: it does not exist, is not a folder, or cannot be opened.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data folder {root} does not exist (it is not created; check --data-dir)")
    if not root.is_dir():
        raise DataError(f"data folder {root} is not a folder")
    problem = describe_access(root)
    if problem:
        raise DataError(f"cannot read data folder: {problem}")
    return root


def check_raw_files(root: Path, download: bool) -> None:
    """Make sure the four IDX files are there and readable, downloading them if allowed.

    Raises:
        DataError: the folder or a file cannot be read (saying why and where), some files
            are missing (naming them), or all are and downloading is off or failed.
    """
    missing, problem = raw_files_state(root)
    if problem:
        raise DataError(f"cannot read Fashion-MNIST: {problem}")
    if missing and len(missing) < len(RAW_FILES):
        raise DataError(f"Fashion-MNIST in {raw_folder(root)} is incomplete: {', '.join(missing)} missing")
    if missing:
        if not download:
            raise DataError(_missing_message(root, download))
        _download(root)
        missing, problem = raw_files_state(root)
        if missing or problem:
            raise DataError(_missing_message(root, download))


def _read_split(root: Path, train: bool):
    from torchvision.datasets import FashionMNIST

    split = "train" if train else "t10k"
    try:
        # The files were checked (and fetched) by check_raw_files: never download here.
        dataset = FashionMNIST(root=str(root), train=train, download=False)
    except OSError as exc:
        raise DataError(
            f"cannot read Fashion-MNIST {split} files in {raw_folder(root)}: {describe_os_error(exc)}"
        ) from None
    except (AssertionError, TypeError, ValueError, KeyError, RuntimeError, IndexError) as exc:
        # torchvision's IDX reader asserts on a bad magic number and fails on a bad dtype or a
        # size that does not match the header.
        raise DataError(
            f"Fashion-MNIST {split} files in {raw_folder(root)} are corrupt "
            f"({type(exc).__name__}); replace them"
        ) from None
    images, labels = dataset.data, dataset.targets
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28) or images.dtype != torch.uint8:
        raise DataError(
            f"Fashion-MNIST {split} images in {raw_folder(root)} are corrupt: "
            f"expected N x 28 x 28 bytes, got {tuple(images.shape)} {images.dtype}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"Fashion-MNIST {split} files in {raw_folder(root)} do not match: "
            f"{len(images)} images but {len(labels)} labels"
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise DataError(f"Fashion-MNIST {split} labels in {raw_folder(root)} are corrupt: values outside 0-9")
    if len(labels) == 0:
        raise DataError(f"Fashion-MNIST {split} files in {raw_folder(root)} hold no images")
    return images, labels


def _missing_message(root: Path, download: bool) -> str:
    how = "the download did not provide it" if download else "downloading is off"
    return (
        f"Fashion-MNIST not found and {how}: put {', '.join(RAW_FILES)} into {raw_folder(root)} "
        f"(or choose another folder with --data-dir)"
    )


def load_fashion_mnist(
    root: str | Path,
    device: torch.device | str = "cpu",
    *,
    download: bool = False,
    subset: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> FashionData:
    """Read Fashion-MNIST from ``root/FashionMNIST/raw`` and move it to ``device``.

    Args:
        root: folder holding ``FashionMNIST/raw`` (``settings.data_dir()`` resolves it).
        device: training device; the whole set is copied there once.
        download: let torchvision download the set when it is missing. Tests never do.
        subset: use only the first ``subset`` training images (before the validation split)
            and at most ``subset`` test images, for quick runs.
        val_fraction: share of the training images held out for validation, chosen with
            ``seed`` so a resumed run sees the same split.
        seed: seed of the validation split.

    Raises:
        DataError: the files are missing (naming the folder to fill) or corrupt.
    """
    root = Path(root)
    if subset is not None and subset < 10:
        raise DataError(f"--subset must be at least 10 images, got {subset}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"validation fraction must be in [0, 1), got {val_fraction}")
    check_raw_files(root, download)
    train_images, train_labels = _read_split(root, True)
    test_images, test_labels = _read_split(root, False)
    if subset is not None:
        train_images, train_labels = train_images[:subset], train_labels[:subset]
        test_images, test_labels = test_images[:subset], test_labels[:subset]

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train_labels), generator=generator)
    n_val = validation_count(len(order), val_fraction)
    val_idx, train_idx = order[:n_val], order[n_val:]
    if len(train_idx) == 0:
        raise DataError("the validation split leaves no training images; use more images")

    device = torch.device(device)

    def put(t: torch.Tensor) -> torch.Tensor:
        return t.contiguous().to(device)

    return FashionData(
        root=root,
        device=device,
        train_images=put(train_images[train_idx]),
        train_labels=put(train_labels[train_idx]),
        val_images=put(train_images[val_idx]),
        val_labels=put(train_labels[val_idx]),
        test_images=put(test_images),
        test_labels=put(test_labels),
    )


def move_data(data: FashionData, device: torch.device) -> FashionData:
    """The same splits on another device."""
    tensors = {
        f.name: getattr(data, f.name).to(device)
        for f in dataclasses.fields(data)
        if isinstance(getattr(data, f.name), torch.Tensor)
    }
    return dataclasses.replace(data, device=device, **tensors)


def load_for_run(data_root: str | Path | None, device: torch.device, config, *, download: bool) -> FashionData:
    """The data a run with ``config`` trains on, from the folder the user named (which must
    exist) or the one the settings give.

    Raises:
        DataError: see ``check_data_folder`` and ``load_fashion_mnist``.
    """
    from explorer import settings

    if data_root is not None:
        check_data_folder(data_root)
    return load_fashion_mnist(
        settings.data_dir(data_root),
        device,
        download=download,
        subset=config.subset,
        val_fraction=config.val_fraction,
        seed=config.seed,
    )
