"""The feature-map panel as a view of the session: drops, bad files, keys, nodes, channel
clicks, sources, weights."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from explorer.loading import LoadedModel
from explorer.models import get_model
from explorer.session import Session, WeightsChoice
from explorer.ui.maps.panel import FeatureMapPanel

MODEL = "resnet18_small"  # residual adds and in-place ReLU, fast at 28x28


RANDOM = WeightsChoice("random", seed=1)


def _wait_idle(qtbot, panel):
    qtbot.waitUntil(lambda: panel.settled, timeout=30_000)


def show(session: Session, name: str, module, weights: WeightsChoice = RANDOM) -> None:
    """What the window's builder does: the model, then its module for those weights."""
    session.set_model(name, weights)
    assert session.deliver(LoadedModel.of(name, weights, module))


def _wait_message(qtbot, panel, text: str) -> str:
    qtbot.waitUntil(lambda: any(text in m for m in panel.messages), timeout=10_000)
    return next(m for m in panel.messages if text in m)


def _wait_image(qtbot, panel, source: str) -> None:
    qtbot.waitUntil(lambda: panel.current_image is not None and panel.current_image.source == source,
                    timeout=10_000)


@pytest.fixture
def panel(qtbot, tmp_path):
    session = Session()
    messages: list[str] = []
    session.message.connect(messages.append)
    widget = FeatureMapPanel(session, device="cpu", data_root=tmp_path / "no-data")
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.messages = messages
    with qtbot.waitSignal(widget.view_updated, timeout=30_000):
        show(session, MODEL, get_model(MODEL))
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
    assert "untrained weights" in panel.predictions_box.note.text()
    assert panel.predictions_box.top5_table.item(0, 0).text() in {p.name for p in panel.predictions.top}
    assert "Learned kernels" in panel.detail_tabs.kernel_label.text()
    assert panel.view_state.model_name == MODEL and panel.model_label.text() == MODEL


def test_drop_local_file(panel, qtbot, tmp_path):
    path = _png(tmp_path / "red.png")
    panel.dropEvent(_drop_event([QUrl.fromLocalFile(str(path))]))
    _wait_image(qtbot, panel, "red.png")
    _wait_idle(qtbot, panel)
    assert panel.current_image.source == "red.png"
    assert panel.source_label.text().startswith("Image: red.png (40x40)")


def test_drop_several_files_takes_the_first_with_a_notice(panel, qtbot, tmp_path):
    first = _png(tmp_path / "first.png")
    second = _png(tmp_path / "second.png")
    panel.dropEvent(_drop_event([QUrl.fromLocalFile(str(first)), QUrl.fromLocalFile(str(second))]))
    _wait_image(qtbot, panel, "first.png")
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
    panel.handle_drop([QUrl.fromLocalFile(str(bad))])
    message = _wait_message(qtbot, panel, expected)
    assert "\n" not in message
    qtbot.waitUntil(lambda: not panel.busy)
    assert panel.current_image is before and panel.current_node == node


def test_keys_step_through_the_nodes(panel, qtbot):
    panel.setFocus()
    start = panel.view_state.record.index
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    _wait_idle(qtbot, panel)
    assert panel.session.node == panel.current_node
    assert panel.view_state.record.index == start + 1
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == start
    qtbot.mouseClick(panel.steps.forward_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == start + 1
    qtbot.mouseClick(panel.steps.back_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == start
    qtbot.keyClick(panel, Qt.Key.Key_End)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.op == "output"
    assert panel.view_state.record.index == len(panel.stepper) - 1
    qtbot.keyClick(panel, Qt.Key.Key_Home)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == 0 and panel.view_state.record.kind == "input"


def test_left_on_the_first_node_and_right_on_the_last_stay_put(panel, qtbot):
    """The walk found Left on the first node jumping to the last: the ends clamp."""
    panel.setFocus()
    panel.step_first()
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == 0
    for button in (lambda: qtbot.keyClick(panel, Qt.Key.Key_Left),
                   lambda: qtbot.mouseClick(panel.steps.back_button, Qt.MouseButton.LeftButton)):
        button()
        _wait_idle(qtbot, panel)
        assert panel.view_state.record.index == 0
    panel.step_last()
    _wait_idle(qtbot, panel)
    last = len(panel.stepper) - 1
    assert panel.view_state.record.index == last
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.index == last


def test_space_plays_to_the_end_and_pauses(panel, qtbot):
    panel._play.setInterval(1)
    panel.show_node("layer4")
    _wait_idle(qtbot, panel)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert panel.playing and panel.steps.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: not panel.playing, timeout=30_000)
    _wait_idle(qtbot, panel)
    assert panel.view_state.record.op == "output"
    panel.step_first()
    _wait_idle(qtbot, panel)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not panel.playing and panel.steps.play_button.text() == "Play"


def test_the_session_node_runs_the_maps_to_it(panel, qtbot):
    # The residual add of block layer2.0, as the graph names it (fx node name).
    add = next(r.name for r in panel.stepper.nodes
               if r.target == "add" and r.module_path == "layer2.0")
    panel.session.set_node(add)
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
    assert panel.detail_tabs.channel_label.text().startswith(f"most varied channel {strongest}:")
    assert panel.detail_tabs.channel_pane.item.image is not None
    panel.detail_tabs.setCurrentIndex(1)  # the histogram tab stays while stepping
    panel.step_forward()
    assert panel.detail_tabs.currentIndex() == 1


def test_click_on_a_channel_enlarges_it(panel, qtbot, hover):
    panel.show()
    qtbot.waitExposed(panel)
    mosaic = panel.view_state.mosaic
    x, y = mosaic.channel_origin(2)
    pos = panel.maps.pane.widget_pos_of_pixel(x + mosaic.cell_w / 2, y + mosaic.cell_h / 2)
    qtbot.mouseClick(panel.maps.pane.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: panel.detail_tabs.channel_label.text().startswith("channel 2:"), timeout=5_000)
    assert panel.detail_tabs.channel_pane.item.image is not None
    pane = panel.maps.pane
    hover(pane.viewport(), pane.widget_pos_of_pixel(x + 1.5, y + 2.5))
    value = panel.view_state.channels[2, 2, 1]
    # (row, column), as the Unit page, the field tracer and `unit --at Y X` say it
    assert panel.maps.hover_label.text() == f"channel 2 at (2, 1) = {value:.4g}"
    gap_x = mosaic.channel_origin(0)[0] + mosaic.cell_w + 0.5  # the padding between two channels
    qtbot.wait(100)  # pyqtgraph's scene drops mouse moves that come too close together
    hover(pane.viewport(), pane.widget_pos_of_pixel(gap_x, y + 2.5))
    assert panel.maps.hover_label.text() == ""
    # A read-out never outlives its node.
    qtbot.wait(100)
    hover(pane.viewport(), pane.widget_pos_of_pixel(x + 1.5, y + 2.5))
    assert panel.maps.hover_label.text().startswith("channel 2 ")
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    _wait_idle(qtbot, panel)
    assert panel.maps.hover_label.text() == ""


def test_colour_map_and_scale_redraw_the_mosaic(panel, qtbot):
    before = panel.view_state.rgba.copy()
    while panel.maps.colormap_combo.currentData() != "gray":
        qtbot.keyClick(panel.maps.colormap_combo, Qt.Key.Key_Down)
    grey = panel.view_state.rgba
    assert not np.array_equal(before, grey)
    finite = np.isfinite(panel.view_state.mosaic.values)
    assert (grey[finite][:, 0] == grey[finite][:, 1]).all()  # grey levels
    qtbot.keyClick(panel.maps.scale_combo, Qt.Key.Key_Down)
    assert panel.view_state.mosaic.lo is None  # per-channel scale


def test_paste_open_dialog_and_samples(panel, qtbot, tmp_path, monkeypatch):
    image = QImage(20, 10, QImage.Format.Format_RGB32)
    image.fill(0x3366CC)
    data = QMimeData()
    data.setImageData(image)
    QGuiApplication.clipboard().setMimeData(data)
    qtbot.mouseClick(panel.image_source.paste_button, Qt.MouseButton.LeftButton)
    _wait_image(qtbot, panel, "clipboard image")
    assert panel.current_image.image.size == (20, 10)
    QGuiApplication.clipboard().setText("just words")
    panel.paste_image()
    assert panel.messages[-1] == "the clipboard holds no image"

    path = _png(tmp_path / "picked.png")
    monkeypatch.setattr("explorer.ui.maps.image_source.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(path), ""))
    qtbot.mouseClick(panel.image_source.open_button, Qt.MouseButton.LeftButton)
    _wait_image(qtbot, panel, "picked.png")
    # The sample list names no sample once the image came from elsewhere.
    assert panel.image_source.sample_combo.currentIndex() == -1

    combo = panel.image_source.sample_combo
    while combo.currentData() != "shapes":
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert panel.current_image.source == "sample: Shapes (colour drawing)"
    _wait_idle(qtbot, panel)


def test_fashion_picker(qtbot, fashion_root):
    widget = FeatureMapPanel(Session(), device="cpu", data_root=fashion_root)
    qtbot.addWidget(widget)
    source = widget.image_source
    assert source.fashion_spin.isEnabled() and source.sample_combo.currentIndex() == 0
    source.fashion_spin.clear()
    qtbot.keyClicks(source.fashion_spin, "5")
    qtbot.keyClick(source.fashion_spin, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: widget.current_image.source.startswith("Fashion-MNIST test #5 ("), timeout=10_000)
    assert source.sample_combo.currentIndex() == -1  # no longer says "Ankle boot"
    empty = FeatureMapPanel(Session(), device="cpu", data_root=fashion_root / "missing")
    qtbot.addWidget(empty)
    assert not empty.image_source.fashion_spin.isEnabled()
    empty.refresh_data_folder(fashion_root)  # the user pointed the settings at the data
    assert empty.image_source.fashion_spin.isEnabled()


def _top5_rows(panel) -> list[tuple[str, str]]:
    table = panel.predictions_box.top5_table
    rows = []
    for row in range(table.rowCount()):
        name, p = table.item(row, 0), table.item(row, 1)
        rows.append((name.text() if name else "", p.text() if p else ""))
    return rows


def test_new_weights_keep_the_node_and_say_trained(panel, qtbot):
    from explorer.activations.predictions import FASHION_MNIST_CLASSES, UNTRAINED_NOTE

    panel.show_node("layer3")
    _wait_idle(qtbot, panel)
    node = panel.current_node
    # "layer3" is shown at its last node; far from the first layer a reset would go back to.
    assert node.startswith("layer3") and panel.view_state.record.name == node
    assert panel.view_state.record.index > 10
    # Random weights: the top-5 carries the visible warning and the selector says random.
    assert panel.predictions_box.note.text() == UNTRAINED_NOTE
    assert panel.weights_selector.combo.currentText() == "random (seed 1)"
    before = panel.predictions
    assert before is not None and not before.trained
    node_text = panel.node_label.text()  # e.g. "51/72   layer3.1.relu2  ·  ReLU  ·  1×64×4×4"
    assert "layer3." in node_text

    weights = WeightsChoice("file", path="/somewhere/epoch-12.pt")
    panel.session.set_weights(weights)
    # While they load, the top-5 says which weights it waits for; the node stays.
    assert panel.predictions_box.note.text() == "loading file epoch-12.pt…"
    assert panel.current_node == node
    assert panel.session.deliver(LoadedModel.of(MODEL, weights, get_model(MODEL)))
    _wait_idle(qtbot, panel)

    # The node stayed: same node shown, its maps recomputed with the new weights.
    assert panel.current_node == node and panel.session.node == node
    assert panel.view_state.record.name == node and panel.node_label.text() == node_text
    # The visible text says the weights are trained: the selector names the file, and the
    # top-5 is filled from the new weights with no untrained warning under it.
    assert panel.weights_selector.combo.currentText() == "file epoch-12.pt"
    assert "runs with file epoch-12.pt" in panel.weights_selector.combo.toolTip()
    after = panel.predictions
    assert after is not before and after.trained and after.note is None
    assert panel.predictions_box.note.text() == ""
    rows = _top5_rows(panel)
    assert [name for name, _ in rows] == [p.name for p in after.top[:5]]
    assert all(name in FASHION_MNIST_CLASSES for name, _ in rows)
    assert [p for _, p in rows] == [f"{p.probability * 100:.1f}%" for p in after.top[:5]]


def test_untraceable_model_is_reported(panel, qtbot):
    import torch

    class Branchy(torch.nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    show(panel.session, "branchy", Branchy())
    _wait_message(qtbot, panel, "could not trace")
    qtbot.waitUntil(lambda: not panel.busy)
    assert "could not trace" in panel.node_label.text()


def test_device_choice(panel, qtbot, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    node = panel.current_node
    panel.set_device("cuda")
    assert "CUDA was requested" in panel.messages[-1]
    assert panel.steps.device_combo.currentData() == "cpu"
    panel.set_device("cpu")
    _wait_idle(qtbot, panel)
    assert panel.current_node == node and str(panel.stepper.device) == "cpu"


@pytest.mark.parametrize("width", [480, 760, 1600])
def test_every_detail_tab_is_reachable_at_any_width(qtbot, qt_warnings, feature_panel, tmp_path, width):
    """In a narrow window the tabs do not fit: a drop-down list replaces the tab bar rather
    than scroll arrows that hide tabs."""
    panel = feature_panel(MODEL, RANDOM, tmp_path / "no-data")
    panel.resize(width, 700)
    pages, tabs = panel.detail_pages, panel.detail_tabs
    bar = tabs.tabBar()
    qtbot.waitUntil(lambda: pages.width() <= width and (bar.width() > 0 if bar.isVisibleTo(tabs)
                                                         else pages.page_list.isVisibleTo(pages)), timeout=5_000)
    assert tabs.count() == 7
    for index in range(tabs.count()):
        if bar.isVisibleTo(tabs):
            rect = bar.tabRect(index)
            assert 0 <= rect.left() and rect.right() < bar.width(), f"tab {tabs.tabText(index)} lies outside the bar"
            qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=rect.center())
        else:
            assert pages.page_list.itemText(index) == tabs.tabText(index)
            pages.page_list.setCurrentIndex(index)
            pages.page_list.activated.emit(index)
        assert tabs.currentIndex() == index
    tabs.setCurrentWidget(panel.knockout_view)  # a view switching the page: the list follows
    assert pages.page_list.currentText() == "Knockout"
    if width == 480:
        assert pages.narrow and pages.page_list.isVisibleTo(pages)
        # Choosing a page keeps the stepping keys with the panel, as the tab bar does.
        assert pages.page_list.focusPolicy() == Qt.FocusPolicy.NoFocus
    if width == 1600:
        assert not pages.narrow
