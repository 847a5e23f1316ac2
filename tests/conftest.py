"""Shared fixtures: headless Qt, isolated settings folders, and Fashion-MNIST data.

Tests never touch the user's settings or the network. Data comes from ../shared/data when
the checkout sits beside it (development and CI); in a user's clone without it, a tiny
IDX set in the torchvision layout is written instead and read by the same loading code.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One intra-op thread, here and in the worker processes the tests start (they inherit the
# environment): the tests run many tiny forward passes, and two OpenMP threads on a busy
# 2-core machine spin-wait on each other (the model tests ran 72 s instead of 16 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path_factory, monkeypatch):
    """Point every folder the app writes to at a temporary directory."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CNN_EXPLORER_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("CNN_EXPLORER_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("CNN_EXPLORER_DATA_HOME", str(base / "data-home"))
    monkeypatch.delenv("CNN_EXPLORER_DATA", raising=False)
    # torchvision's weight cache: keep tests from finding or writing real downloads.
    monkeypatch.setenv("TORCH_HOME", str(base / "torch"))
    return base


def write_idx_set(root: Path, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    """Write a tiny Fashion-MNIST look-alike in IDX format under root/FashionMNIST/raw.

    Each class is a distinct, learnable pattern (a bar at a class-specific position plus
    noise), so training code has something real to fit.
    """
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            row = 2 + int(label) * 2
            images[i, row : row + 3, 4:24] = 220
        with open(raw / f"{prefix}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28))
            f.write(images.tobytes())
        with open(raw / f"{prefix}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">II", 2049, n))
            f.write(labels.tobytes())
    return root


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory) -> Path:
    """A folder holding FashionMNIST/raw: the real subset when present, else a tiny set."""
    if (SHARED_DATA / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists():
        return SHARED_DATA
    return write_idx_set(tmp_path_factory.mktemp("fashion"))


@pytest.fixture(scope="session")
def tiny_fashion_root(tmp_path_factory) -> Path:
    """Always the tiny generated set (for tests of the fallback path itself)."""
    return write_idx_set(tmp_path_factory.mktemp("tiny-fashion"))


@pytest.fixture(autouse=True)
def collect_garbage_on_the_main_thread():
    """Once a window has switched automatic collection off (explorer/ui/main_thread_gc.py),
    tests that run no event loop still get the collections gc would have done."""
    yield
    import gc

    if not gc.isenabled():
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                break


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@pytest.fixture
def huge_png() -> bytes:
    """A 200-byte PNG whose header claims 12,000 x 12,000 8-bit RGB pixels (a decompression
    bomb's shape: it must be refused from the header, before decoding)."""
    header = struct.pack(">IIBBBBB", 12_000, 12_000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + _png_chunk(b"IEND", b""))
