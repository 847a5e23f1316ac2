"""Pasting or dropping a huge picture does not freeze the window (issue 17): a decoded one is
refused by its size before it is encoded, an encoded one goes to a worker thread, which
refuses it from its header without decoding; a usable picture is encoded off the GUI
thread."""

from __future__ import annotations

import threading

import pytest
from PIL import ImageFile
from PySide6.QtCore import QMimeData
from PySide6.QtGui import QImage

from explorer.session import Session
from explorer.ui.maps import image_source as image_source_module
from explorer.ui.maps.image_source import ImageSource


@pytest.fixture
def source(qtbot):
    session = Session()
    widget = ImageSource(session)
    qtbot.addWidget(widget)
    widget.messages = []
    session.message.connect(widget.messages.append)
    yield widget
    assert widget.stop()


def test_a_huge_decoded_picture_is_refused_at_once_without_encoding(source, monkeypatch):
    def never(image):
        raise AssertionError("a refused picture was encoded")

    monkeypatch.setattr(image_source_module, "png_bytes", never)
    # One bit per pixel: 18 MB in the test, the same 144 megapixels as a screenshot paste.
    huge = QImage(12_000, 12_000, QImage.Format.Format_Mono)
    before = source.session.image  # the sample shown at start
    source.handle_image_data(huge, "clipboard image")
    # Refused in the call itself: nothing was handed to a worker, nothing to wait for.
    assert not source.busy
    assert source.messages == [("clipboard image is too large (12000x12000, 144.0 megapixels): images "
                                "over 89.5 megapixels are refused as a possible decompression bomb")]
    assert source.session.image is before


def test_a_usable_picture_is_encoded_off_the_gui_thread(source, qtbot, monkeypatch):
    threads: list[bool] = []
    real = image_source_module.png_bytes

    def recording(image):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(image)

    monkeypatch.setattr(image_source_module, "png_bytes", recording)
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(0x336699)
    source.handle_image_data(image, "dropped image")
    qtbot.waitUntil(lambda: source.session.image.source == "dropped image", timeout=10_000)
    assert threads == [False]
    assert source.session.image.image.size == (40, 30)


def test_an_encoded_huge_paste_is_refused_from_its_header_off_the_gui_thread(source, qtbot, monkeypatch, huge_png):
    def refuse(self, *args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    data = QMimeData()
    data.setData("image/png", huge_png)
    before = source.session.image
    # What paste_image does with the clipboard's data. Not through the clipboard itself: it
    # takes ownership of a QMimeData made here, and the process then crashed at exit.
    source.handle_mime_image(data, "clipboard image")
    assert source.messages == []  # handed to a worker: the paste returns at once
    qtbot.waitUntil(lambda: bool(source.messages), timeout=10_000)
    assert source.messages[-1].startswith("clipboard image is too large (")
    assert "144.0 megapixels" in source.messages[-1]
    assert source.session.image is before
