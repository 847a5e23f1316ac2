"""Fashion-MNIST held whole as tensors on the training device.

The data set is small (60,000 28x28 images are 47 MB as uint8), so instead of a per-sample
``DataLoader`` the images stay on the device as one uint8 tensor; batches are drawn with a
random permutation and converted, resized and augmented there (see ``augment.py``). That
removes the per-image PIL/``ToTensor`` work that dominates a textbook loop on small models.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from explorer.errors import UserError

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


def _read_split(root: Path, train: bool, download: bool):
    from torchvision.datasets import FashionMNIST

    split = "train" if train else "t10k"
    try:
        dataset = FashionMNIST(root=str(root), train=train, download=download)
    except RuntimeError as exc:
        text = str(exc)
        if "Dataset not found" in text:
            raise DataError(_missing_message(root, download)) from None
        if "Error downloading" in text or "not found or corrupted" in text:
            raise DataError(
                f"Fashion-MNIST could not be downloaded (no network?); put the four IDX files "
                f"({', '.join(RAW_FILES)}) into {raw_folder(root)}"
            ) from None
        raise DataError(f"Fashion-MNIST {split} files in {raw_folder(root)} are corrupt ({text})") from None
    except OSError as exc:
        # URLError is an OSError: downloading without a network ends here.
        if download and not raw_folder(root).joinpath(f"{split}-images-idx3-ubyte").exists():
            raise DataError(
                f"Fashion-MNIST could not be downloaded ({exc}); put the four IDX files "
                f"({', '.join(RAW_FILES)}) into {raw_folder(root)}"
            ) from None
        raise DataError(f"cannot read Fashion-MNIST {split} files in {raw_folder(root)}: {exc}") from None
    except (AssertionError, TypeError, ValueError, KeyError) as exc:
        # torchvision's IDX reader asserts on a bad magic number and fails on a bad dtype or a
        # size that does not match the header.
        raise DataError(
            f"Fashion-MNIST {split} files in {raw_folder(root)} are corrupt "
            f"({type(exc).__name__}: {exc or 'bad header'}); replace them"
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
    how = "the download failed" if download else "downloading is off"
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
    train_images, train_labels = _read_split(root, True, download)
    test_images, test_labels = _read_split(root, False, download)
    if subset is not None:
        train_images, train_labels = train_images[:subset], train_labels[:subset]
        test_images, test_labels = test_images[:subset], test_labels[:subset]

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train_labels), generator=generator)
    n_val = int(round(len(order) * val_fraction))
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
