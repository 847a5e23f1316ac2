"""Load an image a user dropped, opened or pasted, or refuse it with one clear line.

Every decoding problem becomes an ``ImageError`` naming the file and the reason; nothing
else escapes (a property test feeds random bytes). Unusual but valid images are brought to
8-bit ``L`` or ``RGB`` the way a person would expect them to look, with a notice where
something was changed: 16-bit and float images are rescaled by their range (a plain
``convert("RGB")`` turns them white or black), transparency is composited on white,
animations and multi-page files show their first frame, and camera orientation is applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image, ImageOps

from explorer.errors import UserError

#: Refused above this many pixels, before decoding (Pillow's own default limit; Pillow
#: only warns between 1x and 2x of it, so the warning is turned into an error too).
MAX_PIXELS = 89_478_485
#: Files larger than this are refused before they are read.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: Large JPEGs are decoded at a reduced scale (DCT scaling, much faster) no smaller than this.
JPEG_DRAFT_SIDE = 1024

_EXIF_ORIENTATION = 0x0112
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

# One redirect of the process's C stderr at a time (images load on worker threads).
_STDERR_LOCK = threading.Lock()
_capture: dict[str, object] = {}


@contextlib.contextmanager
def _c_stderr_captured(lines: list[str]):
    """Send file descriptor 2 to a temporary file while libtiff decodes, so its own error
    lines do not appear beside ours; what it wrote is appended to ``lines``.

    Without a usable descriptor 2 (a windowed build) nothing is redirected.
    """
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield
            return
        sink = tempfile.TemporaryFile()
        try:
            os.dup2(sink.fileno(), 2)
            _capture["sink"] = sink
            try:
                yield
            finally:
                os.dup2(saved, 2)
                lines.extend(_flush_chatter())
                _capture.pop("sink", None)
        finally:
            os.close(saved)
            sink.close()


def _flush_chatter() -> list[str]:
    """Lines libtiff has written to the captured stream since the last call."""
    sink = _capture.get("sink")
    if sink is None:
        return []
    sink.seek(0)
    text = sink.read().decode("utf-8", "replace")
    sink.seek(0)
    sink.truncate()
    return [line.strip() for line in text.splitlines() if line.strip()]


class ImageError(UserError):
    """An image cannot be loaded; the message is one line for the user."""


@dataclasses.dataclass
class LoadedImage:
    """A decoded image ready for preprocessing.

    Attributes:
        image: fully decoded, mode ``L`` (grey) or ``RGB``.
        notices: one-line remarks on what was changed ("animated GIF: showing the first
            frame of 12"); empty when the file loaded as it is.
        source: a label for the status bar: the file name, or what the bytes came from.
        original_size: (width, height) as stored in the file, before any reduction.
        format: Pillow's format name ("PNG", "JPEG", ...), or "" if unknown.
    """

    image: Image.Image
    notices: list[str]
    source: str
    original_size: tuple[int, int]
    format: str


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} megapixels"


def _read_source(source: str | os.PathLike | bytes | bytearray | memoryview, label: str | None):
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = label or "the image data"
        if not data:
            raise ImageError(f"{name} is empty (0 bytes)")
        if len(data) > MAX_FILE_BYTES:
            raise ImageError(f"{name} is too large ({len(data) / 2**20:.0f} MB; the limit is "
                             f"{MAX_FILE_BYTES // 2**20} MB)")
        return data, name
    text = os.fspath(source)
    parsed = urlparse(text) if isinstance(text, str) else None
    if parsed is not None and parsed.scheme == "file":
        text = unquote(parsed.path)
    elif parsed is not None and len(parsed.scheme) > 1 and parsed.scheme.isalpha():
        # A one-letter scheme is a Windows drive ("C:\\..."), not a URL.
        raise ImageError(f"only local image files can be opened, not {text}")
    path = Path(text).expanduser()
    name = label or path.name or str(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ImageError(f"file not found: {path}") from None
    except OSError as exc:
        raise ImageError(f"cannot read {name}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise ImageError(f"{name} is a folder, not an image file")
    if stat.st_size == 0:
        raise ImageError(f"{name} is empty (0 bytes)")
    if stat.st_size > MAX_FILE_BYTES:
        raise ImageError(
            f"{name} is too large ({stat.st_size / 2**20:.0f} MB; the limit is "
            f"{MAX_FILE_BYTES // 2**20} MB)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {name}: {exc.strerror or exc}") from None
    return data, name


def _bomb_message(name: str, exc: BaseException) -> str:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    size = f" ({_megapixels(int(match.group(1)))})" if match else ""
    return (f"{name} is too large{size}: images over {_megapixels(MAX_PIXELS)} are refused "
            "as a possible decompression bomb")


def check_pixel_count(name: str, width: int, height: int) -> None:
    """Refuse an image by its size alone (from a file's header, or a pasted picture's
    dimensions), before any pixel is decoded or encoded.

    Raises:
        ImageError: no pixels, or more than ``MAX_PIXELS``.
    """
    if width <= 0 or height <= 0:
        raise ImageError(f"{name} has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name} is too large ({width}x{height}, {_megapixels(width * height)}): "
            f"images over {_megapixels(MAX_PIXELS)} are refused as a possible "
            "decompression bomb"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def load_image(
    source: str | os.PathLike | bytes | bytearray | memoryview, label: str | None = None
) -> LoadedImage:
    """Decode an image file (path, ``file://`` URL) or encoded bytes.

    Args:
        source: a local path or ``file://`` URL, or the bytes of an encoded image.
        label: how to name the image in messages (defaults to the file name).

    Returns:
        The decoded image in ``L`` or ``RGB`` mode, with notices.

    Raises:
        ImageError: for every input that is not a usable image: missing, empty, a folder,
            a remote URL, not an image, corrupt or truncated, too many pixels.
    """
    data, name = _read_source(source, label)
    notices: list[str] = []
    # libtiff reports decode errors on the C stderr stream, not through Pillow.
    chatter: list[str] = []
    quiet = _c_stderr_captured(chatter) if data[:4] in _TIFF_MAGIC else contextlib.nullcontext()
    with quiet:
        loaded = _decode(data, name, notices, chatter)
    for line in chatter:
        notices.append(f"decoder warning: {line[:100]}")
    return loaded


def _decode(data: bytes, name: str, notices: list[str], chatter: list[str]) -> LoadedImage:
    with warnings.catch_warnings(record=True) as caught:
        # Decoder warnings (corrupt EXIF, short TIFF strips) become notices; Pillow only
        # warns between 1x and 2x its pixel limit, so that warning is made an error.
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(_bomb_message(name, exc)) from None
        except Image.UnidentifiedImageError:
            raise ImageError(
                f"{name} is not an image in a format this app can read (PNG, JPEG, GIF, BMP, "
                "TIFF, WebP, ...)"
            ) from None
        except Exception as exc:  # noqa: BLE001 - plugins raise many types on bad headers
            raise ImageError(f"{name} is corrupt or truncated: {_reason(exc)}") from None
        # Image.open has read only the header: the size is refused before decoding (here
        # when Image.MAX_IMAGE_PIXELS was raised or disabled elsewhere).
        width, height = image.size
        check_pixel_count(name, width, height)
        fmt = image.format or ""
        try:
            # Counting frames seeks through the file (TIFF, GIF), so a corrupt one fails here.
            frames = getattr(image, "n_frames", 1) or 1
            if frames > 1:
                image.seek(0)
                kind = "animated GIF" if fmt == "GIF" else (
                    f"multi-page {fmt}" if fmt in ("TIFF", "MPO") else f"animated {fmt}")
                notices.append(f"{kind}: showing the first of {frames} frames")
            if fmt == "JPEG" and min(width, height) > 2 * JPEG_DRAFT_SIDE:
                image.draft(image.mode if image.mode in ("L", "RGB") else None,
                            (JPEG_DRAFT_SIDE, JPEG_DRAFT_SIDE))
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(_bomb_message(name, exc)) from None
        except MemoryError:
            raise ImageError(f"{name} is too large to decode in the memory available") from None
        except Exception as exc:  # noqa: BLE001 - truncated data surfaces as many types
            raise ImageError(f"{name} is corrupt or truncated: {_reason(exc)}") from None
        finally:
            chatter.extend(_flush_chatter())
        try:
            image = _apply_orientation(image, notices)
            image = _to_display_mode(image, name, notices)
        except ImageError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ImageError(f"{name} cannot be converted to RGB: {_reason(exc)}") from None
    for message in dict.fromkeys(str(w.message).strip() for w in caught):
        if message:
            notices.append(f"decoder warning: {message.splitlines()[0][:100]}")
    return LoadedImage(image=image, notices=notices, source=name, original_size=(width, height),
                       format=fmt)


def _apply_orientation(image: Image.Image, notices: list[str]) -> Image.Image:
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - broken EXIF must not block a readable picture
        notices.append("unreadable EXIF data ignored")
        return image
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        rotated = ImageOps.exif_transpose(image)
        if rotated is not None:
            notices.append("rotated to the camera's EXIF orientation")
            return rotated
    return image


def _composite_on_white(image: Image.Image, notices: list[str]) -> Image.Image:
    rgba = image.convert("RGBA")
    alpha_min, _ = rgba.getchannel("A").getextrema()
    if alpha_min < 255:
        notices.append("transparent areas shown on white")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _rescale_to_8bit(image: Image.Image, notices: list[str]) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        notices.append(f"{image.mode} image has no finite values; shown black")
        return Image.new("L", image.size, 0)
    lo = float(values[finite].min())
    hi = float(values[finite].max())
    kind = "float" if image.mode == "F" else "16-bit" if image.mode.startswith("I;16") else "32-bit"
    values = np.where(finite, values, lo)
    if image.mode == "F" and lo >= 0.0 and hi <= 1.0:
        # Already a 0..1 image: keep its brightness instead of stretching its contrast.
        scaled = values * 255.0
        notices.append(f"{kind} image: values 0..1 mapped to 0..255")
    elif hi > lo:
        scaled = (values - lo) * (255.0 / (hi - lo))
        notices.append(f"{kind} image: rescaled its range {lo:g}..{hi:g} to 0..255")
    else:
        scaled = np.zeros_like(values)
        notices.append(f"{kind} image has a single value ({lo:g}); shown black")
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _to_display_mode(image: Image.Image, name: str, notices: list[str]) -> Image.Image:
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I") or mode == "F":
        return _rescale_to_8bit(image, notices)
    if mode == "P":
        if "transparency" in image.info:
            return _composite_on_white(image, notices)
        return image.convert("RGB")
    if mode in ("RGBA", "RGBa", "PA"):
        return _composite_on_white(image, notices)
    if mode in ("LA", "La"):
        return _composite_on_white(image.convert("RGBA"), notices).convert("L")
    if mode == "CMYK":
        notices.append("CMYK image converted to RGB")
        return image.convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError):
        raise ImageError(f"{name} uses the {mode} colour mode, which cannot be shown") from None


def image_from_pil(image: Image.Image, source: str) -> LoadedImage:
    """Wrap an already decoded image (pasted, generated) as a ``LoadedImage``.

    The same mode handling as ``load_image`` applies (16-bit rescaled, alpha composited).

    Raises:
        ImageError: the image has no pixels, too many, or a mode that cannot be shown.
    """
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"{source} has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(f"{source} is too large ({width}x{height}, "
                         f"{_megapixels(width * height)}; the limit is {_megapixels(MAX_PIXELS)})")
    notices: list[str] = []
    try:
        converted = _to_display_mode(image, source, notices)
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ImageError(f"{source} cannot be converted to RGB: {_reason(exc)}") from None
    return LoadedImage(image=converted, notices=notices, source=source, original_size=(width, height),
                       format=image.format or "")
