"""Cyclic garbage is collected on the GUI thread only, as gc would have collected it."""

from __future__ import annotations

import gc
import threading

from PySide6.QtWidgets import QApplication, QWidget

from explorer.ui.main_thread_gc import collect_on_main_thread


def test_garbage_with_qt_wrappers_is_collected_on_the_gui_thread_only(qtbot):
    collector = collect_on_main_thread(QApplication.instance())
    assert collect_on_main_thread(QApplication.instance()) is collector  # installed once
    assert not gc.isenabled()
    collected_in: list[str] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self
            self.widget = QWidget()

        def __del__(self) -> None:
            collected_in.append(threading.current_thread().name)

    Cycle()

    def allocate_in_a_thread() -> None:
        # Enough allocations to cross every threshold: automatic gc would collect here.
        junk = [[i] for i in range(200_000)]
        del junk

    thread = threading.Thread(target=allocate_in_a_thread, name="worker")
    thread.start()
    thread.join()
    assert collected_in == []
    qtbot.waitUntil(lambda: bool(collected_in), timeout=5000)  # the collector's timer did it
    assert collected_in == ["MainThread"]
