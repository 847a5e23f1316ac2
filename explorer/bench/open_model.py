"""`cnn-explorer bench open_model`: how long opening a model of one's own takes (issue 22).

A ResNet-50-sized network (torchvision's architecture, random weights: 25.6 M parameters,
98 MB of weights) is exported once as a ``torch.export`` program (``.pt2``) and written as a
Python class with its state dict; exporting and writing are not timed. Then each of
``repeats`` fresh processes (the median is reported) measures, from its own start:

- torch_import_s: ``import torch, torchvision``, the baseline every figure is beyond;
- pt2_open_graph_s: after that import, the guarded reader opens the ``.pt2`` (its facts
  and module: ``explorer.models.get_model_info`` and ``get_model``) and the graph is traced
  and its default view laid out, as the window's graph service does it: the check, at
  most 2 s;
- py_open_graph_s: the same for ``resnet_file.py:Net`` with the state dict loaded through
  the one loader (``explorer.loading.load_model``): reported beside it, no limit.

The load average at the start and the end is reported: the figures are meant for a
quiet machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def _child(program: str, code: str, state: str) -> None:
    """Run in a fresh process: print one JSON line of figures."""
    start = time.perf_counter()
    import torch  # noqa: F401 - the baseline
    import torchvision  # noqa: F401

    imported = time.perf_counter()
    from explorer.graph import build_named_graph, default_state, prepare_view
    from explorer.models import get_model, get_model_info

    info = get_model_info(program)
    module = get_model(program)
    graph = build_named_graph(program)
    prepare_view(graph, default_state(graph))
    pt2 = time.perf_counter()
    params = sum(p.numel() for p in module.parameters())

    from explorer.loading import load_model
    from explorer.models.python_file import allow_in_process
    from explorer.weights_choice import WeightsChoice

    allow_in_process(code)
    source = f"{code}:Net"
    loaded = load_model(source, WeightsChoice("file", path=state))
    graph_py = build_named_graph(source)
    prepare_view(graph_py, default_state(graph_py))
    done = time.perf_counter()
    print(json.dumps({"torch_import_s": imported - start, "pt2_open_graph_s": pt2 - imported,
                      "py_open_graph_s": done - pt2, "pt2_params": params, "pt2_nodes": len(graph.order),
                      "input_size": list(info.input_size), "py_weights": loaded.weights.kind}))


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    repeats = repeats or (1 if quick else 3)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cnn-explorer-bench-open-") as tmp:
        program, code, state = _write_models(Path(tmp))
        env = {**os.environ, "CNN_EXPLORER_CONFIG_DIR": str(Path(tmp) / "config"),
               "CNN_EXPLORER_CACHE_DIR": str(Path(tmp) / "cache")}
        runs = []
        for _ in range(repeats):
            out = subprocess.run([sys.executable, "-m", "explorer.bench.open_model", str(program), str(code), str(state)],
                                 capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"bench open child failed: {out.stderr.strip().splitlines()[-1:]}")
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        size_mb = program.stat().st_size / 1e6
    median = {key: statistics.median(r[key] for r in runs) for key in ("torch_import_s", "pt2_open_graph_s", "py_open_graph_s")}
    value = median["pt2_open_graph_s"]
    return {
        "suite": "open",
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "runs": runs,
        "checks": [
            {"name": "pt2_open_graph_s", "value": value, "unit": "s", "limit": LIMIT_S, "passed": value <= LIMIT_S,
             "note": f"ResNet-50 .pt2 ({size_mb:.0f} MB) opened and its graph drawn, beyond torch's import "
                     f"({median['torch_import_s']:.2f} s); median of {repeats}"},
            {"name": "py_open_graph_s", "value": median["py_open_graph_s"], "unit": "s", "limit": None,
             "passed": None, "note": "the same network as a .py class with its state dict"},
            {"name": "torch_import_s", "value": median["torch_import_s"], "unit": "s", "limit": None, "passed": None},
        ],
    }


if __name__ == "__main__":
    _child(*sys.argv[1:4])
