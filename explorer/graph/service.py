"""The graph service: a subprocess that traces and lays out graphs, so the window never stalls.

Its Qt client is ``explorer.ui.graph.worker.GraphWorkerClient``.

Pure-Python graph work holds the interpreter lock even in a thread (8 s of it in a
QThread stalled the GUI thread for 294 ms at a time; in a subprocess, 9 ms). The window
starts ``python -m explorer.graph.service --serve`` once and talks JSON lines over
stdin/stdout:

    request:  {"id": 1, "op": "open", "name": "resnet50", "kwargs": {}, "state": null}
    reply:    {"id": 1, "ok": true, "graph": {...}, "view": {...}, "layout": {...}, "timings": {...}}
    request:  {"id": 2, "op": "view", "name": "resnet50", "kwargs": {}, "state": {...}}
    reply:    {"id": 2, "ok": true, "view": {...}, "layout": {...}, "timings": {...}}
    request:  {"id": 3, "op": "prepare", "name": "/home/ann/net.pt2", "kwargs": {}}
    reply:    {"id": 3, "ok": true, "timings": {...}}   (traced and kept for the "open" to come)
    failure:  {"id": n, "ok": false, "error": "one line for the user"}

``python -m explorer.graph.service NAME [--kwargs-json JSON] [--expand all|blocks]``
answers one request and exits.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sys
import time
import traceback
from typing import Any

from explorer.errors import UserError
from explorer.graph import ViewState, default_state, expanded_state, prepare_view
from explorer.graph.stored import named_graph
from explorer.models.sources import source_stamp


class GraphService:
    """Builds graphs by name and keeps the last few for later view changes.

    A zoo model with default builder options is read from its shipped snapshot (no torch
    import, milliseconds); anything else is traced, and the traced graph is cached on disk
    under the same key (``explorer/snapshots.py``), so the next start reads it too.
    """

    def __init__(self, keep: int = 4, *, freeze: bool = False) -> None:
        self._cache: dict[str, Any] = {}
        self._keep = keep
        self._freeze = freeze
        self.notice: str | None = None

    def _graph(self, name: str, kwargs: dict[str, Any]) -> tuple[Any, float]:
        # A user's file is keyed by its stamp too: a changed file is traced again.
        key = json.dumps([name, kwargs, source_stamp(name)], sort_keys=True)
        if key in self._cache:
            return self._cache[key], 0.0
        start = time.perf_counter()
        first = "torch" not in sys.modules
        graph, notice = named_graph(name, kwargs)
        if notice:
            self.notice = notice
        if first and "torch" in sys.modules and self._freeze:
            # torch and the model zoo are ~200,000 long-lived objects: otherwise a full
            # collection that happens to start during a later trace scans them all (300 ms
            # seen on a loaded 2-core machine) although none of them will ever be garbage.
            gc.collect()
            gc.freeze()
        elapsed = time.perf_counter() - start
        self._cache[key] = graph
        while len(self._cache) > self._keep:
            self._cache.pop(next(iter(self._cache)))
        return graph, elapsed

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.notice = None
        reply: dict[str, Any] = {"id": request.get("id")}
        try:
            op = request.get("op", "open")
            if op not in ("open", "view", "prepare"):
                raise UserError(f"unknown request {op!r}")
            name = request["name"]
            kwargs = request.get("kwargs") or {}
            graph, trace_s = self._graph(name, kwargs)
            if op == "prepare":
                reply.update(ok=True, timings={"trace_s": trace_s})
                return reply
            state_data = request.get("state")
            if state_data == "all":
                state = expanded_state(graph)
            else:
                state = ViewState.from_dict(state_data) if state_data else default_state(graph)
            if request.get("direction"):  # an opening view in the direction the window uses
                state = dataclasses.replace(state, direction=str(request["direction"]))
            start = time.perf_counter()
            view, layout = prepare_view(graph, state)
            layout_s = time.perf_counter() - start
            reply.update(ok=True, view=view.to_dict(), layout=layout.to_dict(),
                         timings={"trace_s": trace_s, "layout_s": layout_s})
            if op == "open":
                reply["graph"] = graph.to_dict()
            if self.notice:
                reply["notice"] = self.notice
        except UserError as exc:
            reply.update(ok=False, error=str(exc))
        except Exception as exc:  # report, keep serving
            traceback.print_exc(file=sys.stderr)
            reply.update(ok=False, error=f"internal error while preparing the graph: {exc!r}")
        return reply


def serve(stdin: Any = None, stdout: Any = None, *, freeze: bool = False) -> int:
    """Answer JSON-line requests until stdin closes.

    Args:
        stdin, stdout: the streams (default: the process's own).
        freeze: move every object alive after start-up out of the garbage collector's
            reach (``gc.freeze``); for the service process, not for a caller's.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    service = GraphService(freeze=freeze)
    if hasattr(os, "nice"):
        # Background work: when cores are scarce the window's thread should win them.
        try:
            os.nice(5)
        except OSError:
            pass
    # Ready at once: a zoo model's graph comes from its snapshot without torch, which is
    # imported by the first request that has to trace.
    stdout.write(json.dumps({"id": None, "ok": True, "ready": True}) + "\n")
    stdout.flush()
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except ValueError:
            reply = {"id": None, "ok": False, "error": "malformed request"}
        else:
            reply = service.handle(request)
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.graph.service")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--kwargs-json", default="{}")
    parser.add_argument("--expand", choices=("blocks", "all"), default="blocks")
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args(argv)
    if args.serve:
        return serve(freeze=True)
    if not args.name:
        parser.error("NAME or --serve is required")
    try:
        kwargs = json.loads(args.kwargs_json)
    except ValueError:
        print(json.dumps({"ok": False, "error": "--kwargs-json is not valid JSON"}))
        return 1
    reply = GraphService().handle({"id": 0, "op": "open", "name": args.name, "kwargs": kwargs,
                                   "state": "all" if args.expand == "all" else None})
    print(json.dumps(reply))
    return 0 if reply["ok"] else 1


if __name__ == "__main__":
    # This process lays graphs out and never draws a chart: keep igraph from importing
    # matplotlib for its optional plotting (0.6 s of the first graph's start-up).
    sys.modules.setdefault("matplotlib", None)
    raise SystemExit(main())
