"""Metric overlays on the architecture graph: "Colour by" a per-node metric, with a colour
bar and each node's value in its tooltip.

Parameters, FLOPs and output size come from the graph itself; latency (measured on the
session's device by stepping the model against one eager pass) and each layer's zero
fraction (for the session's image; a block: the mean over its layers, not the maps
panel's "zeros in this map") are measured in the background; gradient norm, weight change
and dead-ReLU fraction are read from the summaries a run kept for the epoch whose weights
the session shows. Closed blocks and folded runs show their members' aggregate
(``explorer.metrics.overlays.aggregate_nodes``). The view recolours whenever the model,
its weights, the image, the device or the blocks opened change.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from explorer.activations.colormaps import lookup_table
from explorer.metrics.overlays import ZERO_FRACTION, aggregate_nodes, static_metrics
from explorer.session import Session
from explorer.train.records import EpochSummary
from explorer.ui import theme as themes
from explorer.ui.background import LatestJob
from explorer.ui.subscriptions import Subscriptions
from explorer.ui.theme import secondary

COLORMAP = "viridis"  # perceptually uniform; lightened or darkened so node text stays legible
LIGHTEN = 0.45  # light theme: toward white, under dark node text
DARKEN = 0.6  # dark theme: toward the graph's background, under light node text


@dataclasses.dataclass(frozen=True)
class Metric:
    """One entry of "Colour by".

    Attributes:
        key: the per-node value's key in ``explorer.metrics.overlays``.
        label: the menu text.
        source: ``graph`` (static), ``latency``, ``zeros`` (measured) or ``run``.
        log: colour on a log scale (counts and times spanning decades).
        how: how a block combines its members, for the tooltip.
    """

    key: str
    label: str
    source: str
    log: bool
    how: str


METRICS = (
    Metric("params", "Parameters", "graph", True, "sum"),
    Metric("flops", "FLOPs", "graph", True, "sum"),
    Metric("output_size", "Output size", "graph", True, "its output"),
    Metric("latency_ms", "Latency (ms)", "latency", True, "sum"),
    # Named apart from the maps panel's "zeros in this map" (one node's output): here a
    # layer's share of zeros, and a block's the mean over its layers.
    Metric(ZERO_FRACTION, "Zero fraction per layer (current image)", "zeros", False, "mean"),
    Metric("grad_norm", "Gradient norm (run epoch)", "run", False, "root of summed squares"),
    Metric("weight_change", "Weight change (run epoch)", "run", False, "mean"),
    Metric("dead_relu", "Dead ReLU (run epoch)", "run", False, "mean"),
)
BY_KEY = {m.key: m for m in METRICS}


def tint_table(theme: str = "light") -> np.ndarray:
    """(256, 3) colours of the overlay scale in ``theme``: the colour map lightened toward
    white (light) or darkened toward the graph's background (dark), so the theme's node
    text keeps a contrast of at least 4.5 on every colour of the scale."""
    table = lookup_table(COLORMAP)[:, :3].astype(float)
    if theme == "dark":
        background = themes.graph_color("background", theme)
        toward, amount = np.array([background.red(), background.green(), background.blue()], float), DARKEN
    else:
        toward, amount = np.full(3, 255.0), LIGHTEN
    return np.round(table * (1 - amount) + toward * amount).astype(np.uint8)


def zero_tint(theme: str) -> QColor:
    """The fill of a zero on a log scale (no colour of the scale): the theme's plain node."""
    return themes.category_color("other", theme)


def format_value(metric: Metric, value: float) -> str:
    if metric.key in ("params", "flops", "output_size"):
        for size, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
            if abs(value) >= size:
                return f"{value / size:.3g}{suffix}"
        return f"{value:.0f}"
    if metric.key in (ZERO_FRACTION, "dead_relu"):
        return f"{value * 100:.1f}%"
    if metric.key == "latency_ms":
        return f"{value:.3g} ms"
    return f"{value:.3g}"


def run_summaries(weights) -> EpochSummary | None:
    """The summaries a run kept for the epoch of ``weights`` (a run's choice), or None."""
    if weights is None or weights.kind != "run" or not weights.path or weights.epoch is None:
        return None
    from explorer.errors import UserError
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    store = SnapshotStore(snapshot_folder(weights.path))
    if weights.epoch not in store.record_epochs():
        return None
    try:
        return store.load_record(weights.epoch)["summaries"]
    except UserError:
        return None  # damaged: the overlay is offered only for epochs it can draw


def measure(source: str, module, name: str, image, device: str, input_shape) -> dict[str, dict[str, float]]:
    """Per-node values of a measured metric (runs in a worker)."""
    import torch

    from explorer.activations.preprocess import preprocess, spec_for_model
    from explorer.activations.stepper import Stepper
    from explorer.devices import choose_device
    from explorer.metrics.latency import profile_latency
    from explorer.metrics.overlays import latency_metrics, zero_fraction_metrics

    if image is not None:
        x = preprocess(image.image, spec_for_model(module, name)).tensor
    else:
        x = torch.randn(1, *input_shape[1:], generator=torch.Generator().manual_seed(0))
    target = choose_device(device)
    if source == "latency":
        return latency_metrics(profile_latency(module, x, target, repeats=10))
    stepper = Stepper(module, target)
    stepper.set_input(x.to(stepper.device))
    return zero_fraction_metrics(stepper)


class GradientStrip(QWidget):
    """The overlay's colour scale drawn as a gradient, low on the left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(12)
        self.setMinimumWidth(80)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.set_theme("light")

    def set_theme(self, theme: str) -> None:
        """Draw the scale as the nodes are coloured in ``theme``."""
        self._stops = [(i / 255, QColor(*map(int, rgb))) for i, rgb in enumerate(tint_table(theme))
                       if i % 15 == 0 or i == 255]
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        gradient = QLinearGradient(0, 0, self.width(), 0)
        for at, colour in self._stops:
            gradient.setColorAt(at, colour)
        painter = QPainter(self)
        painter.fillRect(self.rect(), gradient)
        painter.end()


class OverlayBar(QWidget):
    """"Colour by [metric ▾]" and the colour bar with the values at its ends."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Colour by"))
        self.combo = QComboBox()
        self.combo.addItem("None", "")
        for metric in METRICS:
            self.combo.addItem(metric.label, metric.key)
        self.combo.setToolTip("Colour the graph's nodes by a per-node metric; hover a node for its value")
        layout.addWidget(self.combo)
        self.low_label = QLabel("")
        self.low_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.strip = GradientStrip()
        self.high_label = QLabel("")
        self.note = secondary(QLabel(""))
        for w in (self.low_label, self.strip, self.high_label):
            layout.addWidget(w, 1 if w is self.strip else 0)
        layout.addWidget(self.note)
        self.show_range(None)

    def show_range(self, span: tuple[float, float, str, str] | None, note: str = "") -> None:
        """``span``: (low, high, low text, high text), or None to hide the bar."""
        for w in (self.low_label, self.strip, self.high_label):
            w.setVisible(span is not None)
        if span is not None:
            self.low_label.setText(span[2])
            self.high_label.setText(span[3])
        self.note.setText(note)


class GraphOverlay(OverlayBar):
    """Colours a :class:`GraphPanel`'s nodes by the chosen metric (a view of the session)."""

    def __init__(self, session: Session, panel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.panel = panel
        self.metric: Metric | None = None
        self.values: dict[str, float] = {}  # unit -> value shown
        self.span: tuple[float, float] | None = None  # the colour bar's ends
        self._static: tuple[Any, dict[str, dict[str, float]]] | None = None  # (graph, values)
        self._measured: dict[tuple, dict[str, dict[str, float]]] = {}
        self._asked: tuple | None = None
        self.job = LatestJob("metric overlay", self)
        self.job.done.connect(self._on_measured)
        self.job.failed.connect(self._on_failed)
        self.combo.currentIndexChanged.connect(self._on_combo)
        panel.scene.populated.connect(self.refresh)
        panel.scene.theme_changed.connect(lambda _theme: self.refresh())  # the scale per theme
        self._subscriptions = Subscriptions(self)
        for event in (session.model_changed, session.image_changed, session.device_changed):
            self._subscriptions.connect(event, self._on_session_changed)
        self._update_offers()

    @property
    def busy(self) -> bool:
        return self.job.busy

    def above(self, panel: QWidget) -> QWidget:
        """A widget holding this bar above ``panel`` (the graph panel it colours)."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self)
        layout.addWidget(panel, 1)
        return box

    def set_metric(self, key: str | None) -> None:
        """Colour by ``key`` (a ``METRICS`` key), or nothing for None or ""."""
        index = self.combo.findData(key or "")
        self.combo.setCurrentIndex(max(index, 0))

    # ----- what can be offered ------------------------------------------------------------

    def _available(self, metric: Metric) -> str:
        """"" when ``metric`` can be shown now, else why not."""
        s = self.session
        if metric.source in ("latency", "zeros") and s.module is None:
            return "needs the model built"
        if metric.source == "zeros" and s.image is None:
            return "open an image first"
        if metric.source == "run" and run_summaries(s.weights) is None:
            return "needs a run's epoch with summaries as weights"
        return ""

    def _update_offers(self) -> None:
        model: QStandardItemModel = self.combo.model()  # type: ignore[assignment]
        for row in range(1, self.combo.count()):
            metric = BY_KEY[self.combo.itemData(row)]
            why = self._available(metric)
            item = model.item(row)
            item.setEnabled(not why)
            item.setToolTip(why)
        if self.metric is not None and self._available(self.metric):
            self.set_metric(None)

    # ----- events -------------------------------------------------------------------------

    def _on_combo(self, _index: int) -> None:
        key = self.combo.currentData()
        self.metric = BY_KEY.get(key)
        self.refresh()

    def _on_session_changed(self, session: Session, *_change) -> None:
        if session.module is None:
            self._measured.clear()  # another model or weights: measured values are stale
        self._update_offers()
        self.refresh()

    def _measure_key(self) -> tuple:
        s = self.session
        image = id(s.image) if self.metric.source == "zeros" else None
        return (self.metric.source, s.model_name, s.weights, id(s.module), image, s.device)

    def refresh(self) -> None:
        """Colour the nodes shown now by the chosen metric (measuring it first if needed)."""
        graph, view = self.panel.graph, self.panel.view_graph
        metric = self.metric
        if metric is None or graph is None or view is None or not self.panel.scene.nodes:
            self._show({}, "")
            return
        if metric.source == "graph":
            if self._static is None or self._static[0] is not graph:
                self._static = (graph, static_metrics(graph))
            self._paint(self._static[1])
        elif metric.source == "run":
            from explorer.metrics.overlays import run_metrics

            summaries = run_summaries(self.session.weights)
            self._paint(run_metrics(graph, summaries) if summaries is not None else {})
        else:
            key = self._measure_key()
            if key in self._measured:
                self._paint(self._measured[key])
                return
            self._show({}, "measuring on " + self.session.device + "…")
            if self._asked != key:
                s = self.session
                self._asked = key
                self.job.submit(measure, metric.source, s.module, s.model_name, s.image, s.device,
                                tuple(graph.input_shape))

    def _on_measured(self, _number: int, values: dict[str, dict[str, float]]) -> None:
        if self._asked is not None:
            self._measured[self._asked] = values
            self._asked = None
        self.refresh()

    def _on_failed(self, _number: int, message: str) -> None:
        self._asked = None
        self._show({}, message)

    # ----- painting -----------------------------------------------------------------------

    def _paint(self, per_node: dict[str, dict[str, float]]) -> None:
        metric, view, graph = self.metric, self.panel.view_graph, self.panel.graph
        position = {n: i for i, n in enumerate(graph.order)}
        values: dict[str, float] = {}
        notes: dict[str, str] = {}
        for unit in view.order:
            attrs = view.graph.nodes[unit]
            if attrs.get("unit") == "node":
                found = per_node.get(unit, {}).get(metric.key)
                how = ""
            else:
                members = sorted(attrs.get("members") or [], key=lambda n: position.get(n, 0))
                found = aggregate_nodes(per_node, members).get(metric.key)
                how = f" ({metric.how} of {len(members)} layers)"
            if found is not None and math.isfinite(found):
                values[unit] = float(found)
                notes[unit] = f"{metric.label}: {format_value(metric, found)}{how}"
        self._show(values, "" if values else "no values for this model", notes)

    def _show(self, values: dict[str, float], note: str, notes: dict[str, str] | None = None) -> None:
        metric = self.metric
        self.values = values
        self.panel.legend.setVisible(metric is None)  # category colours mean nothing while tinted
        scaled = {u: v for u, v in values.items() if v > 0 or (metric is not None and not metric.log)}
        if metric is None or not scaled:
            self.span = None
            self.panel.scene.set_node_tints({})
            self.show_range(None, note)
            return
        lo, hi = min(scaled.values()), max(scaled.values())
        self.span = (lo, hi)
        theme = self.panel.scene.theme_name
        table = tint_table(theme)
        self.strip.set_theme(theme)
        f = math.log10 if metric.log else float
        a, b = f(lo), f(hi)
        tints: dict[str, tuple[QColor | None, str]] = {}
        for unit, value in values.items():
            if unit in scaled:
                t = (f(value) - a) / (b - a) if b > a else 1.0
                r, g, bl = table[int(round(t * 255))]
                tints[unit] = (QColor(int(r), int(g), int(bl)), notes[unit])
            else:  # zero on a log scale: no colour, the value still in the tooltip
                tints[unit] = (zero_tint(theme), notes[unit])
        self.panel.scene.set_node_tints(tints)
        zero = " · grey: 0" if len(scaled) < len(values) else ""
        self.show_range((lo, hi, format_value(metric, lo), format_value(metric, hi)),
                        ("log scale" if metric.log else "linear scale") + zero)

    def stop(self) -> None:
        self._subscriptions.clear()
        self.job.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
