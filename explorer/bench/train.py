"""`cnn-explorer bench train`: training throughput, GUI-driven training, CUDA speed.

Checks:
- engine_vs_textbook_cpu: the engine's images/s against the textbook loop (torchvision
  dataset with ``ToTensor``, a ``DataLoader``, the same model, batch size and optimiser),
  both measured in this run on the CPU; at least 2x.
- gui_vs_headless: training driven by the TrainingPanel against the headless engine on the
  same recipe, measured in this run; at least 0.9x.
- gui_heartbeat_max_gap: the longest GUI-thread stall during that GUI run; at most 100 ms.
- cuda_lenet_images_per_s (at least 300,000) and cuda_resnet18_small_epoch_s (a 60,000-image
  epoch in at most 5 s): only where a CUDA GPU is present, else reported as skipped.

All use the textbook LeNet recipe (SGD lr 0.9, batch 256) unless noted. Data: the folder
from ``settings.data_dir()`` (``$CNN_EXPLORER_DATA``, the settings) or ``data_dir``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from explorer import settings
from explorer.train import (
    BatchMetrics,
    RunHistory,
    TrainConfig,
    Trainer,
    build_model,
    keep_freed_memory,
    load_fashion_mnist,
    xavier_init,
)
from explorer.train.data import FashionData, raw_folder

BATCH = 256


def _check(name: str, value: float | None, unit: str, limit: float | None, higher_is_better: bool, **extra: Any) -> dict:
    if value is None:
        passed = None
    elif higher_is_better:
        passed = value >= limit
    else:
        passed = value <= limit
    return {"name": name, "value": value, "unit": unit, "limit": limit, "passed": passed, **extra}


def textbook_loop_images_per_s(root: Path, model_name: str, batches: int | None, num_workers: int = 0) -> float:
    """The d2l-style loop: FashionMNIST + ToTensor + DataLoader, SGD lr 0.9, training only."""
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import FashionMNIST

    torch.manual_seed(0)
    model, _ = build_model(TrainConfig(model=model_name))
    xavier_init(model)
    dataset = FashionMNIST(root=str(root), train=True, transform=transforms.ToTensor(), download=False)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=num_workers)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    images = 0
    start = None
    for i, (x, y) in enumerate(loader):
        if i == 1:  # the first batch pays one-off start-up costs; time from the second
            start = time.perf_counter()
            images = 0
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        images += len(y)
        if batches is not None and i >= batches:
            break
    return images / (time.perf_counter() - start)


def engine_images_per_s(data: FashionData, config: TrainConfig, steady: bool = False) -> float:
    """Training images/s of the headless engine (evaluation passes excluded).

    Args:
        steady: time from the second batch, as ``textbook_loop_images_per_s`` does (the
            first pays one-off start-up costs: oneDNN primitives, first allocations);
            otherwise the engine's own figure for the whole run.
    """
    first = last = finished = None
    for event in Trainer(config, data=data, history=False, checkpoint_path=False).run():
        if isinstance(event, BatchMetrics):
            first = first or event
            last = event
        finished = event
    if steady and last is not None and last.elapsed_s > first.elapsed_s:
        return (last.images_seen - first.images_seen) / (last.elapsed_s - first.elapsed_s)
    return float(finished.record.final.images_per_s)


def machine_state() -> dict[str, Any]:
    """What a reader needs to judge noise: cores, torch's threads and the load average."""
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _load_1min() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def gui_run(data_root: Path, config: TrainConfig) -> tuple[float, float, float]:
    """Drive the TrainingPanel through a run; (images/s, longest GUI-thread gap in ms during
    the run, longest gap in 2 s of idling afterwards)."""
    import sys
    import tempfile

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        # A benchmark box has no screen; the panel renders the same off screen.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from explorer.bench.heartbeat import max_gap_while
    from explorer.ui.training.panel import TrainingPanel

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        from explorer.session import Session

        panel = TrainingPanel(Session(), history=RunHistory(folder), data_dir=str(data_root))
        panel.resize(1300, 800)
        panel.show()
        panel.set_config(config)
        done = []
        panel.running_changed.connect(lambda running: done.append(True) if not running else None)
        # The user sees the panel before pressing Start: its first paint is not training's.
        shown_until = time.monotonic() + 0.5
        max_gap_while(lambda: time.monotonic() > shown_until, timeout_s=60)
        panel.start()
        gap = max_gap_while(lambda: bool(done), timeout_s=600)
        # The same probe with nothing training: what the machine's load alone costs.
        idle_until = time.monotonic() + 2.0
        idle_gap = max_gap_while(lambda: time.monotonic() > idle_until, timeout_s=60)
        app.processEvents()
        rate = panel.last_epoch.images_per_s if panel.last_epoch else 0.0
        panel.shutdown()
        panel.close()
        panel.deleteLater()
        app.processEvents()
        if panel.last_status != "completed":
            raise RuntimeError(f"GUI training run ended with {panel.last_status!r}")
    return rate, gap, idle_gap


def _cuda_checks(data: FashionData, quick: bool) -> list[dict]:
    names = ("cuda_lenet_images_per_s", "cuda_resnet18_small_epoch_s")
    if not torch.cuda.is_available():
        note = "no CUDA GPU on this machine"
        return [
            _check(names[0], None, "images/s", 300_000, True, note=note),
            _check(names[1], None, "s", 5.0, False, note=note),
        ]
    device = torch.device("cuda")
    gpu = {
        f.name: getattr(data, f.name).to(device)
        for f in data.__dataclass_fields__.values()
        if isinstance(getattr(data, f.name), torch.Tensor)
    }
    # A 60,000-image training split: the real images repeated up to the full set's size.
    reps = -(-60_000 // len(gpu["train_labels"]))
    gpu["train_images"] = gpu["train_images"].repeat(reps, 1, 1)[:60_000]
    gpu["train_labels"] = gpu["train_labels"].repeat(reps)[:60_000]
    full = FashionData(root=data.root, device=device, **gpu)
    checks = []
    lenet = TrainConfig(model="lenet", optimizer="sgd", lr=0.9, momentum=0.0, batch_size=BATCH, epochs=2,
                        init="xavier", normalize=False, device="cuda")
    rate = engine_images_per_s(full, lenet)
    checks.append(_check(names[0], rate, "images/s", 300_000, True, device=torch.cuda.get_device_name()))
    for amp, channels_last in ((False, False), (True, True)):
        resnet = TrainConfig(model="resnet18_small", optimizer="sgd", lr=0.05, batch_size=BATCH, epochs=2,
                             device="cuda", amp=amp, channels_last=channels_last)
        rate = engine_images_per_s(full, resnet)
        checks.append(
            _check(f"{names[1]}{'_bf16_channels_last' if amp else ''}", 60_000 / rate, "s", 5.0, False,
                   images_per_s=rate)
        )
    return checks


def run(quick: bool = False, data_dir: str | None = None) -> dict:
    """Run the training benchmarks; see the module docstring for the checks."""
    root = settings.data_dir(data_dir)
    result: dict[str, Any] = {"suite": "train", "data_dir": str(root), **machine_state()}
    if not (raw_folder(root) / "train-images-idx3-ubyte").exists():
        note = f"no Fashion-MNIST in {raw_folder(root)}"
        result["checks"] = [
            _check(name, None, unit, limit, hib, note=note)
            for name, unit, limit, hib in (
                ("engine_vs_textbook_cpu", "x", 2.0, True),
                ("gui_vs_headless", "x", 0.9, True),
                ("gui_heartbeat_max_gap", "ms", 100.0, False),
                ("cuda_lenet_images_per_s", "images/s", 300_000, True),
                ("cuda_resnet18_small_epoch_s", "s", 5.0, False),
            )
        ]
        return result

    # The panel's training process and the CLI keep freed memory (see keep_freed_memory);
    # so does this one, so the headless side and both sides of the textbook comparison
    # run the way they would on their own.
    keep_freed_memory()
    checks = []
    data = load_fashion_mnist(root, "cpu", val_fraction=0.0)
    model = "lenet"
    # Other processes share the CPU and its load comes in bursts: interleave the two sides
    # and compare the medians of their repetitions. Both run in this process, so with the
    # same intra-op threads (reported as torch_threads), and both are timed from their
    # second batch.
    repeats = 3 if quick else 5
    baseline_batches = 12 if quick else None
    textbook = TrainConfig(model=model, optimizer="sgd", lr=0.9, momentum=0.0, batch_size=BATCH, epochs=1,
                           init="xavier", normalize=False, device="cpu")
    baselines, engines, loads = [], [], []
    for _ in range(repeats):
        baselines.append(textbook_loop_images_per_s(root, model, baseline_batches))
        engines.append(engine_images_per_s(data, textbook, steady=True))
        loads.append(_load_1min())
    checks.append(
        _check("engine_vs_textbook_cpu", statistics.median(engines) / statistics.median(baselines), "x", 2.0, True,
               engine_images_per_s=engines, textbook_images_per_s=baselines, load_1min=loads, model=model,
               batch_size=BATCH, torch_threads=torch.get_num_threads(),
               note="median of each side's interleaved repetitions, same torch threads on both sides")
    )

    # GUI against headless on the same recipe, interleaved the same way. The panel trains
    # in a child process (its default) with this process's intra-op threads, so both sides
    # run the same engine with the same threads; the child's start-up is not counted.
    gui_config = textbook.replace(epochs=2 if quick else 3)
    headless, gui, gaps, idle, loads = [], [], [], [], []
    for _ in range(2 if quick else 3):
        headless.append(engine_images_per_s(data, gui_config))
        rate, gap, idle_gap = gui_run(root, gui_config)
        gui.append(rate)
        gaps.append(gap)
        idle.append(idle_gap)
        loads.append(_load_1min())
    checks.append(
        _check("gui_vs_headless", statistics.median(gui) / statistics.median(headless), "x", 0.9, True,
               gui_images_per_s=gui, headless_images_per_s=headless, load_1min=loads,
               note="median of each side's interleaved repetitions")
    )
    checks.append(
        _check("gui_heartbeat_max_gap", max(gaps), "ms", 100.0, False, gaps_ms=gaps,
               median_gap_ms=statistics.median(gaps), idle_gaps_ms=idle, load_1min=loads,
               note="longest stall over all GUI runs")
    )
    checks.extend(_cuda_checks(data, quick))
    result["checks"] = checks
    result["load_average_end"] = machine_state()["load_average"]
    return result
