"""Images that need no file from the user: built-in samples and Fashion-MNIST test images."""

from __future__ import annotations

import dataclasses
import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.activations.images import ImageError, LoadedImage, load_image
from explorer.activations.predictions import FASHION_MNIST_CLASSES
from explorer.resources import resource_path


@dataclasses.dataclass(frozen=True)
class Sample:
    """A built-in image under ``resources/samples``.

    Attributes:
        name: key, e.g. ``ankle_boot`` or ``shapes``.
        label: shown in the picker, e.g. "Ankle boot (Fashion-MNIST test image)".
        file: file name under ``resources/samples``.
    """

    name: str
    label: str
    file: str


_FILES = [
    "fashion_0_tshirt_top.png", "fashion_1_trouser.png", "fashion_2_pullover.png",
    "fashion_3_dress.png", "fashion_4_coat.png", "fashion_5_sandal.png",
    "fashion_6_shirt.png", "fashion_7_sneaker.png", "fashion_8_bag.png",
    "fashion_9_ankle_boot.png",
]

#: Photographs of things ImageNet has classes for, 256 px on the short side, JPEG.
PHOTOS: tuple[Sample, ...] = (
    Sample("cat_chelsea", "Cat (photo)", "photo_cat.jpg"),
    Sample("coffee", "Coffee cup (photo)", "photo_coffee.jpg"),
    Sample("rocket", "Rocket launch (photo)", "photo_rocket.jpg"),
    Sample("astronaut", "Astronaut (photo)", "photo_astronaut.jpg"),
)

#: Built-in samples, the default (a real Fashion-MNIST ankle boot) first.
SAMPLES: tuple[Sample, ...] = (
    Sample("ankle_boot", "Ankle boot (Fashion-MNIST)", _FILES[9]),
    Sample("shapes", "Shapes (colour drawing)", "shapes.png"),
    *(
        Sample(f.split("_", 2)[2].removesuffix(".png"), f"{FASHION_MNIST_CLASSES[i]} (Fashion-MNIST)", f)
        for i, f in enumerate(_FILES[:9])
    ),
    # Photographs for the ImageNet reference forms (public domain or CC0, from
    # scikit-image's data folder; sources and licences in resources/samples/README.md).
    *PHOTOS,
)


def load_sample(name: str | None = None) -> LoadedImage:
    """Load a built-in sample by name (default: the first of ``SAMPLES``).

    Raises:
        ImageError: unknown sample name, or the installation lacks its resources.
    """
    sample = SAMPLES[0] if name is None else next((s for s in SAMPLES if s.name == name), None)
    if sample is None:
        known = ", ".join(s.name for s in SAMPLES)
        raise ImageError(f"unknown sample {name!r}; built-in samples: {known}")
    try:
        path = resource_path(f"samples/{sample.file}")
    except FileNotFoundError as exc:
        raise ImageError(str(exc)) from None
    loaded = load_image(path, label=f"sample: {sample.label}")
    return loaded


def load_input(spec: str) -> LoadedImage:
    """The image a CLI argument names: ``sample``, ``sample:NAME`` (unless a file has that
    name) or a path to an image file."""
    if spec == "sample":
        return load_sample()
    if spec.startswith("sample:") and not Path(spec).exists():
        return load_sample(spec.split(":", 1)[1])
    return load_image(spec)


def _fashion_file(raw: Path, stem: str) -> Path | None:
    for candidate in (raw / stem, raw / f"{stem}.gz"):
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # a folder the user cannot open holds nothing we can show
            return None
    return None


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise ImageError(f"cannot read {path.name}: {exc}") from None
    if len(data) < 8:
        raise ImageError(f"{path.name} is not an IDX file (too short)")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in (2049, 2051):
        raise ImageError(f"{path.name} is not an IDX file (magic number {magic})")
    dims = magic & 0xFF
    if len(data) < 4 + 4 * dims:
        raise ImageError(f"{path.name} is not an IDX file (header cut short)")
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    expected = int(np.prod(shape))
    if body.size < expected:
        raise ImageError(f"{path.name} is truncated ({body.size} of {expected} bytes)")
    return body[:expected].reshape(shape)


class FashionTestImages:
    """The Fashion-MNIST test images in ``<root>/FashionMNIST/raw`` (IDX files, maybe .gz).

    Args:
        root: the data folder (``explorer.settings.data_dir()``).

    Raises:
        ImageError: the folder lacks the test files, or they are corrupt.
    """

    def __init__(self, root: str | Path) -> None:
        raw = Path(root) / "FashionMNIST" / "raw"
        images = _fashion_file(raw, "t10k-images-idx3-ubyte")
        labels = _fashion_file(raw, "t10k-labels-idx1-ubyte")
        if images is None or labels is None:
            raise ImageError(f"no Fashion-MNIST test images in {raw}")
        self.root = Path(root)
        self._images = _read_idx(images)
        self._labels = _read_idx(labels)
        if self._images.ndim != 3 or len(self._labels) != len(self._images):
            raise ImageError(f"Fashion-MNIST test files in {raw} do not match")
        if self._labels.size and int(self._labels.max()) >= len(FASHION_MNIST_CLASSES):
            raise ImageError(f"Fashion-MNIST test labels in {raw} are corrupt: values outside 0-9")

    @staticmethod
    def available(root: str | Path) -> bool:
        raw = Path(root) / "FashionMNIST" / "raw"
        return (_fashion_file(raw, "t10k-images-idx3-ubyte") is not None
                and _fashion_file(raw, "t10k-labels-idx1-ubyte") is not None)

    def __len__(self) -> int:
        return len(self._images)

    def label(self, index: int) -> int:
        return int(self._labels[index])

    def load(self, index: int) -> LoadedImage:
        """Test image ``index`` as a loaded image labelled with its true class."""
        if not 0 <= index < len(self):
            raise ImageError(f"Fashion-MNIST test image {index} does not exist (0..{len(self) - 1})")
        image = Image.fromarray(np.ascontiguousarray(self._images[index]))
        name = FASHION_MNIST_CLASSES[self.label(index)]
        return LoadedImage(image=image, notices=[], source=f"Fashion-MNIST test #{index} ({name})",
                           original_size=image.size, format="IDX")
