"""fx patches nn.Module.__call__ and __getattr__ for the whole process while it traces;
the window traces copies of the model in worker threads while the stepper runs it in
another. A model run meanwhile on another thread runs eagerly, and traces never overlap."""

from __future__ import annotations

import threading

import torch
from torch import nn

from explorer.graph.tracer import fx_trace


class _Gate(nn.Module):
    """A conv whose forward calls ``during_trace`` (on the tracing thread, mid-trace)."""

    def __init__(self, during_trace) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.during_trace = during_trace

    def forward(self, x):
        self.during_trace()
        return self.conv(x)


def test_a_model_run_on_another_thread_mid_trace_runs_eagerly():
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()).eval()
    x = torch.randn(1, 1, 8, 8)
    seen: dict = {}

    def run_other() -> None:
        try:
            seen["out"] = other(x)
        except Exception as exc:  # noqa: BLE001 - the test reports what the thread raised
            seen["error"] = exc

    def during_trace() -> None:
        thread = threading.Thread(target=run_other)
        thread.start()
        thread.join()

    graph = fx_trace(_Gate(during_trace))
    assert "error" not in seen, seen.get("error")
    assert torch.equal(seen["out"], other(x))
    assert [n.op for n in graph.nodes] == ["placeholder", "call_module", "output"]


def test_traces_on_two_threads_do_not_overlap_and_leave_modules_unpatched():
    original_call, original_getattr = nn.Module.__call__, nn.Module.__getattr__
    second_tracing, first_done = threading.Event(), threading.Event()
    graphs: dict = {}

    def in_second() -> None:
        second_tracing.set()
        first_done.wait(timeout=1.0)  # overlapping, it would outlive the first trace

    def trace_second() -> None:
        graphs["second"] = fx_trace(_Gate(in_second))

    second = threading.Thread(target=trace_second)

    def in_first() -> None:
        second.start()
        second_tracing.wait(timeout=1.0)  # one at a time: the second waits for the lock

    graphs["first"] = fx_trace(_Gate(in_first))
    first_done.set()
    second.join()
    assert nn.Module.__call__ is original_call and nn.Module.__getattr__ is original_getattr
    assert all(len(list(g.nodes)) == 3 for g in graphs.values())
