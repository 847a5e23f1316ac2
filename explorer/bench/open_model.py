"""`cnn-explorer bench open_model`: how long opening a model of one's own takes (issue 22).

A ResNet-50-sized network (torchvision's architecture, random weights: 25.6 M parameters,
98 MB of weights) is exported once as a ``torch.export`` program (``.pt2``) and written as a
Python class with its state dict; exporting and writing are not timed. Then each of
``repeats`` fresh processes (the median is reported) measures, from its own start:

- torch_import_s: ``import torch, torchvision``, the baseline every figure is beyond;
- pt2_open_graph_s: after that import, the ``.pt2`` opened as the window opens it, in its
  two processes, one after the other: the window's loader reads its facts and module
  (``explorer.loading.load_model``), then the graph service, which reads the file for
  itself, traces the graph and lays its default view out (``GraphService.handle``), and
  its JSON reply is read back as the window reads it: the check, at most 2 s. The window
  asks the service as the load starts, so the two overlap there; here they add up. Drawing
  the laid-out view on the canvas is Qt's part, measured by ``bench graph`` for the zoo;
- pt2_load_s and pt2_graph_s: the two parts of it;
- py_open_graph_s: the same for ``resnet_file.py:Net`` with its state dict: reported
  beside it, no limit.

The load average at the start and the end is reported: the figures are meant for a
quiet machine.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from explorer.bench import child_result

LIMIT_S = 2.0
CHILD_TIMEOUT_S = 600.0
PY_SOURCE = '''import torchvision


class Net(torchvision.models.ResNet):
    """torchvision's ResNet-50, as a user's own class."""

    def __init__(self):
        super().__init__(torchvision.models.resnet.Bottleneck, [3, 4, 6, 3])
'''


def _write_models(folder: Path) -> tuple[Path, Path, Path]:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    program = folder / "resnet50.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 224, 224),)), program)
    code = folder / "resnet_file.py"
    code.write_text(PY_SOURCE)
    state = folder / "resnet_file.pt"
    torch.save(model.state_dict(), state)
    return program, code, state


def _open_as_the_window_does(source: str, weights: Any = None) -> tuple[float, float, int, int]:
    """(load seconds, graph seconds, parameters, graph nodes) for opening ``source``."""
    from explorer.graph import Layout, ModelGraph, ViewGraph
    from explorer.graph.service import GraphService
    from explorer.loading import load_model
    from explorer.models.sources import forget_read_files

    start = time.perf_counter()
    loaded = load_model(source, weights)
    loaded_at = time.perf_counter()
    forget_read_files()  # the graph service is another process: it reads the file itself
    reply = json.loads(json.dumps(GraphService().handle({"id": 1, "op": "open", "name": source, "kwargs": {}})))
    if not reply["ok"]:
        raise RuntimeError(reply["error"])
    graph = ModelGraph.from_dict(reply["graph"])  # as the window reads the reply
    ViewGraph.from_dict(reply["view"])
    Layout.from_dict(reply["layout"])
    done = time.perf_counter()
    return loaded_at - start, done - loaded_at, sum(p.numel() for p in loaded.module.parameters()), len(graph.order)


def _child(program: str, code: str, state: str) -> None:
    """Run in a fresh process: print one JSON line of figures."""
    start = time.perf_counter()
    import torch  # noqa: F401 - the baseline
    import torchvision  # noqa: F401

    imported = time.perf_counter()
    # As in the graph service's process (explorer/graph/service.py): igraph may not import
    # matplotlib for plotting it never does.
    sys.modules.setdefault("matplotlib", None)
    load_s, graph_s, params, nodes = _open_as_the_window_does(program)

    from explorer.models.python_file import allow_in_process
    from explorer.weights_choice import WeightsChoice

    allow_in_process(code)
    py_load_s, py_graph_s, _, _ = _open_as_the_window_does(f"{code}:Net", WeightsChoice("file", path=state))
    print(json.dumps({"torch_import_s": imported - start, "pt2_open_graph_s": load_s + graph_s,
                      "pt2_load_s": load_s, "pt2_graph_s": graph_s, "py_open_graph_s": py_load_s + py_graph_s,
                      "pt2_params": params, "pt2_nodes": nodes}))


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    repeats = repeats or (1 if quick else 3)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cnn-explorer-bench-open-") as tmp:
        program, code, state = _write_models(Path(tmp))
        runs = [child_result("open_model", [str(program), str(code), str(state)], tmp, CHILD_TIMEOUT_S)
                for _ in range(repeats)]
        size_mb = program.stat().st_size / 1e6
    median = {key: statistics.median(r[key] for r in runs) for key in ("torch_import_s", "pt2_open_graph_s", "pt2_load_s", "pt2_graph_s",
                                                                 "py_open_graph_s")}
    value = median["pt2_open_graph_s"]
    return {
        "suite": "open",
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "runs": runs,
        "checks": [
            {"name": "pt2_open_graph_s", "value": value, "unit": "s", "limit": LIMIT_S, "passed": value <= LIMIT_S,
             "note": f"ResNet-50 .pt2 ({size_mb:.0f} MB) opened and its graph drawn, beyond torch's import "
                     f"({median['torch_import_s']:.2f} s): the window's load {median['pt2_load_s']:.2f} s, then "
                     f"the graph service's read, trace and layout {median['pt2_graph_s']:.2f} s; median of {repeats}"},
            {"name": "py_open_graph_s", "value": median["py_open_graph_s"], "unit": "s", "limit": None,
             "passed": None, "note": "the same network as a .py class with its state dict"},
            {"name": "torch_import_s", "value": median["torch_import_s"], "unit": "s", "limit": None, "passed": None},
        ],
    }


if __name__ == "__main__":
    _child(*sys.argv[1:4])
