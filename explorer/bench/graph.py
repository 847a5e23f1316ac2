"""`cnn-explorer bench graph`: how fast graphs are prepared and drawn, and whether the window stalls.

Checks (issue 3):
- default_view_ms: the default (collapsed) view of every zoo model, from a built model
  (building it is not timed) to a populated scene: fx trace + shape propagation + FLOPs
  + hierarchy + layout + scene items. The median of ``repeats`` runs per model, each
  started after a garbage collection (as ``timeit`` does, so one run does not pay for
  the previous one's garbage); the check is the slowest model; at most 250 ms.
- torchvision_default_view_ms: the same, for every torchvision classifier the zoo does not
  register (ConvNeXt, EfficientNet, RegNet, ViT, Swin...), each built on the meta device
  as the registry's are; same limit.
- densenet121_expanded_layout_ms: layout of the fully expanded DenseNet-121 (433
  nodes, 967 edges); at most 500 ms.
- repaint_ms: one synchronous full repaint of the view (1200x800, fitted) for every zoo
  model's default view (median of 5); the check is the slowest; at most 16 ms. The
  expanded DenseNet-121 is reported too.
- overview_ms: from a traced graph to the first view a user sees (issue 11): default view
  laid out, scene populated, view and minimap made, fitted and painted once each, for every
  zoo model (median of 3); the check is the slowest; at most 250 ms.
- minimap_pan_ms: one frame of panning the expanded DenseNet-121 at 100 % zoom: the view
  moves, the minimap follows and repaints what changed (median of 60 frames); at most 4 ms.
- heartbeat_ms: the longest gap of a 5 ms timer on the GUI thread while the graph panel
  prepares models through its subprocess (worker start-up included); at most 100 ms.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

QUICK_MODELS = ("googlenet", "resnet50", "densenet121", "mobilenet_v2")
QUICK_TORCHVISION = ("convnext_tiny", "efficientnet_b0", "regnet_y_400mf", "vit_b_16")
# From a built model to a populated scene, for the zoo's and torchvision's classifiers alike.
DEFAULT_VIEW_LIMIT_MS = 250.0


def _check(name: str, value: float | None, unit: str, limit: float | None, **extra: Any) -> dict:
    passed = None if value is None or limit is None else bool(value <= limit)
    return {"name": name, "value": value, "unit": unit, "limit": limit, "passed": passed, **extra}


def _zoo(quick: bool) -> list[str]:
    from explorer.models import list_models

    names = list_models()
    if quick:
        return [n for n in QUICK_MODELS if n in names] or names[:4]
    return names


def _torchvision_classifiers(quick: bool) -> list[str]:
    from explorer.models.torchvision_models import classifier_names

    names = classifier_names()
    if quick:
        return [n for n in QUICK_TORCHVISION if n in names] or names[:4]
    return names


def _torchvision_model(name: str):
    """(model on the meta device, input shape) of a torchvision classifier, as
    ``resolve_model`` gives a registered model."""
    from explorer.models.meta import meta_device
    from explorer.models.torchvision_models import torchvision_info

    info = torchvision_info(name)
    with meta_device():
        return info.builder(), info.input_shape


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["cnn-explorer-bench"])


def _widgets() -> tuple[type, type, type]:
    """The graph's scene, view and minimap classes (imported here: Qt only when asked for;
    call it before a timed part so that the import is not timed)."""
    from explorer.ui.graph.minimap import GraphMinimap
    from explorer.ui.graph.scene import GraphScene
    from explorer.ui.graph.view import GraphView

    return GraphScene, GraphView, GraphMinimap


def _shown_view(view_graph, layout, size: tuple[int, int], minimap_size: tuple[int, int] | None = None):
    """A populated scene in a shown view of ``size`` (and a shown minimap of it when
    ``minimap_size`` is given): (scene, view, minimap or None)."""
    GraphScene, GraphView, GraphMinimap = _widgets()  # noqa: N806 - classes
    scene = GraphScene()
    scene.populate(view_graph, layout)
    view = GraphView(scene)
    view.resize(*size)
    minimap = None
    if minimap_size is not None:
        minimap = GraphMinimap(view)
        minimap.resize(*minimap_size)
    view.show()
    if minimap is not None:
        minimap.show()
    return scene, view, minimap


def _dispose(app, scene, *widgets) -> None:
    """Close and delete ``widgets`` and ``scene`` now, outside any timed part."""
    for widget in widgets:
        if widget is not None:
            widget.close()
            widget.deleteLater()
    scene.deleteLater()
    app.processEvents()


def default_view_times(names: list[str], repeats: int = 5,
                       build: Callable[[str], tuple[Any, tuple[int, ...]]] | None = None) -> dict[str, float]:
    """Milliseconds from a built model to a populated scene, median of ``repeats``, per model.

    ``build`` makes (model, input shape) from a name, untimed (default: ``resolve_model``).
    """
    from explorer.graph import build_graph, prepare_view, resolve_model
    from explorer.ui.graph.scene import GraphScene

    _app()
    out = {}
    for name in names:
        model, shape = (build or resolve_model)(name)
        times = []
        for _ in range(repeats):
            gc.collect()
            start = time.perf_counter()
            graph = build_graph(model, shape, name=name)
            view, layout = prepare_view(graph)
            scene = GraphScene()
            scene.populate(view, layout)
            times.append(time.perf_counter() - start)
            del scene  # owned by Python: its items go now, outside the timed part
        out[name] = round(statistics.median(times) * 1000, 1)
    return out


def expanded_densenet_layout_ms(repeats: int = 3) -> tuple[float, int, int]:
    from explorer.graph import build_named_graph, expanded_state, layout_view, make_view

    name = "densenet121"
    graph = build_named_graph(name)
    view = make_view(graph, expanded_state(graph))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        layout_view(view)
        times.append(time.perf_counter() - start)
    return round(min(times) * 1000, 1), len(view.order), view.graph.number_of_edges()


def repaint_times(names: list[str]) -> dict[str, float]:
    """Median milliseconds of a synchronous full repaint of each default view."""
    from explorer.graph import build_graph, expanded_state, prepare_view, resolve_model

    app = _app()
    out = {}
    cases = [(n, None) for n in names] + [("densenet121 (expanded)", "densenet121")]
    for label, name in cases:
        model, shape = resolve_model(name or label)
        graph = build_graph(model, shape, name=label)
        state = expanded_state(graph) if name else None
        scene, view, _ = _shown_view(*prepare_view(graph, state), (1200, 800))
        app.processEvents()
        view.fit_to_window()
        app.processEvents()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            view.viewport().repaint()
            times.append(time.perf_counter() - start)
        out[label] = round(statistics.median(times) * 1000, 2)
        _dispose(app, scene, view)
    return out


def overview_times(names: list[str], repeats: int = 3) -> dict[str, float]:
    """Milliseconds from a traced graph to a fitted, painted view with its minimap."""
    from explorer.graph import build_graph, prepare_view, resolve_model

    app = _app()
    _widgets()
    out = {}
    for name in names:
        model, shape = resolve_model(name)
        graph = build_graph(model, shape, name=name)
        times = []
        for _ in range(repeats):
            gc.collect()
            start = time.perf_counter()
            scene, view, minimap = _shown_view(*prepare_view(graph), (900, 700), (150, 200))
            view.fit_to_window()
            minimap.refit()
            view.viewport().repaint()
            minimap.viewport().repaint()
            times.append(time.perf_counter() - start)
            _dispose(app, scene, minimap, view)
        out[name] = round(statistics.median(times) * 1000, 1)
    return out


def minimap_pan_ms(frames: int = 60) -> float:
    """Median milliseconds of one panning frame's minimap work on the expanded DenseNet-121."""
    from explorer.graph import build_named_graph, expanded_state, prepare_view

    app = _app()
    graph = build_named_graph("densenet121")
    scene, view, minimap = _shown_view(*prepare_view(graph, expanded_state(graph)), (900, 700), (150, 400))
    app.processEvents()
    view.resetTransform()
    view.centerOn(scene.sceneRect().center().x(), scene.sceneRect().top())
    minimap.refit()
    minimap.viewport().repaint()  # the first paint fills the items' caches
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        view.pan_by(0, 40)  # the minimap follows through the scroll bar's signal
        minimap.viewport().repaint(minimap.last_dirty)
        times.append(time.perf_counter() - start)
    _dispose(app, scene, minimap, view)
    return round(statistics.median(times) * 1000, 2)


def heartbeat_while_preparing(names: list[str]) -> dict[str, float]:
    """Longest GUI-thread gap (ms) while the panel prepares each model in its subprocess."""
    from explorer.bench.heartbeat import max_gap_while
    from explorer.ui.graph.panel import GraphPanel

    _app()
    panel = GraphPanel()
    panel.resize(1200, 800)
    panel.show()
    out = {}
    for name in names:
        ready: list[Any] = []
        failed: list[str] = []
        panel.graph_ready.connect(ready.append)
        panel.failed.connect(failed.append)
        panel.show_model(name)
        out[name] = round(max_gap_while(lambda: bool(ready or failed), timeout_s=300), 1)
        panel.graph_ready.disconnect(ready.append)
        panel.failed.disconnect(failed.append)
        if failed:
            raise RuntimeError(f"{name}: {failed[0]}")
    panel.close()
    panel.client.shutdown()
    return out


def run(quick: bool = False) -> dict:
    warnings.filterwarnings("ignore")
    names = _zoo(quick)
    checks = []
    views = default_view_times(names, repeats=3 if quick else 5)
    worst = max(views, key=views.get)
    checks.append(_check("default_view_ms", views[worst], "ms", DEFAULT_VIEW_LIMIT_MS, worst_model=worst,
                         per_model=views))
    views = default_view_times(_torchvision_classifiers(quick), repeats=3 if quick else 5,
                               build=_torchvision_model)
    worst = max(views, key=views.get)
    checks.append(_check("torchvision_default_view_ms", views[worst], "ms", DEFAULT_VIEW_LIMIT_MS,
                         worst_model=worst, per_model=views))
    layout_ms, n_nodes, n_edges = expanded_densenet_layout_ms()
    checks.append(_check("densenet121_expanded_layout_ms", layout_ms, "ms", 500.0,
                         nodes=n_nodes, edges=n_edges))
    repaints = repaint_times(names)
    defaults = {k: v for k, v in repaints.items() if "expanded" not in k}
    worst = max(defaults, key=defaults.get)
    checks.append(_check("repaint_ms", defaults[worst], "ms", 16.0, worst_model=worst,
                         per_model=repaints))
    overviews = overview_times(names)
    worst = max(overviews, key=overviews.get)
    checks.append(_check("overview_ms", overviews[worst], "ms", 250.0, worst_model=worst,
                         per_model=overviews))
    checks.append(_check("minimap_pan_ms", minimap_pan_ms(), "ms", 4.0, model="densenet121 (expanded)"))
    beats = heartbeat_while_preparing(names if not quick else names[:3])
    worst = max(beats, key=beats.get)
    checks.append(_check("heartbeat_ms", beats[worst], "ms", 100.0, worst_model=worst,
                         per_model=beats))
    return {
        "suite": "graph",
        "quick": quick,
        "cpu_count": os.cpu_count(),
        "checks": checks,
        "passed": all(c["passed"] for c in checks if c["passed"] is not None),
    }
