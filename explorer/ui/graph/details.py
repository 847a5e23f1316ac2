"""The details panel: everything the graph knows about the clicked node, and the paper's note."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from explorer.graph.model_graph import format_shape

# The title heads the panel; the id is internal (fx's node name): never shown.
_HIDDEN = {"members", "label", "summary", "id", "title", "blocks", "aux", "paper"}
_ORDER = ("module_path", "layer_type", "category", "block_type", "op", "target", "shape",
          "dtype", "params", "flops", "receptive_field", "effective_stride", "n_inputs",
          "hparams", "count", "unit")
_NAMES = {"module_path": "module", "layer_type": "type", "n_inputs": "inputs",
          "receptive_field": "receptive field", "effective_stride": "effective stride",
          "block_type": "block type", "hparams": "hyperparameters", "flops": "FLOPs",
          "params": "parameters", "count": "blocks"}


def format_count(n: int) -> str:
    return f"{n:,}"


def format_flops(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit} ({n:,})"
    return str(n)


def format_value(key: str, value: Any) -> str:
    if value is None or value == "" or value == {}:
        return "—"
    if key == "shape":
        return f"{format_shape(value)}  <span style='opacity:0.6'>{value}</span>"
    if key == "params":
        return format_count(int(value))
    if key == "flops":
        return format_flops(int(value))
    if key in ("receptive_field", "effective_stride") and isinstance(value, list):
        text = f"{value[0]}×{value[1]} px" if value[0] != value[1] else f"{value[0]} px"
        return text
    if key == "hparams" and isinstance(value, dict):
        return "<br>".join(
            f"{html.escape(str(k))}: " + (connection_grid(v) if k == "connections" else html.escape(str(v)))
            for k, v in value.items()
        )
    return html.escape(str(value))


def connection_grid(rows: Any) -> str:
    """A 0/1 table (LeNet-5's C3 connection table: input maps down, output maps across)
    as an HTML grid of filled and empty cells."""
    if not (isinstance(rows, list) and rows and all(isinstance(r, list) for r in rows)):
        return html.escape(str(rows))
    head = "".join(f"<td align='center' style='opacity:0.6'>{j}</td>" for j in range(len(rows[0])))
    body = "".join(
        f"<tr><td style='opacity:0.6; padding-right:4px'>{i}</td>"
        + "".join(f"<td align='center'>{'■' if cell else '·'}</td>" for cell in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return (f"<br><span style='opacity:0.75'>input maps (rows) × output maps (columns), "
            f"{sum(map(sum, rows))} connections</span>"
            f"<table cellspacing='0' cellpadding='1'><tr><td></td>{head}</tr>{body}</table>")


def _count(n: Any) -> str:
    return f"{int(n):,}" if isinstance(n, (int, float)) else "—"


def paper_comparison(attrs: dict[str, Any]) -> str:
    """The paper's figures beside the measured ones, and why they differ (HTML)."""
    paper = attrs.get("paper")
    if not isinstance(paper, dict):
        return ""
    # The output node carries the model's totals, measured over the whole model.
    measured = paper.get("measured") or {"params": attrs.get("params"),
                                         "macs": int(attrs.get("flops") or 0) // 2}  # 2 FLOPs per MAC
    rows = []  # only what the paper gives
    if paper.get("params") is not None:
        rows.append(("parameters", _count(paper["params"]), _count(measured.get("params"))))
    if paper.get("macs") is not None:
        rows.append(("multiply-adds", _count(paper["macs"]), _count(measured.get("macs"))))
    if paper.get("connections") is not None:
        rows.append(("connections", _count(paper["connections"]), "—"))
    cells = "".join(
        f"<tr><td style='padding:1px 10px 1px 0; opacity:0.75'>{html.escape(name)}</td>"
        f"<td style='padding:1px 10px 1px 0'>{html.escape(p)}</td><td>{html.escape(m)}</td></tr>"
        for name, p, m in rows
    )
    scope = f" ({paper['scope']})" if paper.get("scope") else ""
    parts = [f"<p style='margin:10px 0 2px 0'><b>The paper beside ours{html.escape(scope)}</b> "
             f"<span style='opacity:0.75'>({html.escape(str(paper.get('source', '')))})</span></p>"]
    if cells:
        parts.append("<table><tr><td></td><td style='opacity:0.75; padding-right:10px'>paper</td>"
                     f"<td style='opacity:0.75'>measured here</td></tr>{cells}</table>")
    if paper.get("printed"):
        parts.append(f"<p style='margin:2px 0'>As printed: {html.escape(str(paper['printed']))}</p>")
    if paper.get("note"):
        parts.append(f"<p style='margin:2px 0'>Note: {html.escape(str(paper['note']))}</p>")
    return "".join(parts)


class NodeDetails(QWidget):
    """Shows one node's or block's attributes as a table, then the note."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser)
        self.setMinimumWidth(220)
        self.clear()

    def clear(self) -> None:
        self.current: dict[str, Any] | None = None
        self.browser.setHtml("<p style='opacity:0.7'>Click a layer or block to see its details.<br>"
                             "Double-click a block to open it.</p>")

    def show_node(self, title: str, attrs: dict[str, Any], note: str | None = None,
                  extra: list[tuple[str, str]] | None = None) -> None:
        """Show ``attrs`` (a unit's or a node's attributes) under ``title``."""
        self.current = dict(attrs)
        rows = []
        keys = [k for k in _ORDER if k in attrs] + sorted(k for k in attrs if k not in _ORDER)
        for key in keys:
            if key in _HIDDEN or (key == "target" and attrs.get("op") in ("placeholder", "output")):
                continue  # an input's target is fx's name for the forward's argument
            rows.append((_NAMES.get(key, key.replace("_", " ")), format_value(key, attrs[key])))
        for name, value in extra or []:
            rows.append((name, html.escape(value)))
        table = "".join(
            f"<tr><td style='padding:2px 10px 2px 0; opacity:0.75; vertical-align:top'>{html.escape(k)}</td>"
            f"<td style='padding:2px 0'>{v}</td></tr>"
            for k, v in rows
        )
        parts = [f"<h3 style='margin:2px 0 6px 0'>{html.escape(title)}</h3>"]
        label = attrs.get("label")
        if isinstance(label, str) and label and label not in title:  # not the title's own tail
            parts.append(f"<p style='margin:0 0 6px 0'>{html.escape(label)}</p>")  # what it is
        parts.append(f"<table>{table}</table>")
        parts.append(paper_comparison(attrs))
        if note:
            parts.append(f"<p style='margin-top:10px'><i>From the paper:</i> {html.escape(note)}</p>")
        self.browser.setHtml("".join(parts))

    def text(self) -> str:
        return self.browser.toPlainText()
