"""The feature-map panel: drops, bad files, keys, graph clicks, channel clicks, sources."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from explorer.models import get_model
from explorer.ui.feature_panel import FeatureMapPanel

MODEL = "resnet18_small"  # residual adds and in-place ReLU, fast at 28x28


def _wait_idle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.busy and panel.view_state is not None
                    and panel.view_state.version == panel._wish.version, timeout=30_000)


@pytest.fixture
def panel(qtbot, tmp_path):
    widget = FeatureMapPanel(device="cpu", data_root=tmp_path / "no-data")
    # Let a running worker finish before pytest-qt closes and deletes the widget.
    qtbot.addWidget(widget, before_close_func=lambda w: qtbot.waitUntil(
        lambda: not w.busy, timeout=30_000))
    widget.resize(1000, 700)
    messages: list[str] = []
    widget.message.connect(messages.append)
    widget.messages = messages
    with qtbot.waitSignal(widget.view_updated, timeout=30_000):
        widget.set_model(MODEL, get_model(MODEL), False)
    _wait_idle(qtbot, widget)
    return widget


def _drop_event(urls):
    event = MagicMock()
    event.mimeData.return_value.hasUrls.return_value = True
    event.mimeData.return_value.urls.return_value = urls
    return event


def _png(path: Path, size=(40, 40), colour=(200, 30, 30)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def test_starts_on_the_builtin_sample_and_first_layer(panel):
    assert panel.current_image.source.startswith("sample: Ankle boot")
    view = panel.view_state
    assert view.record.index == 1 and view.record.kind == "Conv2d"
    assert panel.current_node == view.record.name
    assert view.rgba is not None and view.mosaic.channels == view.shape[1]
    assert panel.predictions is not None and len(panel.predictions.top) == 5
    assert "untrained weights" in panel.prediction_note.text()
    assert panel.top5_table.item(0, 0).text() in {p.name for p in panel.predictions.top}
    assert "Learned kernels" in panel.kernel_label.text()
    panel.grab().save("/tmp/feature_panel.png")


def test_drop_local_file(panel, qtbot, tmp_path):
    path = _png(tmp_path / "red.png")
    with qtbot.waitSignal(panel.image_changed, timeout=10_000) as signal:
        panel.dropEvent(_drop_event([QUrl.fromLocalFile(str(path))]))
    assert signal.args == ["red.png"]
    _wait_idle(qtbot, panel)
    assert panel.current_image.source == "red.png"
    assert panel.source_label.text().startswith("Image: red.png (40x40)")


def test_drop_several_files_takes_the_first_with_a_notice(panel, qtbot, tmp_path):
    first = _png(tmp_path / "first.png")
    second = _png(tmp_path / "second.png")
    with qtbot.waitSignal(panel.image_changed, timeout=10_000):
        panel.dropEvent(_drop_event([QUrl.fromLocalFile(str(first)), QUrl.fromLocalFile(str(second))]))
    assert panel.current_image.source == "first.png"
    assert any("2 files dropped: showing the first, first.png" in m for m in panel.messages)


def test_folders_and_remote_urls_are_refused(panel, qtbot, tmp_path):
    before = panel.current_image
    panel.dropEvent(_drop_event([QUrl.fromLocalFile(str(tmp_path))]))
    assert "is a folder" in panel.messages[-1]
    panel.handle_drop([QUrl("https://example.com/cat.jpg")])
    assert panel.messages[-1] == "only local image files can be opened, not https://example.com/cat.jpg"
    panel.handle_drop([])
    assert "nothing to open" in panel.messages[-1]
    assert panel.current_image is before and not panel.busy


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "is empty"), ("cut-gif", "truncated"), (b"plain text", "is not an image")],
    ids=["zero-byte", "truncated-gif", "text"],
)
def test_bad_file_keeps_the_previous_image(panel, qtbot, tmp_path, content, expected):
    before = panel.current_image
    node = panel.current_node
    bad = tmp_path / "bad.png"
    if content == "cut-gif":
        noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
        Image.fromarray(noise).convert("P").save(tmp_path / "full.gif")
        content = (tmp_path / "full.gif").read_bytes()[:1500]
    bad.write_bytes(content)
    with qtbot.waitSignal(panel.message, timeout=10_000) as signal:
        panel.handle_drop([QUrl.fromLocalFile(str(bad))])
    assert expected in signal.args[0] and "\n" not in signal.args[0]
    qtbot.waitUntil(lambda: not panel.busy)
    assert panel.current_image is before and panel.current_node == node


def test_keys_step_through_the_nodes(panel, qtbot):
    panel.setFocus()
    start = panel.view_state.record.index
    with qtbot.waitSignal(panel.current_node_changed, timeout=10_000):
        qtbot.keyClick(panel, Qt.Key.Key_Right)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == start + 1
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == start
    qtbot.keyClick(panel, Qt.Key.Key_End)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.op == "output"
    assert panel.view_state.record.index == len(panel.stepper) - 1
    qtbot.keyClick(panel, Qt.Key.Key_Home)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == 0 and panel.view_state.record.kind == "input"


def test_space_plays_to_the_end_and_pauses(panel, qtbot):
    panel._play.setInterval(1)
    panel.show_node("layer4")
    _wait_idle(qtbot, panel)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert panel.playing and panel.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: not panel.playing, timeout=30_000)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.op == "output"
    panel.step_first()
    _wait_idle(qtbot, panel)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not panel.playing and panel.play_button.text() == "Play"


def test_graph_click_runs_to_the_node(panel, qtbot):
    # The residual add of block layer2.0, as the graph names it (fx node name).
    add = next(r.name for r in panel.stepper.nodes
               if r.target == "add" and r.module_path == "layer2.0")
    with qtbot.waitSignal(panel.current_node_changed, timeout=10_000) as signal:
        panel.show_node(add)
    assert signal.args == [add]
    _wait_idle(qtbot, panel)
    view = panel.view_state
    assert view.record.name == add and view.record.module_path == "layer2.0"
    # A collapsed block from the graph stands for its output node.
    panel.show_node("layer1")
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.module_path.startswith("layer1.")
    # Back to an earlier node replays; the captured values are the fresh ones.
    panel.show_node("bn1")
    _wait_idle(qtbot, panel)
    assert panel.current_node == "bn1"
    assert panel.view_state.stats.negative_share > 0.0  # a copy taken before the in-place ReLU
    panel.show_node("no_such_node")
    assert "no node or module named 'no_such_node'" in panel.messages[-1]


def test_most_varied_channel_is_enlarged_until_one_is_clicked(panel):
    channels = panel.view_state.channels
    strongest = int(channels.reshape(channels.shape[0], -1).std(axis=1).argmax())
    assert panel.channel_label.text().startswith(f"most varied channel {strongest}:")
    assert panel.channel_pane.item.image is not None
    panel.detail_tabs.setCurrentIndex(1)  # the histogram tab stays while stepping
    panel.step_forward()
    assert panel.detail_tabs.currentIndex() == 1


def test_click_on_a_channel_enlarges_it(panel, qtbot):
    panel.show()
    qtbot.waitExposed(panel)
    mosaic = panel.view_state.mosaic
    x, y = mosaic.channel_origin(2)
    pos = panel.mosaic_pane.widget_pos_of_pixel(x + mosaic.cell_w / 2, y + mosaic.cell_h / 2)
    qtbot.mouseClick(panel.mosaic_pane.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: panel.channel_label.text().startswith("channel 2:"), timeout=5_000)
    assert panel.channel_pane.item.image is not None
    panel.mosaic_pane.hovered.emit(x + 1.5, y + 2.5)
    value = panel.view_state.channels[2, 2, 1]
    assert panel.hover_label.text() == f"channel 2 (1, 2) = {value:.4g}"
    panel.mosaic_pane.hovered.emit(-1.0, -1.0)
    assert panel.hover_label.text() == ""
    panel.grab().save("/tmp/feature_panel_channel.png")


def test_colour_map_and_scale_redraw_the_mosaic(panel):
    before = panel.view_state.rgba.copy()
    panel.colormap_combo.setCurrentIndex(panel.colormap_combo.findData("gray"))
    panel.colormap_combo.activated.emit(panel.colormap_combo.currentIndex())
    grey = panel.view_state.rgba
    assert not np.array_equal(before, grey)
    finite = np.isfinite(panel.view_state.mosaic.values)
    assert (grey[finite][:, 0] == grey[finite][:, 1]).all()  # grey levels
    panel.scale_combo.setCurrentIndex(1)
    panel.scale_combo.activated.emit(1)
    assert panel.view_state.mosaic.lo is None  # per-channel scale


def test_paste_open_dialog_and_samples(panel, qtbot, tmp_path, monkeypatch):
    image = QImage(20, 10, QImage.Format.Format_RGB32)
    image.fill(0x3366CC)
    data = QMimeData()
    data.setImageData(image)
    QGuiApplication.clipboard().setMimeData(data)
    with qtbot.waitSignal(panel.image_changed, timeout=10_000) as signal:
        panel.paste_image()
    assert signal.args == ["clipboard image"] and panel.current_image.image.size == (20, 10)
    QGuiApplication.clipboard().setText("just words")
    panel.paste_image()
    assert panel.messages[-1] == "the clipboard holds no image"

    path = _png(tmp_path / "picked.png")
    monkeypatch.setattr("explorer.ui.feature_panel.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(panel.image_changed, timeout=10_000):
        panel.open_image_dialog()
    assert panel.current_image.source == "picked.png"

    with qtbot.waitSignal(panel.image_changed, timeout=10_000):
        panel.sample_combo.activated.emit(panel.sample_combo.findData("shapes"))
    assert panel.current_image.source == "sample: Shapes (colour drawing)"
    _wait_idle(qtbot, panel)


def test_fashion_picker(qtbot, fashion_root):
    widget = FeatureMapPanel(device="cpu", data_root=fashion_root)
    qtbot.addWidget(widget, before_close_func=lambda w: qtbot.waitUntil(lambda: not w.busy))
    assert widget.fashion_spin.isEnabled()
    with qtbot.waitSignal(widget.image_changed, timeout=10_000) as signal:
        widget.load_fashion_test_image(5)
    assert signal.args[0].startswith("Fashion-MNIST test #5 (")
    empty = FeatureMapPanel(device="cpu", data_root=fashion_root / "missing")
    qtbot.addWidget(empty)
    assert not empty.fashion_spin.isEnabled()
    empty.refresh_data_folder(fashion_root)  # the user pointed the settings at the data
    assert empty.fashion_spin.isEnabled()


def test_new_weights_keep_the_node_and_say_trained(panel, qtbot):
    panel.show_node("layer3")
    _wait_idle(qtbot, panel)
    node = panel.current_node
    panel.set_model(MODEL, get_model(MODEL), True)
    _wait_idle(qtbot, panel)
    assert panel.current_node == node
    assert panel.prediction_note.text() == ""


def test_untraceable_model_is_reported(panel, qtbot):
    import torch

    class Branchy(torch.nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with qtbot.waitSignal(panel.message, timeout=10_000) as signal:
        panel.set_model("branchy", Branchy(), False)
    assert "could not trace" in signal.args[0]
    qtbot.waitUntil(lambda: not panel.busy)


def test_device_choice(panel, qtbot, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    node = panel.current_node
    panel.set_device("cuda")
    assert "CUDA was requested" in panel.messages[-1]
    assert panel.device_combo.currentData() == "cpu"
    panel.set_device("cpu")
    _wait_idle(qtbot, panel)
    assert panel.current_node == node and str(panel.stepper.device) == "cpu"
