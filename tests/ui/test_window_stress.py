"""Lifetimes under stress: windows opened and closed, and models switched hundreds of
times through the picker while builds, graph requests and stepping workers are in flight.
Any Qt warning or exception in a slot (an "already deleted" C++ object) fails the test."""

from __future__ import annotations

import time

import shiboken6

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from explorer.settings import Settings
from explorer.ui.main_window import MainWindow

MODELS = ("lenet_small", "alexnet_small", "resnet18_small", "lenet5", "nin_small", "vgg11_small")
WINDOWS = 4
SWITCHES_PER_WINDOW = 75


def test_rapid_switching_and_closing_with_workers_in_flight(qtbot, qt_warnings):
    start = time.monotonic()
    switches = 0
    for round_ in range(WINDOWS + 1):
        win = MainWindow(Settings(), initial_model=MODELS[round_ % len(MODELS)])
        if round_ % 2 == 0:
            qtbot.addWidget(win)  # the others are deleted by the test itself
        win.show()
        with qtbot.waitSignal(win.ready, timeout=120_000):
            pass
        tree = win.picker.tree
        for i in range(SWITCHES_PER_WINDOW):
            name = MODELS[(i * 5 + round_) % len(MODELS)]
            qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=win.picker.row_rect(name).center())
            assert win.session.model_name == name
            assert win.feature_panel.model_label.text() == name
            view = win.feature_panel.view_state
            assert view is None or view.model_name == name  # never the maps of another model
            if i % 3 == 0:
                qtbot.keyClick(win.feature_panel, Qt.Key.Key_Right)
            QApplication.processEvents()
            switches += 1
        if round_ % 2 == 1:
            _close_when_the_graph_arrives(qtbot, win)
            continue
        if round_ == WINDOWS:
            # The last window settles: the view and the graph agree on the final model.
            name = win.session.model_name
            qtbot.waitUntil(lambda: win.feature_panel.settled and win.graph_panel.graph is not None
                            and win.graph_panel.graph.name == name, timeout=60_000)
            assert win.feature_panel.view_state.model_name == name
        win.close()  # with builds and stepping still running in all but the last round
        win.deleteLater()
        qtbot.wait(20)  # deferred deletions and late signals land now, on deleted objects
    assert switches == (WINDOWS + 1) * SWITCHES_PER_WINDOW
    assert time.monotonic() - start < 120


def _close_when_the_graph_arrives(qtbot, win: MainWindow) -> None:
    """Close and delete ``win`` in the same turn of the event loop as the reply carrying its
    graph: the panel has just deferred parsing it, and that deferred call must die with it."""
    from explorer.ui.graph.worker import GraphWorkerClient

    client = GraphWorkerClient.shared()
    closed: list[bool] = []

    def on_reply(reply: dict) -> None:
        graph = reply.get("graph") or {}
        if not closed and graph.get("name") == win.session.model_name:
            closed.append(True)
            win.close()
            shiboken6.delete(win)  # gone now, not at the next turn of the loop

    client.replied.connect(on_reply)
    try:
        qtbot.waitUntil(lambda: bool(closed), timeout=60_000)
        qtbot.wait(50)  # the deferred parse would run now, on a deleted panel
    finally:
        client.replied.disconnect(on_reply)
