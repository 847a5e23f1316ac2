"""Fault test: libtiff's own stderr lines (a bit-flipped LZW TIFF) stay out of the output."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.activations.images import ImageError, load_image

REPO = Path(__file__).resolve().parents[2]


def _bit_flipped_lzw_tiff(path: Path) -> Path:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", compression="tiff_lzw")
    data = bytearray(buffer.getvalue())
    for i in range(40, 400, 7):  # inside the first strip's LZW codes
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_libtiff_chatter_is_captured_in_process(tmp_path, capfd):
    path = _bit_flipped_lzw_tiff(tmp_path / "bad.tif")
    with pytest.raises(ImageError, match="bad.tif is corrupt or truncated"):
        load_image(path)
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_cli_prints_one_line_for_a_bit_flipped_tiff(tmp_path):
    path = _bit_flipped_lzw_tiff(tmp_path / "bad.tif")
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "inspect", "lenet", str(path), "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad.tif is corrupt or truncated"), result.stderr


def test_stderr_works_after_a_capture(tmp_path, capfd):
    with pytest.raises(ImageError):
        load_image(_bit_flipped_lzw_tiff(tmp_path / "bad.tif"))
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"
