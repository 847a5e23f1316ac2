"""Cyclic garbage is collected on the GUI thread only, as gc would have collected it."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QTimer
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

    kept: list = []

    def allocate_in_a_thread() -> None:
        # Enough live allocations to cross gen 0's threshold: automatic gc would collect here.
        kept.extend([i] for i in range(200_000))

    thread = threading.Thread(target=allocate_in_a_thread, name="worker")
    thread.start()
    thread.join()
    assert collected_in == []
    timer = collector.findChild(QTimer)
    assert timer is not None and timer.isActive()
    collector.collect_due()  # what its timer does on the GUI thread
    assert collected_in == ["MainThread"]
