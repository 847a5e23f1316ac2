"""The zoo scoreboard window: the core's points drawn, hover names, click opens, export."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from explorer.metrics import scoreboard
from explorer.session import Session
from explorer.train import RunHistory, RunRecord
from explorer.ui.compare.scoreboard import ScoreboardView

from .export_checks import assert_export_is_safe


@pytest.fixture
def board(qtbot, tmp_path):
    history = RunHistory(tmp_path / "runs")
    history.save(RunRecord(run_id="r1", model="lenet_small", config={}, status="completed", name="mine",
                           final={"test_acc": 0.5}))
    session = Session()
    view = ScoreboardView(session, history=history)
    qtbot.addWidget(view)
    view.resize(1200, 600)
    view.show()
    qtbot.waitUntil(lambda: view.board is not None and not view.busy, timeout=60_000)
    yield view, session, history
    view.stop()


def test_points_are_the_cores_with_runs_marked_apart(board):
    view, _session, history = board
    reference = scoreboard.reference_points()
    small = scoreboard.small_points(history)
    assert len(view.points("reference")) == len(reference) > 50
    assert len(view.points("small")) == len(small)
    assert sum(p["source"] == "run" for p in view.points("small")) == 1
    shipped, runs = view.scatters["small"]["shipped"], view.scatters["small"]["run"]
    assert len(runs.data) == 1 and len(shipped.data) == len(small) - 1
    assert runs.opts["symbol"] != shipped.opts["symbol"]
    assert "torchvision's figure" in view.plots["reference"].titleLabel.text
    # Bubble size follows the parameter count.
    by_name = {p["name"]: p for p in view.points("reference")}
    assert by_name["vgg16"]["size"] > by_name["resnet18"]["size"] > by_name["mobilenet_v3_small"]["size"]


def test_hover_names_the_point_under_the_pointer(board, hover):
    view, _session, _history = board
    point = next(p for p in view.points("reference") if p["name"] == "alexnet")
    where = view.chart.mapFromScene(view.scene_pos("reference", point))
    hover(view.chart.viewport(), where)
    assert view.hover_text.startswith("alexnet") and "torchvision's figure" in view.hover_text
    assert f"{point['top1'] * 100:.1f}%" in view.hover_text
    assert view.marker.isVisible()
    empty = view.plots["reference"].getViewBox().mapViewToScene(QPointF(-1.5, 90.0))  # top left: no model
    hover(view.chart.viewport(), view.chart.mapFromScene(empty))
    assert view.hover_text == "" and not view.marker.isVisible()


def test_the_hover_note_goes_on_a_resize_and_a_theme_change(board, hover, qapp):
    """The note names the point under the pointer: after a resize (the axes rescale) or a
    theme change it pointed at nothing and kept the old look."""
    from explorer.ui.theme import apply_theme

    view, _session, _history = board

    def point_at_alexnet() -> None:
        point = next(p for p in view.points("reference") if p["name"] == "alexnet")
        hover(view.chart.viewport(), view.chart.mapFromScene(view.scene_pos("reference", point)))
        assert view.marker.isVisible() and view.hover_text.startswith("alexnet")

    point_at_alexnet()
    view.resize(1000, 500)
    assert not view.marker.isVisible() and view.hover_text == ""
    point_at_alexnet()
    try:
        apply_theme(qapp, "dark")
        assert not view.marker.isVisible() and view.hover_text == ""
        point_at_alexnet()
    finally:
        apply_theme(qapp, "light")
    assert not view.marker.isVisible()


def test_click_opens_the_model_with_the_points_weights(board, qtbot):
    view, session, _history = board
    point = next(p for p in view.points("small") if p["source"] == "shipped" and p["name"] == "resnet18_small")
    where = view.chart.mapFromScene(view.scene_pos("small", point))
    with qtbot.waitSignal(view.model_opened, timeout=5000):
        qtbot.mouseClick(view.chart.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert session.model_name == "resnet18_small" and session.weights.kind == "shipped"
    # A torchvision model the zoo lacks is said, not opened.
    said = []
    session.message.connect(said.append)
    view.open_point(next(p for p in view.points("reference") if p["name"] == "vit_h_14"))
    assert session.model_name == "resnet18_small" and "vit_h_14" in said[-1]


def test_export_png_and_svg(board, tmp_path):
    view, _session, _history = board
    png = view.export(tmp_path / "board.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = view.export(tmp_path / "board.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 50  # the bubbles, as vectors
    assert view.export(tmp_path / "board.jpg") is None and "png or .svg" in view.status.text()
    assert not (tmp_path / "board.jpg").exists()


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_export_asks_before_replacing_keeps_the_old_file_on_a_full_disk_and_avoids_the_runs_folder(
        board, tmp_path, monkeypatch, suffix):
    view, _session, _history = board
    folder = tmp_path / "exports"
    folder.mkdir()
    assert_export_is_safe(lambda path, confirmed: view.export(path, confirmed=confirmed), view.status.text,
                          folder, f"board{suffix}", monkeypatch)


def test_a_suffix_added_from_the_filter_names_a_file_the_dialog_never_asked_about(board, tmp_path, monkeypatch):
    view, _session, _history = board
    existing = tmp_path / "board.png"
    existing.write_bytes(b"old")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda _p, _t, text, *a, **k: asked.append(text)
                        or QMessageBox.StandardButton.No)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "board"), "PNG image (*.png)"))
    view._on_export()
    assert len(asked) == 1 and existing.read_bytes() == b"old"
