"""A huge image is refused from its header, before a pixel is decoded (issue 17).

The files here are a few hundred bytes: a PNG header that says 12,000 x 12,000 followed by
a nearly empty zlib stream. Decoding one would take seconds and half a gigabyte; refusing
it must not decode it at all (``ImageFile.load`` is made to fail the test if called).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from explorer.activations.images import ImageError, check_pixel_count, load_image


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_the_file_is_tiny_and_its_header_reads_as_huge(monkeypatch, huge_png):
    data = huge_png
    assert len(data) < 200
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # read the header without Pillow's check
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (12_000, 12_000) and image.format == "PNG"


@pytest.mark.parametrize("as_file", [False, True])
def test_huge_header_is_refused_without_decoding(as_file, tmp_path, no_decoding, huge_png):
    data = huge_png
    if as_file:
        source = tmp_path / "huge.png"
        source.write_bytes(data)
        name = "huge.png"
    else:
        source, name = data, "clipboard image"
    with pytest.raises(ImageError, match=rf"^{name} is too large .*144\.0 megapixels.*89\.5 megapixels"):
        load_image(source, label=None if as_file else name)


def test_refused_even_when_pillows_own_limit_was_lifted(monkeypatch, no_decoding, huge_png):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageError, match=r"12000x12000, 144\.0 megapixels"):
        load_image(huge_png, label="pasted")


def test_check_pixel_count_by_size_alone():
    check_pixel_count("ok", 9000, 9000)
    with pytest.raises(ImageError, match="no pixels"):
        check_pixel_count("empty", 0, 10)
    with pytest.raises(ImageError, match="12000x12000"):
        check_pixel_count("big", 12_000, 12_000)
