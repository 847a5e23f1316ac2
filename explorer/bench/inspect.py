"""`cnn-explorer bench inspect`: stepping overhead, mosaic drawing, GUI responsiveness.

Checks:
- stepping_vs_eager_resnet50: stepping every node of ResNet-50 at 224x224 (one generator
  step per node, as the GUI's worker does) against one eager forward pass, both measured
  in this run on the same device, interleaved, the fastest of several runs of each (other
  processes only ever add time, so the minimum is the cost; medians are reported too);
  at most 1.3x.
- mosaic_256x56x56_ms: a 256-channel 56x56 node drawn as the panel draws it (tile and
  scale, colour map, ``ImageItem.setImage`` and a synchronous repaint of the view); at
  most 30 ms (median).
- heartbeat_while_stepping_ms: the longest GUI-thread gap while the feature-map panel
  builds the stepper, runs to the end of ResNet-50 (ResNet-18 with --quick), steps back
  (a full replay) and steps through nodes one by one; at most 100 ms.
Reported without a limit: stepping with a CPU copy of every node's output (what play
mode costs at most).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import torch

from explorer.devices import choose_device, describe_device


def _check(name: str, value: float | None, unit: str, limit: float | None, **extra: Any) -> dict:
    passed = None if value is None or limit is None else bool(value <= limit)
    return {"name": name, "value": value, "unit": unit, "limit": limit, "passed": passed, **extra}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _timed(func, device: torch.device, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        func()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def stepping_vs_eager(model_name: str = "resnet50", size: int = 224, repeats: int = 9,
                      device: str = "auto") -> dict:
    """Seconds of one eager forward and of stepping every node on the same device."""
    import torchvision

    from explorer.activations.stepper import Stepper

    dev = choose_device(device)
    torch.manual_seed(0)
    model = getattr(torchvision.models, model_name)().eval()
    x = torch.randn(1, 3, size, size)
    stepper = Stepper(model, dev)
    stepper.set_input(x)
    x_dev = x.to(dev)
    last = len(stepper) - 1

    def eager() -> None:
        with torch.no_grad():
            model(x_dev)

    def step_all() -> None:
        stepper.reset()
        for _ in stepper.steps_to(last):
            pass

    def step_all_with_copies() -> None:
        stepper.reset()
        for _ in stepper.steps_to(last):
            stepper.activation()

    for _ in range(2):  # warm-up: allocator, kernels, caches
        eager()
        step_all()
    # Interleave the two so that drift (other processes, clocks) hits both alike.
    eager_times: list[float] = []
    step_times: list[float] = []
    copy_times: list[float] = []
    for i in range(repeats):
        eager_times += _timed(eager, dev, 1)
        step_times += _timed(step_all, dev, 1)
        if i % 3 == 0:
            copy_times += _timed(step_all_with_copies, dev, 1)
    with torch.no_grad():
        expected = model(x_dev)
    torch.testing.assert_close(stepper.output(), expected)
    return {
        "device": describe_device(dev),
        "nodes": len(stepper),
        "repeats": repeats,
        "eager_s": min(eager_times),
        "stepping_s": min(step_times),
        "eager_median_s": statistics.median(eager_times),
        "stepping_median_s": statistics.median(step_times),
        "stepping_with_copies_s": min(copy_times),
    }


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def mosaic_draw_ms(channels: int = 256, size: int = 56, repeats: int = 20) -> dict:
    """Median ms to draw a node's channels as the panel does, on the GUI thread."""
    import numpy as np

    app = _app()
    from explorer.activations.mosaic import as_channels
    from explorer.activations.pipeline import render as _render
    from explorer.ui.maps.views import ImagePane

    pane = ImagePane(min_size=600)
    pane.resize(800, 800)
    pane.show()
    app.processEvents()
    rng = np.random.default_rng(0)
    activations = [torch.from_numpy(rng.standard_normal((1, channels, size, size), dtype=np.float32))
                   for _ in range(3)]
    times = []
    for i in range(repeats + 2):
        value = activations[i % len(activations)]
        start = time.perf_counter()
        mosaic, rgba = _render(as_channels(value), "viridis", "shared")
        pane.set_rgba(rgba)
        pane.viewport().repaint()  # paint now, synchronously, as the screen would
        elapsed = (time.perf_counter() - start) * 1000
        if i >= 2:
            times.append(elapsed)
    pane.close()
    return {"median_ms": statistics.median(times), "max_ms": max(times),
            "image": list(rgba.shape[:2]), "grid": [mosaic.rows, mosaic.cols]}


def heartbeat_while_stepping(model_name: str = "resnet50", single_steps: int = 20) -> dict:
    """Longest GUI-thread gap (ms) while the panel builds, runs, replays and steps."""
    import torchvision

    app = _app()
    from explorer.bench.heartbeat import Heartbeat
    from explorer.ui.maps.panel import FeatureMapPanel

    model = getattr(torchvision.models, model_name)()
    panel = FeatureMapPanel(device="auto")
    panel.resize(1000, 700)
    panel.show()
    panel.load_sample("shapes")
    app.processEvents()

    def settled() -> bool:
        return panel.settled

    def pump_until(done, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the feature-map panel did not settle")
            app.processEvents()
            time.sleep(0.001)

    beat = Heartbeat(interval_ms=5)
    beat.start()
    start = time.perf_counter()
    from explorer.session import WeightsChoice

    weights = WeightsChoice("random")
    from explorer.loading import LoadedModel

    panel.session.set_model(model_name, weights)
    panel.session.deliver(LoadedModel.of(model_name, weights, model))
    pump_until(settled)
    panel.step_last()
    pump_until(settled)
    panel.step_back()  # a full replay from the input
    pump_until(settled)
    panel.step_first()
    pump_until(settled)
    for _ in range(single_steps):
        panel.step_forward()
        pump_until(settled)
    gap = beat.stop()
    elapsed = time.perf_counter() - start
    nodes = len(panel.stepper)
    panel.close()
    return {"max_gap_ms": gap, "ticks": beat.ticks, "seconds": elapsed, "nodes": nodes}


def run(quick: bool = False) -> dict:
    checks = []
    stepping = stepping_vs_eager(repeats=4 if quick else 9)
    ratio = stepping["stepping_s"] / stepping["eager_s"]
    checks.append(_check(
        "stepping_vs_eager_resnet50", ratio, "x", 1.3,
        note=f"{stepping['nodes']} nodes at 224x224 on {stepping['device']}, best of "
             f"{stepping['repeats']}: stepping {stepping['stepping_s'] * 1000:.1f} ms, eager "
             f"{stepping['eager_s'] * 1000:.1f} ms (medians {stepping['stepping_median_s'] * 1000:.1f}"
             f" / {stepping['eager_median_s'] * 1000:.1f} ms)"))
    checks.append(_check(
        "stepping_with_cpu_copies_vs_eager", stepping["stepping_with_copies_s"] / stepping["eager_s"],
        "x", None, note="every node's output copied to the CPU (play mode's upper bound)"))
    mosaic = mosaic_draw_ms(repeats=8 if quick else 20)
    checks.append(_check(
        "mosaic_256x56x56_ms", mosaic["median_ms"], "ms", 30.0,
        note=f"{mosaic['image'][1]}x{mosaic['image'][0]} px image, grid {mosaic['grid'][0]}x"
             f"{mosaic['grid'][1]}; max {mosaic['max_ms']:.1f} ms"))
    model_name = "resnet18" if quick else "resnet50"
    beat = heartbeat_while_stepping(model_name, single_steps=10 if quick else 20)
    checks.append(_check(
        "heartbeat_while_stepping_ms", beat["max_gap_ms"], "ms", 100.0,
        note=f"{model_name}, {beat['nodes']} nodes: build, run to end, replay, single steps "
             f"({beat['seconds']:.1f} s, {beat['ticks']} ticks)"))
    return {
        "suite": "inspect",
        "device": stepping["device"],
        "torch": torch.__version__,
        "quick": quick,
        "stepping": stepping,
        "mosaic": mosaic,
        "heartbeat": beat,
        "checks": checks,
    }
