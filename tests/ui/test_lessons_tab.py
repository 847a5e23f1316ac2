"""The Lessons tab: the list of every lesson, a page per lesson (claim, figures, verdict,
tables, charts), links that move the session and bring a view to the front, and an
experiment's rerun (progress, the rerun beside the shipped result, Stop, a failure in one
line, closing mid-run)."""

from __future__ import annotations

import threading
import time
from unittest import mock

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

import explorer.lessons as lessons
from explorer.errors import UserError
from explorer.lessons.base import (
    Chart,
    Experiment,
    ExperimentStopped,
    Figure,
    Lesson,
    Link,
    Outcome,
    Series,
    Source,
    Table,
)
from explorer.session import Session
from explorer.ui.lessons.chart import LessonChart, log_ticks
from explorer.ui.lessons.view import LessonsView, load_lessons

LIVE_OUTCOME = Outcome(
    figures=(Figure("parameters of two 3x3 layers, C = 64", 73_728, 73_728, "weights"),
             Figure("receptive field", "5x5", "5x5")),
    verdict="Reproduced: two 3x3 layers see 5x5 with 72 % of the weights.",
    tables=(Table("stacks", ("kernels", "weights"), (("5x5", 102_400), ("3x3 + 3x3", 73_728))),),
    charts=(Chart("loss", "epoch", "loss", (Series("a", (1, 2, 3), (1.0, 0.0, 0.1)),), log_y=True),),
    notes=("C channels in and out.",),
)


def live_lesson(name: str = "fake-live", number: int = 1, demonstrate=None, links: tuple[Link, ...] = ()) -> Lesson:
    return Lesson(name=name, number=number, title=f"Fake live {number}", claim=f"Claim of {name}.",
                  sources=(Source("Simonyan & Zisserman 2015 (VGG)", "§2.3"),), paper_figure="Table 1",
                  look_at="Look at the weights column.", links=links,
                  demonstrate=demonstrate or (lambda: LIVE_OUTCOME))


def experiment_outcome(result: dict, rerun: dict | None = None) -> Outcome:
    series = [Series("accuracy", (1.0, 2.0), tuple(result["acc"]), shipped=rerun is not None)]
    if rerun is not None:
        series.append(Series("accuracy", (1.0, 2.0), tuple(rerun["acc"])))
    shown = rerun if rerun is not None else result
    return Outcome(figures=(Figure("test accuracy", shown["acc"][-1], 0.9),), verdict=f"ends at {shown['acc'][-1]}",
                   charts=(Chart("accuracy per epoch", "epoch", "accuracy", tuple(series)),))


def experiment_lesson(run, name: str = "fake-exp", number: int = 2) -> Lesson:
    return Lesson(name=name, number=number, title="Fake experiment", claim="Training shows it.",
                  sources=(Source("He et al. 2016 (ResNet)", "§4.1"),), paper_figure="Fig. 6",
                  look_at="The dashed curve is the shipped run.",
                  experiment=Experiment(run=run, outcome=experiment_outcome,
                                        command="cnn-explorer lessons run fake-exp --ship", budget_s=300))


SHIPPED = {"lesson": "fake-exp", "seconds": 212.0, "machine": "x86_64, Linux", "data": "Fashion-MNIST",
           "result": {"acc": [0.5, 0.8]}}


@pytest.fixture
def shipped(monkeypatch):
    """The fake experiment's shipped result (set ``shipped["document"] = None`` for none)."""
    state = {"document": SHIPPED}
    monkeypatch.setattr(lessons, "read_shipped", lambda name: state["document"] if name == "fake-exp" else None)
    return state


def make_view(qtbot, fakes: list[Lesson], session: Session | None = None) -> LessonsView:
    view = LessonsView(session or Session(), lambda: fakes, quick=True)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    return view


def wait_outcome(qtbot, view: LessonsView, name: str):
    page = view.show_lesson(name)
    qtbot.waitUntil(lambda: page.outcome_view.outcome is not None
                    or page.outcome_view.message.text() not in ("", "measuring…"), timeout=30_000)
    return page


# ----- the list and a page ---------------------------------------------------------------------


def test_the_list_shows_every_lesson_of_the_package(qtbot, monkeypatch):
    """Every lesson module that imports is listed, in order; when all do, that is
    ``all_lessons()``, and a page opens for each."""
    found, problems = load_lessons()
    view = LessonsView(Session())
    qtbot.addWidget(view)
    view.show()
    assert view.list.names == [lesson.name for lesson in found]
    if not problems:
        assert view.list.names == [lesson.name for lesson in lessons.all_lessons()]
    assert view.problems_label.isVisible() == bool(problems)
    for lesson in found:
        page = view.show_lesson(lesson.name)
        assert page.claim.text() == lesson.claim
        assert page.title.text() == f"{lesson.number}. {lesson.title}"
    view.stop()


def test_the_list_falls_back_to_the_lessons_that_import(monkeypatch):
    monkeypatch.setattr(lessons, "all_lessons", mock.Mock(side_effect=ImportError("no module")))
    monkeypatch.setattr(lessons, "MODULES", ("no_such_lesson_module",))
    found, problems = load_lessons()
    assert found == [] and len(problems) == 1 and problems[0].startswith("no_such_lesson_module: ")


def test_selecting_a_lesson_shows_its_claim_figures_verdict_tables_and_charts(qtbot, monkeypatch, shipped):
    fakes = [live_lesson(), experiment_lesson(lambda **_: {})]
    monkeypatch.setattr(lessons, "all_lessons", lambda: fakes)
    view = LessonsView(Session(), quick=True)  # the package's list, patched
    qtbot.addWidget(view)
    view.show()
    assert [view.list.item(row).text() for row in range(view.list.count())] == ["1. Fake live 1",
                                                                                 "2. Fake experiment"]
    assert view.list.item(1).data(Qt.ItemDataRole.UserRole + 1) == "trains"
    assert view.list.item(0).data(Qt.ItemDataRole.UserRole + 1) is None
    page = wait_outcome(qtbot, view, "fake-live")
    assert page.claim.text() == "Claim of fake-live."
    assert "Simonyan & Zisserman 2015 (VGG) §2.3" in page.sources.text() and "Table 1" in page.sources.text()
    figures = page.outcome_view.tables[0]
    assert [figures.item(0, c).text() for c in range(3)] == ["parameters of two 3x3 layers, C = 64",
                                                             "73,728 weights", "73,728 weights"]
    assert figures.item(0, 1).font().bold() and not figures.item(0, 2).font().bold()
    assert page.outcome_view.verdict_label.text() == LIVE_OUTCOME.verdict
    table = page.outcome_view.tables[1]
    assert (table.rowCount(), table.item(0, 1).text()) == (2, "102,400")
    chart = page.outcome_view.charts[0]
    assert chart.plot_item.getAxis("left").logMode  # log y, the zero drawn as a gap
    assert page.look_at.text() == "Look at the weights column."
    assert page.run_box is None
    view.list.setCurrentRow(1)
    assert view.current_page.lesson.name == "fake-exp"
    view.stop()


def test_a_live_outcome_is_measured_off_the_gui_thread_once(qtbot):
    threads = []

    def demonstrate() -> Outcome:
        threads.append(threading.current_thread())
        return LIVE_OUTCOME

    view = make_view(qtbot, [live_lesson(demonstrate=demonstrate), live_lesson("other", 2)])
    wait_outcome(qtbot, view, "fake-live")
    wait_outcome(qtbot, view, "other")
    wait_outcome(qtbot, view, "fake-live")
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    view.stop()


def test_a_lesson_that_fails_to_measure_says_so_in_one_line(qtbot):
    def demonstrate() -> Outcome:
        raise UserError("no weights for vgg16 here\nsecond line")

    messages = []
    session = Session()
    session.message.connect(messages.append)
    view = make_view(qtbot, [live_lesson(demonstrate=demonstrate)], session)
    page = wait_outcome(qtbot, view, "fake-live")
    assert page.outcome_view.message.text() == "Could not measure this lesson: no weights for vgg16 here"
    assert messages == ["Fake live 1: no weights for vgg16 here"]
    view.stop()


# ----- links -------------------------------------------------------------------------------------


def test_a_link_moves_the_session_and_brings_its_view_to_the_front(qtbot, monkeypatch, shipped):
    """Through the real window: the links switch the session's model and node and the tab;
    closing the window mid-run stops the run."""
    from explorer.settings import Settings
    from explorer.ui.main_window import MainWindow

    links = (Link("timemachine", "lenet_small", "LeNet's training over the epochs"),
             Link("tracer", "lenet_small", "LeNet's second conv", node="conv2"),
             Link("graph", "lenet", "the textbook LeNet's first conv", node="conv1"))
    started = threading.Event()
    monkeypatch.setattr(lessons, "all_lessons", lambda: [live_lesson(links=links),
                                                         experiment_lesson(looping_run(started))])
    win = MainWindow(Settings(), initial_model="lenet_small")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.lessons is not None and win.session.module is not None, timeout=120_000)
    win._tabs.setCurrentWidget(win.lessons)
    page = wait_outcome(qtbot, win.lessons, "fake-live")
    assert [b.text() for b in page.link_buttons] == ["Open in time machine: lenet_small",
                                                     "Open in receptive-field tracer: lenet_small, conv2",
                                                     "Open in graph: lenet, conv1"]
    with mock.patch.object(win.session, "set_model", wraps=win.session.set_model) as set_model, \
            mock.patch.object(win.session, "set_node", wraps=win.session.set_node) as set_node:
        qtbot.mouseClick(page.link_buttons[0], Qt.MouseButton.LeftButton)
        set_model.assert_called_once_with("lenet_small")
        set_node.assert_not_called()
        assert win._tabs.currentWidget() is win.training_panel
        assert win.training_panel.pages.currentWidget().isAncestorOf(win.training_panel.time_machine)

        win._tabs.setCurrentWidget(win.lessons)
        qtbot.mouseClick(page.link_buttons[1], Qt.MouseButton.LeftButton)
        set_node.assert_called_once_with("conv2")
        assert win.session.node == "conv2"
        assert win._tabs.currentIndex() == 0  # the Architecture tab
        assert win.feature_panel.detail_tabs.currentWidget().isAncestorOf(win.feature_panel.field)

        win._tabs.setCurrentWidget(win.lessons)
        qtbot.mouseClick(page.link_buttons[2], Qt.MouseButton.LeftButton)
        assert set_model.call_args_list[-1] == mock.call("lenet")
        assert set_node.call_args_list[-1] == mock.call("conv1")
    assert (win.session.model_name, win.session.node, win._tabs.currentIndex()) == ("lenet", "conv1", 0)
    qtbot.waitUntil(lambda: win.session.module is not None and win.feature_panel.settled
                    and win.feature_panel.current_node == "conv1", timeout=60_000)
    qtbot.waitUntil(lambda: win.graph_panel.scene.selected_unit() is not None, timeout=30_000)

    win._tabs.setCurrentWidget(win.lessons)
    run_page = wait_outcome(qtbot, win.lessons, "fake-exp")
    qtbot.mouseClick(run_page.run_box.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    run = win.lessons._run
    begin = time.monotonic()
    win.close()
    assert run.isFinished() and time.monotonic() - begin < 30


# ----- running an experiment again ----------------------------------------------------------------


def test_a_run_shows_progress_then_the_rerun_beside_the_shipped_result(qtbot, shipped):
    gate = threading.Event()

    def run(progress, quick, should_stop):
        assert quick
        progress(0.5, "accuracy: epoch 1/2")
        gate.wait(20)
        progress(1.0, "done")
        return {"acc": [0.6, 0.85]}

    view = make_view(qtbot, [experiment_lesson(run)])
    page = wait_outcome(qtbot, view, "fake-exp")
    assert page.outcome_view.message.text().startswith("The shipped result: trained in about 4 min")
    assert [curve.opts["pen"].style() for curve in page.outcome_view.charts[0].curves] == [Qt.PenStyle.SolidLine]
    box = page.run_box
    assert "about 5 min" in box.budget_label.text()
    qtbot.mouseClick(box.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.progress.value() == 500 and box.status.text() == "accuracy: epoch 1/2", timeout=10_000)
    assert box.progress.isVisible() and box.stop_button.isEnabled() and not box.run_button.isEnabled()
    with qtbot.waitSignal(view.run_ended, timeout=20_000) as ended:
        gate.set()
    assert ended.args == ["fake-exp", "done"]
    chart = page.outcome_view.charts[0]
    assert chart.labels == ["accuracy (shipped)", "accuracy"]
    assert [curve.opts["pen"].style() for curve in chart.curves] == [Qt.PenStyle.DashLine, Qt.PenStyle.SolidLine]
    assert list(chart.curves[1].yData) == [0.6, 0.85]
    assert page.outcome_view.tables[0].item(0, 1).text() == "0.85"
    assert page.outcome_view.message.text().startswith("Your run (")
    assert box.status.text().startswith("Done in ") and box.run_button.isEnabled() and not box.progress.isVisible()
    qtbot.waitUntil(lambda: view.running is None, timeout=10_000)
    # The rerun stays for the session: reopening the page shows it again.
    view.show_lesson("fake-exp")
    assert page.outcome_view.charts[0].labels == ["accuracy (shipped)", "accuracy"]
    view.stop()


def looping_run(started: threading.Event):
    def run(progress, quick, should_stop):
        for step in range(100_000):
            if should_stop():
                raise ExperimentStopped("stopped")
            progress(step / 100_000, f"step {step}")
            started.set()
            time.sleep(0.002)  # a training step
        return {"acc": [0.1, 0.2]}

    return run


def test_stop_says_stopped_and_keeps_the_shipped_result(qtbot, shipped):
    started = threading.Event()
    view = make_view(qtbot, [experiment_lesson(looping_run(started))])
    page = wait_outcome(qtbot, view, "fake-exp")
    shown = page.outcome_view.outcome
    qtbot.mouseClick(page.run_box.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    with qtbot.waitSignal(view.run_ended, timeout=20_000) as ended:
        qtbot.mouseClick(page.run_box.stop_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["fake-exp", "stopped"]
    assert page.run_box.status.text().startswith("Stopped")
    assert page.outcome_view.outcome is shown
    qtbot.waitUntil(lambda: view.running is None, timeout=10_000)
    assert page.run_box.run_button.isEnabled()
    view.stop()


def test_run_and_stop_keep_the_page_where_it_was_scrolled(qtbot, shipped):
    started = threading.Event()
    view = make_view(qtbot, [experiment_lesson(looping_run(started))])
    view.resize(1100, 300)  # a page taller than the view: it scrolls
    page = wait_outcome(qtbot, view, "fake-exp")
    view.activateWindow()
    bar = view._scrolls["fake-exp"].verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5_000)
    bar.setValue(0)
    page.run_box.run_button.setFocus()
    qtbot.mouseClick(page.run_box.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    page.run_box.stop_button.setFocus()
    with qtbot.waitSignal(view.run_ended, timeout=20_000):
        qtbot.mouseClick(page.run_box.stop_button, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    # Disabling the focused button handed the focus to a widget further down, and the page
    # jumped to it (walked in a real window); the box keeps it now.
    assert bar.value() == 0
    qtbot.waitUntil(lambda: view.running is None, timeout=10_000)
    view.stop()


@pytest.mark.parametrize(("error", "line"), [
    (UserError("no Fashion-MNIST in /nowhere: choose a data folder\n(File > Choose data folder…)"),
     "no Fashion-MNIST in /nowhere: choose a data folder"),
    (RuntimeError("boom"), "Fake experiment failed: RuntimeError: boom"),
])
def test_a_failed_run_is_one_line_on_the_page_and_in_the_status_bar(qtbot, shipped, error, line):
    def run(progress, quick, should_stop):
        raise error

    messages = []
    session = Session()
    session.message.connect(messages.append)
    view = make_view(qtbot, [experiment_lesson(run)], session)
    page = wait_outcome(qtbot, view, "fake-exp")
    with qtbot.waitSignal(view.run_ended, timeout=20_000) as ended:
        qtbot.mouseClick(page.run_box.run_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["fake-exp", "failed"]
    assert page.run_box.status.text() == f"Could not run: {line}"
    assert messages == [f"Fake experiment: {line}"]
    assert page.outcome_view.outcome is not None  # the shipped result stays
    view.stop()


def test_without_a_shipped_result_the_page_says_so_and_offers_the_run(qtbot, shipped):
    shipped["document"] = None
    view = make_view(qtbot, [experiment_lesson(lambda **_: {"acc": [0.4, 0.7]})])
    page = wait_outcome(qtbot, view, "fake-exp")
    assert page.outcome_view.outcome is None
    assert page.outcome_view.message.text().startswith("No shipped result yet")
    assert page.run_box.run_button.isEnabled()
    with qtbot.waitSignal(view.run_ended, timeout=20_000):
        qtbot.mouseClick(page.run_box.run_button, Qt.MouseButton.LeftButton)
    assert page.outcome_view.charts[0].labels == ["accuracy"]
    assert "no shipped result" in page.outcome_view.message.text()
    assert page.run_box.status.text().endswith("your run is drawn below.")
    view.stop()


def test_closing_the_window_mid_run_stops_the_run_without_hanging(qtbot, shipped):
    started = threading.Event()
    window = QWidget()
    qtbot.addWidget(window)
    view = LessonsView(Session(), lambda: [experiment_lesson(looping_run(started))], quick=True, parent=window)
    window.resize(900, 700)
    window.show()
    page = wait_outcome(qtbot, view, "fake-exp")
    qtbot.mouseClick(page.run_box.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    run = view._run
    begin = time.monotonic()
    view.close()  # what the main window's closeEvent does to its panels
    window.close()
    assert run.isFinished() and time.monotonic() - begin < 10


# ----- charts ------------------------------------------------------------------------------------


def test_a_chart_keeps_to_the_page_width_and_names_the_shipped_series(qtbot):
    chart = LessonChart(Chart("a long title " * 6, "epoch", "loss", tuple(
        Series(f"arm number {i}", (1.0, 2.0), (1.0, 0.5), shipped=i % 2 == 0) for i in range(6))))
    qtbot.addWidget(chart)
    chart.resize(360, 400)
    chart.show()
    qtbot.waitUntil(lambda: chart.legend is not None and chart.legend.columnCount == 1, timeout=5_000)
    assert chart.minimumSizeHint().width() <= 360
    assert chart.labels[0] == "arm number 0 (shipped)" and chart.labels[1] == "arm number 1"
    chart.resize(1100, 400)
    qtbot.waitUntil(lambda: chart.legend.columnCount >= 2, timeout=5_000)


def test_the_wheel_over_a_chart_goes_to_the_page_and_leaves_the_chart_as_drawn(qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    chart = LessonChart(Chart("loss", "epoch", "loss", (Series("arm", (1.0, 2.0, 3.0), (1.0, 0.5, 0.2)),)))
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.show()
    qtbot.waitExposed(chart)
    before = chart.plot_item.viewRange()
    centre = chart.plots.rect().center()
    wheel = QWheelEvent(QPointF(centre), QPointF(chart.plots.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(chart.plots.viewport(), wheel)
    assert chart.plot_item.viewRange() == before  # a plot under the pointer zoomed out (real window)
    assert not wheel.isAccepted()  # left to the page's scroll area, which scrolls


def test_a_log_axis_is_labelled_within_a_decade_and_across_decades():
    """pyqtgraph labels only whole decades: a loss from 2.29 to 2.52 had no label at all."""
    assert [label for _, label in log_ticks(np.array([2.2977, 2.5249, 0.0]))] == ["2.3", "2.4", "2.5"]
    assert [label for _, label in log_ticks(np.array([0.001, 3.0]))] == ["0.001", "0.01", "0.1", "1"]
    assert [label for _, label in log_ticks(np.array([1.0, 30.0]))] == ["1", "2", "5", "10", "20"]
    position, label = log_ticks(np.array([2.0, 2.0]))[0]
    assert (round(position, 6), label) == (round(np.log10(2.0), 6), "2")
