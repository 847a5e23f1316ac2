"""`cnn-explorer bench startup`: how long a first launch makes the user wait (issue 20).

Every figure is the median of ``repeats`` fresh processes, measured from process start:
the parent takes a wall-clock timestamp right before spawning a child and passes it on;
the child reports when each milestone happens (one JSON line on stdout per milestone,
with its own ``time.time()``), and the figure is the difference. The kinds of process
take turns within each repeat, so a burst of load from elsewhere hits them alike.

Each child runs off screen (``QT_QPA_PLATFORM=offscreen``) with settings, cache, data
home and torch cache in a fresh temporary folder: every launch is a first launch, opening
the app's default first model (``explorer.settings.DEFAULTS["last_model"]``), and a user's
state does not change the result.

Fields:
- qt_baseline_ms: an empty 1440x900 ``QMainWindow`` shown (its first paint done), with
  nothing of this package imported: what any PySide6 window costs on this machine now.
- window_ms: the app's ``MainWindow`` shown (its first paint done), through the real
  entry point (``explorer.app.main([])``).
- model_list_ms: the model picker populated and clickable (``picker.names`` non-empty,
  the picker visible and enabled, the window shown).
- first_graph_ms: the graph panel has drawn its first graph (``graph_panel.graph`` set,
  its scene populated with nodes and no population step pending), one event-loop turn
  later so that the paint has happened.
- first_maps_ms: the feature panel shows live maps of the session's model, as the window
  tests' ``settle()`` decides it (module built, panel settled, its view of that model).
- cli_models_ms: ``cnn-explorer models --json`` (``python -m explorer``), wall time.
- torch_import_ms: ``python -c "import torch, torchvision"``, wall time.
- window_detail_ms (diagnostic, no limit): when the window child had done its imports
  (``constructing``) and built the ``MainWindow`` (``constructed``).

Limits (checks): model list <= 3x qt_baseline_ms and <= 1000 ms; first graph <= 1500 ms;
cli_models_ms <= 0.3x torch_import_ms; first maps <= torch_import_ms + 1000 ms. They are
meant for a quiet machine: the load average at the start and the end is reported.

This module imports neither torch nor Qt in the measuring process; the window child
(``python -m explorer.bench.startup --child T0``) imports what the app imports.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any

MARK = "cnn-explorer-startup"  # the key of the milestone lines a child prints
MILESTONES = ("window", "model_list", "first_graph", "first_maps")
FIELDS = ("qt_baseline_ms", "window_ms", "model_list_ms", "first_graph_ms", "first_maps_ms",
          "cli_models_ms", "torch_import_ms")
CHILD_TIMEOUT_S = 240.0  # a first launch with torch on a loaded 2-core machine: ~30 s

# The baseline: the same "shown" as the app's window (first paint, then one event-loop
# turn), without importing anything of this package.
QT_BASELINE = r"""
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer, qVersion
from PySide6.QtWidgets import QApplication, QMainWindow
import PySide6
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setWindowTitle("baseline")
window.resize(1440, 900)
done = []
def mark():
    if not done:
        done.append(1)
        print(json.dumps({"MARK_KEY": "window", "t": time.time(), "qt": qVersion(),
                          "pyside": PySide6.__version__}), flush=True)
        app.quit()
class Painted(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not done:
            QTimer.singleShot(0, mark)
        return False
painted = Painted()
window.installEventFilter(painted)
window.show()
QTimer.singleShot(60000, app.quit)
app.exec()
""".replace("MARK_KEY", MARK)


def _child_env(home: str) -> dict[str, str]:
    """The environment of a first launch: no CNN_EXPLORER_* setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNN_EXPLORER_")}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        CNN_EXPLORER_CONFIG_DIR=os.path.join(home, "config"),
        CNN_EXPLORER_CACHE_DIR=os.path.join(home, "cache"),
        CNN_EXPLORER_DATA_HOME=os.path.join(home, "data-home"),
        TORCH_HOME=os.path.join(home, "torch"),
    )
    return env


def _spawn(argv: list[str], timeout_s: float = CHILD_TIMEOUT_S) -> tuple[float, float, int, str, str]:
    """Run ``argv`` in a fresh temporary home: (spawn timestamp, wall seconds, return code,
    stdout, stderr's tail). A child past ``timeout_s`` is killed with its process group."""
    with tempfile.TemporaryDirectory(prefix="cnn-explorer-startup-") as home:
        env = _child_env(home)
        t0 = time.time()
        argv = [a.replace("{T0}", repr(t0)) for a in argv]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=home, start_new_session=(os.name == "posix"))
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            out, err = proc.communicate()
        wall = time.perf_counter() - start
    return t0, wall, proc.returncode, out, (err or "")[-1500:]


def _marks(out: str) -> dict[str, dict]:
    """The milestone lines a child printed, by milestone (the first of each)."""
    marks: dict[str, dict] = {}
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get(MARK) and record[MARK] not in marks:
            marks[record[MARK]] = record
    return marks


def _ms(t0: float, record: dict | None) -> float | None:
    return None if record is None else round((record["t"] - t0) * 1000, 1)


def qt_baseline() -> dict[str, Any]:
    t0, _, code, out, err = _spawn([sys.executable, "-c", QT_BASELINE])
    mark = _marks(out).get("window")
    return {"ms": _ms(t0, mark), "qt": (mark or {}).get("qt"), "pyside": (mark or {}).get("pyside"),
            "error": None if mark else f"exit {code}: {err.strip()[-300:]}"}


def app_window() -> dict[str, Any]:
    t0, _, code, out, err = _spawn([sys.executable, "-m", "explorer.bench.startup", "--child", "{T0}"])
    marks = _marks(out)
    result: dict[str, Any] = {f"{m}_ms": _ms(t0, marks.get(m)) for m in MILESTONES}
    for m in ("constructing", "constructed"):
        result[f"{m}_ms"] = _ms(t0, marks.get(m))
    result["model"] = (marks.get("first_maps") or marks.get("first_graph") or {}).get("model")
    missing = [m for m in MILESTONES if m not in marks]
    result["error"] = f"no {', '.join(missing)} (exit {code}): {err.strip()[-300:]}" if missing else None
    return result


def wall_ms(argv: list[str]) -> tuple[float | None, str | None]:
    _, wall, code, _out, err = _spawn(argv)
    if code != 0:
        return None, f"{' '.join(argv[1:])}: exit {code}: {err.strip()[-300:]}"
    return round(wall * 1000, 1), None


def cli_models() -> tuple[float | None, str | None]:
    return wall_ms([sys.executable, "-m", "explorer", "models", "--json"])


def torch_import() -> tuple[float | None, str | None]:
    return wall_ms([sys.executable, "-c", "import torch, torchvision"])


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _load() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _check(name: str, value: float | None, unit: str, limit: float | None, **extra: Any) -> dict:
    passed = None if value is None or limit is None else bool(value <= limit)
    return {"name": name, "value": value, "unit": unit, "limit": limit, "passed": passed, **extra}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def checks(f: dict[str, float | None]) -> list[dict]:
    """The issue's limits, each a value against its limit (a ratio where the limit is one)."""
    maps_over = (None if f["first_maps_ms"] is None or f["torch_import_ms"] is None
                 else round(f["first_maps_ms"] - f["torch_import_ms"], 1))
    return [
        _check("model_list_vs_qt_baseline", _ratio(f["model_list_ms"], f["qt_baseline_ms"]), "x", 3.0,
               note="model list / empty QMainWindow"),
        _check("model_list_ms", f["model_list_ms"], "ms", 1000.0, ratio=_ratio(f["model_list_ms"], 1000.0)),
        _check("first_graph_ms", f["first_graph_ms"], "ms", 1500.0, ratio=_ratio(f["first_graph_ms"], 1500.0)),
        _check("cli_models_vs_torch_import", _ratio(f["cli_models_ms"], f["torch_import_ms"]), "x", 0.3,
               note="`models --json` / `import torch, torchvision`"),
        _check("first_maps_after_torch_import_ms", maps_over, "ms", 1000.0,
               ratio=_ratio(f["first_maps_ms"], None if f["torch_import_ms"] is None else f["torch_import_ms"] + 1000),
               note="first maps - torch import; ratio: first maps / (torch import + 1 s)"),
    ]


def run(quick: bool = False, repeats: int | None = None) -> dict:
    from explorer.settings import DEFAULTS  # no torch, no Qt

    repeats = repeats or (1 if quick else 5)
    load_start = _load()
    samples: dict[str, list] = {field: [] for field in FIELDS}
    errors: list[str] = []
    window_detail: dict[str, list] = {"constructing_ms": [], "constructed_ms": []}
    models: set[str] = set()
    qt_version = pyside = None
    for _ in range(repeats):
        base = qt_baseline()
        samples["qt_baseline_ms"].append(base["ms"])
        qt_version, pyside = base["qt"] or qt_version, base["pyside"] or pyside
        win = app_window()
        for m in MILESTONES:
            samples[f"{m}_ms"].append(win[f"{m}_ms"])
        for m in ("constructing", "constructed"):
            window_detail[f"{m}_ms"].append(win[f"{m}_ms"])
        if win["model"]:
            models.add(win["model"])
        ms, cli_error = cli_models()
        samples["cli_models_ms"].append(ms)
        ms, torch_error = torch_import()
        samples["torch_import_ms"].append(ms)
        errors += [e for e in (base["error"], win["error"], cli_error, torch_error) if e]
    figures = {field: _median(samples[field]) for field in FIELDS}
    found = checks(figures)
    first = DEFAULTS["last_model"]
    if models - {first}:
        errors.append(f"the window opened {sorted(models)}, not the default first model {first}")
    return {
        "suite": "startup", "quick": quick, "repeats": repeats,
        **figures,
        "limits": {c["name"]: c["passed"] for c in found},
        "first_model": first,
        "samples_ms": samples,
        # Diagnostics: the window child's imports done / MainWindow built (medians).
        "window_detail_ms": {k: _median(v) for k, v in window_detail.items()},
        "load_average": {"start": load_start, "end": _load()},
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "qt": qt_version,
        "pyside6": pyside or _version("PySide6-Essentials") or _version("PySide6"),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "errors": errors,
        "checks": found,
    }


# ----- the window child --------------------------------------------------------------------

def _window_child(t0: float) -> int:
    """Open the app as a user does (``explorer.app.main([])``) and print one JSON line per
    milestone; close once all are seen (or after CHILD_TIMEOUT_S)."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from explorer import app
    from explorer.ui import main_window

    seen: dict[str, float] = {}

    def report(name: str, **extra: Any) -> None:
        if name not in seen:
            seen[name] = time.time()
            print(json.dumps({MARK: name, "t": seen[name], "since_t0_ms": round((seen[name] - t0) * 1000, 1),
                              **extra}), flush=True)

    class Probe(QObject):
        """Watches one window: its first paint, then the other milestones every 5 ms."""

        def __init__(self, window) -> None:
            super().__init__(window)
            self.window = window
            self.painted = False
            self.pending: set[str] = set()
            window.installEventFilter(self)
            self.timer = QTimer(self)
            self.timer.setInterval(5)
            self.timer.timeout.connect(self.poll)
            self.timer.start()
            QTimer.singleShot(int(CHILD_TIMEOUT_S * 1000) - 10_000, self.finish)

        def eventFilter(self, obj, event) -> bool:
            if obj is self.window and event.type() == QEvent.Type.Paint and not self.painted:
                self.painted = True
                self.later("window")
            return False

        def later(self, name: str) -> None:
            """Report ``name`` one event-loop turn from now (after the paint in progress)."""
            if name not in self.pending:
                self.pending.add(name)
                QTimer.singleShot(0, lambda: report(name, model=self.window.session.model_name
                                                    or self.window._initial_model))

        def poll(self) -> None:
            w = self.window
            if "window" not in seen:
                return
            if w.picker.names and w.picker.isVisible() and w.picker.isEnabled() and w.picker.tree.isEnabled():
                report("model_list", models=len(w.picker.names))
            panel = w.graph_panel
            if (panel is not None and panel.graph is not None and panel.scene.nodes
                    and getattr(panel, "_populating", None) is None):
                self.later("first_graph")
            fp, session = w.feature_panel, w.session
            if (fp is not None and session.module is not None and fp.settled and fp.view_state is not None
                    and fp.view_state.model_name == session.model_name):
                report("first_maps", model=session.model_name)
            if all(m in seen for m in MILESTONES):
                self.finish()

        def finish(self) -> None:
            self.timer.stop()
            self.window.close()
            QApplication.instance().quit()

    class Probed(main_window.MainWindow):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            report("constructing")  # imports done (diagnostic: not a figure)
            super().__init__(*args, **kwargs)
            report("constructed")
            self._startup_probe = Probe(self)

    main_window.MainWindow = Probed  # ui.launch.open_window imports it from the module when it runs
    return app.main([])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        raise SystemExit(_window_child(float(sys.argv[2])))
    raise SystemExit("usage: python -m explorer.bench.startup --child SPAWN_TIMESTAMP "
                     "(cnn-explorer bench startup runs the benchmark)")
