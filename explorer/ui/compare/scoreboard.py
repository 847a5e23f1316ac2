"""The zoo scoreboard: accuracy against compute, bubble size = parameters, in two panels.

The left panel is torchvision's published ImageNet-1K top-1 of every reference classifier
(labelled as torchvision's figure), the right one the Fashion-MNIST test accuracy of the
small forms: shipped weights as circles, the user's runs as triangles. The data is
:func:`explorer.metrics.scoreboard.scoreboard`, read in the background. Hovering a point
names it; clicking one opens that model in the explorer through the session (a run's point
with that run's weights). The chart exports as PNG (pyqtgraph's exporter) or SVG (Qt's
SVG painter), drawn in memory and written whole (``file_export.save_export``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph import exporters
from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QPointF, QRect, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from explorer.errors import UserError
from explorer.session import Session, WeightsChoice
from explorer.train.records import TEST_ACC
from explorer.ui.background import LatestJob
from explorer.ui.drops import pass_drops_on
from explorer.ui.file_export import image_bytes, save_export

# Marker and colour per source: one fact, used by the plot and its legend.
MARKERS = {"torchvision": ("o", (70, 120, 200, 170)), "shipped": ("o", (230, 130, 30, 190)),
           "run": ("t", (40, 160, 90, 200))}
LEGEND = {"torchvision": "torchvision's figure", "shipped": "shipped weights", "run": "your runs"}
MIN_SIZE, MAX_SIZE = 7.0, 34.0
HIT_PX = 4.0  # how far outside a bubble the pointer still names it


def bubble_sizes(params: list[int]) -> np.ndarray:
    """Diameters in pixels: area grows with the parameter count (square root), per panel."""
    values = np.sqrt(np.maximum(np.asarray(params, dtype=float), 1.0))
    top = values.max() if values.size else 1.0
    return MIN_SIZE + (MAX_SIZE - MIN_SIZE) * values / top


# Compute per panel: torchvision's models span 0.02-1000 GMACs, the small forms 0.4-30 MMACs.
UNITS = {"reference": ("GMACs", 1.0), "small": ("MMACs", 1e3)}


def log_ticks(lo: float, hi: float) -> list[list[tuple[float, str]]]:
    """Major (1 x 10^k) and minor (2 and 5 x 10^k) ticks between log10 values ``lo`` and
    ``hi``, labelled with the plain numbers (pyqtgraph's log axis crowds a short range)."""
    major, minor = [], []
    for k in range(math.floor(lo) - 1, math.ceil(hi) + 1):
        for m in (1, 2, 5):
            x = k + math.log10(m)
            if lo <= x <= hi:
                (major if m == 1 else minor).append((x, f"{m * 10.0 ** k:g}"))
    return [major, minor if hi - lo < 3 else [(x, "") for x, _ in minor]]


def point_name(point: dict[str, Any]) -> str:
    """What hovering a point says: model, weights or run, accuracy, compute, parameters."""
    if point["source"] == "torchvision":
        what = f"{point['name']} ({point['weights']})\nImageNet-1K top-1 {point['top1'] * 100:.1f}% (torchvision's figure)"
    elif point["source"] == "run":
        run = point.get("run_name") or point.get("run_id")
        what = f"{point['name']}, your run {run}\nFashion-MNIST test accuracy {point[TEST_ACC] * 100:.1f}%"
    else:
        what = f"{point['name']}, shipped weights\nFashion-MNIST test accuracy {point[TEST_ACC] * 100:.1f}%"
    unit, factor = UNITS["reference" if point["source"] == "torchvision" else "small"]
    compute = point["gmacs"] * factor
    amount = f"{compute:,.0f}" if compute >= 1000 else f"{compute:.3g}"
    return f"{what}\n{amount} {unit} · {point['params'] / 1e6:.3g} M parameters"


class ScoreboardView(QWidget):
    """Two scatter panels of the zoo; a view of the session (clicking opens a model).

    Signals:
        loaded(): the points are drawn.
        model_opened(str): a click opened this model in the session.
    """

    loaded = Signal()
    model_opened = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None, *, history=None) -> None:
        super().__init__(parent)
        self.session = session
        self._history = history
        self.board: dict[str, Any] | None = None
        self.hover_text = ""
        self._shown: dict[str, list[dict[str, Any]]] = {}  # panel -> points, in plotting order
        self.chart = pg.GraphicsLayoutWidget()
        pass_drops_on(self.chart)
        self.chart.setBackground("w")  # exported files read on any background
        self.plots = {"reference": self.chart.addPlot(row=0, col=0), "small": self.chart.addPlot(row=0, col=1)}
        self.scatters: dict[str, dict[str, pg.ScatterPlotItem]] = {}
        for panel, plot in self.plots.items():
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.25)
            unit = UNITS[panel][0]
            plot.setLabel("bottom", f"compute, {unit} per image (log scale; 1 multiply-add = 1)")
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            plot.getViewBox().sigXRangeChanged.connect(self._on_x_range)
            for side in ("left", "bottom"):
                plot.getAxis(side).setTextPen(pg.mkPen(50, 50, 50))
            plot.setLabel("left", "ImageNet-1K top-1 (%)" if panel == "reference" else "Fashion-MNIST test accuracy (%)")
            legend = plot.addLegend(offset=(8, 8) if panel == "small" else (8, -8), labelTextSize="8pt")
            legend.setBrush(pg.mkBrush(255, 255, 255, 210))
            sources = ("torchvision",) if panel == "reference" else ("shipped", "run")
            self.scatters[panel] = {}
            for source in sources:
                symbol, colour = MARKERS[source]
                item = pg.ScatterPlotItem(symbol=symbol, useCache=False, pen=pg.mkPen(40, 40, 40, 160), brush=pg.mkBrush(*colour),
                                          name=LEGEND[source])
                plot.addItem(item)
                self.scatters[panel][source] = item
        self.plots["reference"].setTitle("ImageNet-1K top-1 of torchvision's reference models "
                                         "(torchvision's figure)", size="10pt")
        self.plots["small"].setTitle("Fashion-MNIST test accuracy of the small forms", size="10pt")
        self.marker = pg.TextItem("", color=(20, 20, 20), fill=pg.mkBrush(255, 255, 230, 235),
                                  border=pg.mkPen(120, 120, 120), anchor=(0, 1))
        self.marker.setZValue(1000)
        self.marker.hide()
        # pyqtgraph drops scene mouse moves closer than 10 ms apart (its mouseRateLimit), so
        # the last position could be lost: the viewport's own events are read instead.
        self.chart.viewport().installEventFilter(self)
        self.chart.scene().sigMouseClicked.connect(self._on_clicked)

        self.status = QLabel("Reading the scoreboard…")
        self.status.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the runs again (a run that finished since shows up)")
        self.refresh_button.clicked.connect(self.reload)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the chart as PNG or SVG")
        self.export_button.clicked.connect(self._on_export)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.chart, 1)
        layout.addLayout(row)

        self.job = LatestJob("scoreboard", self)
        self.job.done.connect(self._on_done)
        self.job.failed.connect(self._on_failed)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.board is None and not self.job.busy:
            self.reload()  # read only once the chart is looked at

    # ----- data ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.job.busy

    def reload(self) -> None:
        """Read the scoreboard again in the background: the shipped torchvision table, the
        registry snapshot, the manifest and the runs (no torch import while they are current)."""
        from explorer.metrics.scoreboard import scoreboard

        self.job.submit(scoreboard, self._history)

    def _on_failed(self, _number: int, message: str) -> None:
        self.status.setText(f"cannot read the scoreboard: {message}")

    def _on_done(self, _number: int, board: dict[str, Any]) -> None:
        self.board = board
        self._shown = {}
        for panel in self.plots:
            points = board[panel]["points"]
            sizes = bubble_sizes([p["params"] for p in points])
            shown: list[dict[str, Any]] = []
            for source, item in self.scatters[panel].items():
                picked = [(p, s) for p, s in zip(points, sizes) if p["source"] == source and p["gmacs"] > 0]
                item.setData(x=[self._x(panel, p) for p, _ in picked],
                             y=[self._accuracy(p) * 100 for p, _ in picked],
                             size=[float(s) for _, s in picked], data=list(range(len(shown), len(shown) + len(picked))))
                shown += [dict(p, size=float(s)) for p, s in picked]
            self._shown[panel] = shown
            self.plots[panel].autoRange(padding=0.08)
        runs = sum(p["source"] == "run" for p in board["small"]["points"])
        self.status.setText(
            f"{len(self._shown['reference'])} torchvision models (ImageNet-1K top-1, torchvision's figure) · "
            f"{len(self._shown['small']) - runs} shipped small forms and {runs} of your runs (Fashion-MNIST test "
            "accuracy) · bubble area ∝ parameters · hover a point to name it, click to open it")
        self.loaded.emit()

    @staticmethod
    def _x(panel: str, point: dict[str, Any]) -> float:
        return math.log10(point["gmacs"] * UNITS[panel][1])

    def _on_x_range(self, view, x_range) -> None:
        for plot in self.plots.values():
            if plot.getViewBox() is view:
                plot.getAxis("bottom").setTicks(log_ticks(*x_range))

    @staticmethod
    def _accuracy(point: dict[str, Any]) -> float:
        return point["top1"] if point["source"] == "torchvision" else point[TEST_ACC]

    def points(self, panel: str) -> list[dict[str, Any]]:
        """The points drawn in ``panel`` (``reference`` or ``small``)."""
        return list(self._shown.get(panel, []))

    # ----- hover and click ----------------------------------------------------------------

    def scene_pos(self, panel: str, point: dict[str, Any]) -> QPointF:
        """Where ``point`` is drawn, in the chart's scene coordinates."""
        view = self.plots[panel].getViewBox()
        return view.mapViewToScene(QPointF(self._x(panel, point), self._accuracy(point) * 100))

    def point_at(self, scene_pos: QPointF) -> tuple[str, dict[str, Any]] | None:
        """The point under ``scene_pos`` (the nearest, when bubbles overlap), or None."""
        best = None
        for panel, plot in self.plots.items():
            if not plot.getViewBox().sceneBoundingRect().contains(scene_pos):
                continue
            for point in self._shown.get(panel, []):
                d = (self.scene_pos(panel, point) - scene_pos).manhattanLength()
                if d <= point["size"] / 2 + HIT_PX and (best is None or d < best[0]):
                    best = (d, panel, point)
        return (best[1], best[2]) if best is not None else None

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.MouseMove and watched is self.chart.viewport():
            self._on_moved(self.chart.mapToScene(event.position().toPoint()))
        return super().eventFilter(watched, event)

    def hide_hover(self) -> None:
        """Take the hover note away (the pointer left its point, or the chart changed)."""
        self.hover_text = ""
        self.marker.hide()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.hide_hover()  # the axes rescale: the note would point beside its bubble

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self.hide_hover()  # another theme: the note was drawn for the one before

    def _on_moved(self, scene_pos: QPointF) -> None:
        found = self.point_at(scene_pos)
        if found is None:
            self.hide_hover()
            return
        panel, point = found
        self.hover_text = point_name(point)
        self.marker.setText(self.hover_text)
        # A child of the panel's view box, not of its data group: above the legend.
        view = self.plots[panel].getViewBox()
        if self.marker.parentItem() is not view:
            self.marker.setParentItem(view)
        at = self.scene_pos(panel, point)
        box = view.sceneBoundingRect()
        size = self.marker.boundingRect()
        # Open towards the room left in the panel, so the text is never cut at an edge.
        self.marker.setAnchor((1 if at.x() + size.width() > box.right() else 0,
                               0 if at.y() - size.height() < box.top() else 1))
        self.marker.setPos(view.mapFromScene(at))
        self.marker.show()

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        found = self.point_at(event.scenePos())
        if found is not None:
            self.open_point(found[1])

    def open_point(self, point: dict[str, Any]) -> None:
        """Open the point's model in the explorer: a run's point with that run's weights,
        a shipped one with the shipped weights; a torchvision model the zoo lacks is said."""
        from explorer.loading import available_weights
        from explorer.models import list_models

        name = point["name"]
        if name not in list_models():
            self.session.notify(f"{name} is not in the explorer's zoo; its figure is torchvision's")
            return
        weights: WeightsChoice | None = None
        if point["source"] in ("shipped", "run"):
            for choice in available_weights(name):
                if point["source"] == "shipped" and choice.kind == "shipped":
                    weights = choice
                elif point["source"] == "run" and choice.kind == "run" and choice.run_id == point.get("run_id"):
                    weights = choice
        self.session.set_model(name, weights)  # the same model shown: only its weights change
        self.model_opened.emit(name)

    # ----- export -------------------------------------------------------------------------

    def chart_bytes(self, path: str | Path) -> bytes:
        """The chart (both panels) drawn in memory as the ``.png`` or ``.svg`` that ``path``
        names (nothing is written).

        Raises:
            UserError: another suffix, or the chart could not be drawn.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            exporter = exporters.ImageExporter(self.chart.scene())
            exporter.parameters()["width"] = max(1200, int(self.chart.width()))
            return image_bytes(exporter.export(toBytes=True))
        if suffix != ".svg":
            raise UserError(f"cannot export to {path.name}: use a .png or .svg file name")
        # pyqtgraph's SVGExporter cannot parse what this Qt writes for a scatter plot
        # ("not enough values to unpack" in correctCoordinates): Qt's own SVG painter
        # draws the chart as vectors instead.
        array = QByteArray()
        buffer = QBuffer(array)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        generator = QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setSize(self.chart.size())
        generator.setViewBox(QRect(0, 0, self.chart.width(), self.chart.height()))
        generator.setTitle("cnn-explorer zoo scoreboard")
        painter = QPainter(generator)
        self.chart.render(painter)
        painter.end()
        buffer.close()
        if array.isEmpty():
            raise UserError(f"cannot draw the scoreboard as SVG for {path.name}")
        return bytes(array.data())

    def export(self, path: str | Path, *, confirmed: bool = False) -> Path | None:
        """Write the chart (both panels) to a ``.png`` or ``.svg`` file, drawn in memory and
        written whole (``file_export.save_export``: asks before replacing a file unless
        ``confirmed``). The path written, or None with the reason in the status line."""
        if Path(path).suffix.lower() not in (".png", ".svg"):
            self.status.setText(f"cannot export to {Path(path).name}: use a .png or .svg file name")
            return None
        written = save_export(self, path, self.chart_bytes, report=self.status.setText, confirmed=confirmed)
        if written is not None:
            self.session.notify(f"scoreboard saved to {written}")
        return written

    def _on_export(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export scoreboard", "scoreboard.svg",
                                                   "SVG drawing (*.svg);;PNG image (*.png)")
        if path:
            named = path
            if Path(path).suffix.lower() not in (".png", ".svg"):
                named += ".png" if "png" in chosen.lower() else ".svg"  # the filter chosen
            # The dialog asked before replacing the name it returned, not one with a suffix added.
            self.export(named, confirmed=named == path)

    def stop(self) -> None:
        self.job.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
