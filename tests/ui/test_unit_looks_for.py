"""The Unit page's "What the unit looks for": the unit's receptive field drawn on the
input (the tracer's core), its optimal stimulus computed in the background with progress
and cached, cancelled when the session changes."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from explorer.explain.feature_vis import Settings
from explorer.explain.top_grid import top_grid
from explorer.explain.unit_field import trace_unit
from explorer.session import WeightsChoice
from explorer.ui.explain.unit_looks_for import DEAD, is_dead, pixmap

SHIPPED = WeightsChoice("shipped")
FAST = Settings(steps=12)


@pytest.fixture
def lenet(feature_panel, tmp_path):
    panel = feature_panel("lenet5_small", SHIPPED, tmp_path / "no-data", node="c3")
    panel.detail_tabs.setCurrentWidget(panel.unit_view)
    panel.looks_for.settings = FAST
    return panel


def _click(qtbot, panel, x: int, y: int) -> None:
    pane = panel.detail_tabs.channel_pane
    qtbot.mouseClick(pane.viewport(), Qt.MouseButton.LeftButton, pos=pane.widget_pos_of_pixel(x + 0.5, y + 0.5))
    qtbot.waitUntil(lambda: not panel.field.busy, timeout=20_000)


def test_the_field_box_is_the_cores_field(qtbot, qt_warnings, lenet):
    panel = lenet
    view = panel.looks_for
    assert not view.isVisibleTo(panel.unit_view)  # no unit: no section
    _click(qtbot, panel, 3, 2)
    qtbot.waitUntil(lambda: view.field is not None, timeout=20_000)
    assert view.isVisibleTo(panel.unit_view) and view.unit == (panel.unit_view.result.node, panel._enlarged)
    session = panel.session
    core = trace_unit(session.module, session.model_name, session.image, view.field.node, 2, 3)
    assert view.field.box == core.box and (view.field.y, view.field.x) == (2, 3)
    box = core.box
    assert f"{box.bottom - box.top + 1}×{box.right - box.left + 1} px" in view.field_label.text()
    assert not view.field_picture.pixmap().isNull()


def test_visualise_runs_in_the_background_then_hits_the_cache(qtbot, qt_warnings, lenet):
    panel = lenet
    view = panel.looks_for
    panel.unit_view.explain(1, (2, 2))
    assert view.unit is not None and view.vis_button.isEnabled()
    steps = []
    view._job.progress.connect(lambda _n, p: steps.append(p.step))
    started = time.perf_counter()
    view.vis_button.click()
    assert time.perf_counter() - started < 0.1  # the click returns at once: the work is in a worker
    assert view.busy and view.progress_bar.isVisibleTo(view) and not view.vis_button.isEnabled()
    qtbot.waitUntil(lambda: view.vis is not None, timeout=30_000)
    assert steps and steps[-1] == FAST.steps and not view.vis.cached
    assert view.progress_bar.maximum() == FAST.steps and not view.progress_bar.isVisibleTo(view)
    assert not view.vis_picture.pixmap().isNull()
    text = view.vis_label.text()
    assert f"{view.vis.start:.3g}" in text and f"{view.vis.end:.3g}" in text and "→" in text
    first = view.vis.image
    view.vis_button.click()
    qtbot.waitUntil(lambda: view.vis is not None, timeout=10_000)
    assert view.vis.cached and (view.vis.image == first).all() and "(cached)" in view.vis_label.text()


def test_a_session_change_cancels_the_visualisation(qtbot, qt_warnings, lenet):
    panel = lenet
    view = panel.looks_for
    view.settings = Settings(steps=400)
    panel.unit_view.explain(0, (1, 1))
    view.vis_button.click()
    qtbot.waitUntil(lambda: view.progress_bar.value() > 0, timeout=20_000)
    panel.session.set_knockouts(["c1:0"])
    assert view.unit is None and not view.busy and not view.isVisibleTo(panel.unit_view)
    time.sleep(0.2)
    qtbot.wait(100)
    assert view.vis is None  # the old answer was dropped
    qtbot.waitUntil(lambda: panel.settled, timeout=30_000)


def test_the_patch_stays_outlined_upstream_until_the_unit_is_cleared(qtbot, qt_warnings, lenet):
    panel = lenet
    outline = panel.maps.region_outline
    _click(qtbot, panel, 4, 4)
    qtbot.waitUntil(lambda: panel.field.field is not None, timeout=20_000)
    assert not outline.isVisible()  # on the unit's own node: no upstream patch
    panel.show_node("s2")  # the node that feeds c3
    qtbot.waitUntil(lambda: panel.settled and panel.current_node == "s2", timeout=30_000)
    region = panel.field.region
    assert region is not None and outline.isVisible()
    top, left, bottom, right = region.clipped
    mosaic = panel.maps._view.mosaic
    rect = outline.path().boundingRect()
    assert (rect.left(), rect.top()) == (left, top)  # channel 0's tile starts at (0, 0)
    last_x, last_y = mosaic.channel_origin(mosaic.channels - 1)
    assert rect.right() >= last_x + right and rect.bottom() >= last_y + bottom  # every channel's tile
    panel.field.clear_button.click()
    assert not outline.isVisible()


def test_the_top_images_are_drawn_in_the_section(qtbot, qt_warnings, feature_panel, fashion_root, tmp_path):
    panel = feature_panel("lenet5_small", WeightsChoice("file", path=str(tmp_path / "weights.pt")), fashion_root,
                          node="c1")
    panel.detail_tabs.setCurrentWidget(panel.unit_view)
    view, top = panel.looks_for, panel.top_view
    panel.unit_view.explain(1, (2, 2))
    assert top.scan is None and view.top_button.isVisibleTo(view) and not view.top_picture.isVisibleTo(view)
    view.top_button.click()  # no scan yet: it starts in the background, the Unit page stays
    assert top.busy and panel.detail_tabs.currentWidget() is panel.unit_view
    qtbot.waitUntil(lambda: view.top_picture.isVisibleTo(view), timeout=120_000)
    assert top.scan is not None and not view.top_button.isVisibleTo(view)
    assert panel.detail_tabs.currentWidget() is panel.unit_view
    assert not view.top_picture.pixmap().isNull() and "channel 1" in view.top_label.text()
    node = panel.unit_view.result.node
    first = view.top_picture.pixmap().toImage()
    panel.unit_view.explain(3, (1, 1))  # a scan is there: another channel's grid at once
    assert view.unit == (node, 3) and view.top_picture.isVisibleTo(view) and "channel 3" in view.top_label.text()
    grid = top_grid(top.scan, node, 3)[0]
    expected = pixmap(grid[:, :, :3]).toImage()
    assert view.top_picture.pixmap().toImage() == expected
    assert (view.top_picture.pixmap().toImage() == first) == (grid == top_grid(top.scan, node, 1)[0]).all()


def test_a_scan_that_fails_says_why_in_the_section_and_can_be_tried_again(qtbot, qt_warnings, feature_panel,
                                                                          tmp_path):
    """The walk, with no test data: the section said "scanning…" for good, its button off."""
    panel = feature_panel("lenet5_small", WeightsChoice("file", path=str(tmp_path / "weights.pt")),
                          tmp_path / "no-data", node="c1")
    panel.detail_tabs.setCurrentWidget(panel.unit_view)
    view = panel.looks_for
    panel.unit_view.explain(1, (2, 2))
    view.top_button.click()
    qtbot.waitUntil(lambda: view.top_label.text().startswith("No top test images: "), timeout=60_000)
    assert "Fashion-MNIST" in view.top_label.text() and view.top_button.isEnabled()
    assert view.top_button.isVisibleTo(view) and not view.top_picture.isVisibleTo(view)


def test_a_dead_channel_says_so():
    assert is_dead(0.0, 0.0) and is_dead(2.0, 2.0000001) and not is_dead(0.1, 3.0)
    assert "dead or constant" in DEAD
