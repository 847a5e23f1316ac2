"""fx patches process-wide state while tracing: traces from several threads must not mix."""

from __future__ import annotations

import threading

from explorer.graph.tracer import fx_trace
from explorer.models import get_model


def test_traces_in_parallel_threads_all_succeed():
    models = [get_model("resnet18_small"), get_model("vgg11_small"), get_model("lenet_small")]
    expected = [len(fx_trace(m).nodes) for m in models]
    errors: list[BaseException] = []
    counts: list[tuple[int, int]] = []

    def work(i: int) -> None:
        try:
            for _ in range(4):
                counts.append((i, len(fx_trace(models[i]).nodes)))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(models))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:1]
    assert sorted(counts) == sorted((i, expected[i]) for i in range(len(models)) for _ in range(4))


def test_a_model_runs_in_another_thread_while_one_is_traced():
    import torch

    traced = get_model("densenet121_small")  # a long trace, so the two overlap
    runner = get_model("vgg11_small").eval()
    x = torch.randn(1, 1, 28, 28)
    with torch.no_grad():
        expected = runner(x)
    errors: list[BaseException] = []
    tracing = threading.Event()
    done = threading.Event()

    def trace_many() -> None:
        tracing.set()
        for _ in range(3):
            fx_trace(traced)
        done.set()

    def run_meanwhile() -> None:
        tracing.wait(30)
        try:
            with torch.no_grad():
                while not done.is_set():
                    assert torch.equal(runner(x), expected)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=trace_many), threading.Thread(target=run_meanwhile)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:1]
