"""Every bad input the issue lists gives one ImageError line; odd but valid images load."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from explorer.errors import UserError
from explorer.activations.images import MAX_PIXELS, ImageError, LoadedImage, image_from_pil, load_image


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A real decompression bomb: a 1-bit PNG whose IDAT inflates to width*height/8 bytes
    (or only ``rows`` rows of it: the header alone claims the size)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows))
    body += compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
            + _png_chunk(b"IEND", b""))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert text and "\n" not in text
    assert isinstance(exc.value, UserError)
    return text


# ------------------------------------------------------------------------ refusals


def test_missing_file(tmp_path):
    with pytest.raises(ImageError) as exc:
        load_image(tmp_path / "nope.png")
    assert "file not found" in _one_line(exc)


def test_folder(tmp_path):
    with pytest.raises(ImageError) as exc:
        load_image(tmp_path)
    assert "is a folder" in _one_line(exc)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as exc:
        load_image(path)
    assert _one_line(exc) == "empty.png is empty (0 bytes)"
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels\n" * 20)
    with pytest.raises(ImageError) as exc:
        load_image(path)
    assert "notes.png is not an image" in _one_line(exc)


def test_corrupt_png(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[60:90] = b"\xff" * 30  # smash the compressed pixel data
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError) as exc:
        load_image(path)
    assert "corrupt" in _one_line(exc)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files(tmp_path, fmt):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError) as exc:
        load_image(path)
    assert "truncated" in _one_line(exc) or "corrupt" in _one_line(exc)


def test_decompression_bomb_in_the_warning_range_is_refused(tmp_path):
    # 10,000 x 10,000 = 100 MP: above Pillow's limit but below twice it, where Pillow only
    # warns. The file is 12 kB; decoded it would take 100 MB.
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(10_000, 10_000))
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageError) as exc:
        load_image(path)
    text = _one_line(exc)
    assert "too large (100.0 megapixels)" in text and "decompression bomb" in text


def test_very_large_dimensions_are_refused(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_bomb_png(40_000, 30_000, rows=4))  # 1.2 gigapixels: Pillow's error range
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_own_cap_holds_when_pillow_limit_is_disabled(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(10_000, 10_000))
    with pytest.raises(ImageError, match="10000x10000"):
        load_image(path)
    assert 10_000 * 10_000 > MAX_PIXELS


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "ftp://host/a.jpg"])
def test_remote_urls_are_refused(url):
    with pytest.raises(ImageError) as exc:
        load_image(url)
    assert "only local image files" in _one_line(exc)


def test_file_urls_are_local_files(tmp_path):
    path = _save(Image.new("RGB", (8, 8), "red"), tmp_path / "a b.png")
    loaded = load_image(path.as_uri())
    assert loaded.image.size == (8, 8)


# ------------------------------------------------------------------ unusual images


def test_16_bit_image_is_rescaled_by_its_range(tmp_path):
    ramp = np.tile(np.linspace(0, 4095, 64).astype(np.uint16), (16, 1))
    path = _save(Image.fromarray(ramp), tmp_path / "depth.png")
    assert Image.open(path).mode.startswith("I")
    loaded = load_image(path)
    pixels = np.asarray(loaded.image)
    assert loaded.image.mode == "L"
    assert pixels.min() == 0 and pixels.max() == 255  # not all white, not all black
    assert any("16-bit" in n and "0..4095" in n for n in loaded.notices)
    plain = np.asarray(Image.open(path).convert("RGB"))
    assert (plain == 255).mean() > 0.9  # why the rescale is needed: a plain convert clips


def test_float_images_are_rescaled(tmp_path):
    values = np.linspace(-5.0, 5.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    path = _save(Image.fromarray(values, mode="F"), tmp_path / "signed.tif")
    loaded = load_image(path)
    pixels = np.asarray(loaded.image)
    assert (pixels.min(), pixels.max()) == (0, 255)
    assert any("-5..5" in n for n in loaded.notices)
    unit = np.full((8, 8), 0.5, dtype=np.float32)
    half = load_image(_save(Image.fromarray(unit, mode="F"), tmp_path / "unit.tif"))
    assert np.asarray(half.image).max() == 128  # 0..1 data keeps its brightness


def test_rgba_is_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 5, 10))  # left half fully transparent black
    loaded = load_image(_save(rgba, tmp_path / "cut-out.png"))
    pixels = np.asarray(loaded.image)
    assert loaded.image.mode == "RGB"
    assert tuple(pixels[0, 0]) == (255, 255, 255) and tuple(pixels[0, 9]) == (255, 0, 0)
    assert "transparent areas shown on white" in loaded.notices


def test_grey_with_alpha_stays_grey(tmp_path):
    la = Image.new("LA", (4, 4), (0, 0))
    loaded = load_image(_save(la, tmp_path / "la.png"))
    assert loaded.image.mode == "L" and np.asarray(loaded.image).min() == 255


def test_cmyk_and_palette_images(tmp_path):
    cmyk = load_image(_save(Image.new("CMYK", (6, 6), (0, 255, 255, 0)), tmp_path / "c.jpg"))
    assert cmyk.image.mode == "RGB"
    r, g, b = np.asarray(cmyk.image)[3, 3]
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 100%, 100%, 0) is red
    palette = Image.new("P", (6, 6), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    loaded = load_image(_save(palette, tmp_path / "p.gif"))
    assert loaded.image.mode == "RGB" and tuple(np.asarray(loaded.image)[0, 0]) == (0, 0, 255)
    transparent = Image.new("P", (6, 6), 0)
    transparent.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    loaded = load_image(_save(transparent, tmp_path / "t.png", transparency=0))
    assert tuple(np.asarray(loaded.image)[0, 0]) == (255, 255, 255)


def test_bilevel_image(tmp_path):
    loaded = load_image(_save(Image.new("1", (5, 5), 1), tmp_path / "b.png"))
    assert loaded.image.mode == "L" and np.asarray(loaded.image).max() == 255


def test_animated_gif_shows_the_first_frame(tmp_path):
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = load_image(path)
    assert "animated GIF: showing the first of 3 frames" in loaded.notices
    assert tuple(np.asarray(loaded.image)[0, 0]) == (0, 0, 0)


def test_camera_jpeg_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    path = _save(image, tmp_path / "camera.jpg", exif=exif.tobytes(), quality=95)
    loaded = load_image(path)
    assert loaded.image.size == (20, 40)
    assert "rotated to the camera's EXIF orientation" in loaded.notices
    top = np.asarray(loaded.image)[2, 10]
    assert top[0] > 200 and top[2] < 60  # the left strip is now at the top


def test_bytes_and_pil_inputs(tmp_path):
    buffer = io.BytesIO()
    Image.new("L", (7, 5), 100).save(buffer, format="BMP")
    loaded = load_image(buffer.getvalue(), label="clipboard image")
    assert isinstance(loaded, LoadedImage) and loaded.source == "clipboard image"
    assert loaded.format == "BMP" and loaded.image.size == (7, 5)
    wrapped = image_from_pil(Image.new("RGBA", (3, 3), (0, 0, 0, 0)), "generated")
    assert wrapped.image.mode == "RGB" and wrapped.notices


# --------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=2048))
def test_random_bytes_give_an_image_or_our_error(data):
    try:
        loaded = load_image(data)
    except ImageError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert loaded.image.mode in ("L", "RGB")


def _valid_files() -> list[bytes]:
    out = []
    for fmt, mode in (("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"),
                      ("TIFF", "RGB"), ("WEBP", "RGB")):
        buffer = io.BytesIO()
        Image.new(mode, (24, 16), 90 if mode == "P" else (30, 60, 90, 200)[: len(mode)]).save(
            buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


VALID = _valid_files()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(VALID))),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(0, 10_000),
)
def test_mutated_real_files_give_an_image_or_our_error(which, edits, cut):
    data = bytearray(VALID[which])
    for position, value in edits:
        data[position % len(data)] = value
    data = bytes(data[: max(cut, 1)]) if cut < len(data) else bytes(data)
    try:
        loaded = load_image(data)
    except ImageError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert loaded.image.mode in ("L", "RGB")


def test_tiff_whose_frames_cannot_be_counted_is_our_error(tmp_path):
    """A TIFF whose header decodes but whose IFD chain is broken: Pillow raises TypeError
    ('Missing dimensions') while counting frames, which must not escape the loader."""
    # Little-endian TIFF, first IFD at offset 8 with one entry (NewSubfileType) and a next
    # IFD pointer into a second IFD that lacks the width/height tags.
    first = struct.pack("<H", 3) + struct.pack("<HHII", 256, 4, 1, 4) + struct.pack("<HHII", 257, 4, 1, 4) \
        + struct.pack("<HHII", 273, 4, 1, 200) + struct.pack("<I", 8 + 2 + 36 + 4)
    second = struct.pack("<H", 1) + struct.pack("<HHII", 254, 4, 1, 0) + struct.pack("<I", 0)
    data = b"II*\x00" + struct.pack("<I", 8) + first + second + b"\x00" * 64
    with pytest.raises(ImageError, match="broken.tif is corrupt or truncated"):
        load_image(data, label="broken.tif")
