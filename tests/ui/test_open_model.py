"""Opening the user's own networks in the window: File > Open model… and drops of a .pt2 or
.py file, the trust prompt, Open Recent, the model list's torchvision and "Your models"
groups, start-up with a remembered file, and a failure that keeps the model shown."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path
from unittest import mock

import pytest
import torch
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QInputDialog, QMessageBox, QPushButton

from explorer.models.sources import USER_FAMILY, make_source
from explorer.session import Session, WeightsChoice
from explorer.settings import DEFAULTS, Settings
from explorer.ui.main_window import MainWindow
from explorer.ui.open_model import RUN_BUTTON, TRUST_TITLE, trust_prompt
from explorer.ui.recent_models import RecentModels, file_stamp
from tests.models.user_models import write_program, write_python_model

SHOTS = Path(os.environ.get("UI_SCREENSHOTS", "/tmp"))


@pytest.fixture(autouse=True)
def fresh_trust():
    """Each test starts as a fresh app: no file allowed in this process."""
    from explorer.models.python_file import _forget_in_process

    _forget_in_process()
    yield
    _forget_in_process()


@pytest.fixture(autouse=True)
def no_unanswered_questions(monkeypatch):
    """A question a test does not answer would wait forever offscreen: it fails instead."""
    def unexpected(*args):
        raise AssertionError(f"unexpected question: {args[1:3]}")

    monkeypatch.setattr(QInputDialog, "getItem", unexpected)
    monkeypatch.setattr(QInputDialog, "getText", unexpected)
    monkeypatch.setattr(QMessageBox, "exec", unexpected)


def pick_class(monkeypatch, name: str) -> list:
    """Answer "Open which?" with ``name``; returns the lists of classes offered."""
    offered: list = []

    def get_item(parent, title, label, items, current, editable):
        offered.append((list(items), items[current]))
        return name, True

    monkeypatch.setattr(QInputDialog, "getItem", get_item)
    return offered


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """net.py (TinyNet), its state dict, and the same network as a .pt2 program."""
    folder = tmp_path_factory.mktemp("user-models")
    py, state, model = write_python_model(folder)
    program = write_program(folder, model, "net.pt2")
    return {"py": py, "state": state, "pt2": program, "model": model}


@pytest.fixture
def files(user_files, tmp_path):
    """The user's files copied where a test may move, edit or delete them."""
    copies = {}
    for key in ("py", "state", "pt2"):
        copies[key] = tmp_path / user_files[key].name
        shutil.copy(user_files[key], copies[key])
    copies["model"] = user_files["model"]
    return copies


def start(qtbot, model: str | None = "lenet_small", settings: Settings | None = None) -> MainWindow:
    win = MainWindow(settings or Settings(), initial_model=model)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.ready, timeout=120_000):
        pass
    return win


def settle(qtbot, win: MainWindow, source: str) -> None:
    """Wait until every view shows ``source``: the session's module, its graph, its maps."""
    qtbot.waitUntil(lambda: win.session.loaded is not None and win.session.loaded.source == source
                    and win.graph_panel.graph is not None and win.graph_panel.graph.name == source
                    and win.feature_panel.settled and win.feature_panel.view_state is not None
                    and win.feature_panel.view_state.model_name == source, timeout=120_000)


@pytest.fixture
def window(qtbot, qt_warnings):
    from explorer.ui.graph.worker import GraphWorkerClient

    # The graph process outlives a test: one started for an earlier test reads that test's
    # trust store, and would refuse the .py files this test allows.
    GraphWorkerClient.shared().shutdown()
    win = start(qtbot)
    settle(qtbot, win, "lenet_small")
    yield win
    win.close()


def answer_trust(monkeypatch, answer: str) -> list[str]:
    """Answer the trust prompt with ``answer`` (RUN_BUTTON or "Cancel"); returns what it asked."""
    asked: list[str] = []

    def exec_(box: QMessageBox) -> int:
        asked.append(f"{box.windowTitle()}: {box.text()}")
        if answer == RUN_BUTTON:
            next(b for b in box.buttons() if b.text() == RUN_BUTTON).click()
        else:
            box.button(QMessageBox.StandardButton.Cancel).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


def message(win: MainWindow) -> str:
    return win.statusBar().currentMessage()


def drop(win: MainWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    event = mock.MagicMock(spec=QDropEvent)
    event.mimeData.return_value = mime
    win.dropEvent(event)


def fails_keeping_lenet(qtbot, win: MainWindow, action) -> str:
    """Run ``action``, which must fail; the model shown before stays, and the status bar
    says why in one line."""
    module = win.session.module
    with qtbot.waitSignal(win.opener.failed, timeout=60_000) as failed:
        action()
    text = failed.args[1]
    assert message(win) == text and "\n" not in text and text
    assert win.session.model_name == "lenet_small" and win.session.module is module
    assert win.feature_panel.view_state.model_name == "lenet_small"
    assert win.graph_panel.graph.name == "lenet_small"
    return text


# ----- .pt2 programs -------------------------------------------------------------------


def test_a_program_opens_from_the_file_menu_and_by_a_drop(window, qtbot, files, monkeypatch):
    from explorer.ui.graph.worker import GraphWorkerClient

    source = make_source(str(files["pt2"]))
    client = GraphWorkerClient.shared()
    sent: list = []
    real_request = client.request
    monkeypatch.setattr(client, "request", lambda payload: sent.append(payload) or real_request(payload))
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getOpenFileName", lambda *a, **k: (str(files["pt2"]), ""))
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Open &model…")
    assert action.shortcut().toString() == "Ctrl+Shift+O" and action.isEnabled()
    action.trigger()
    settle(qtbot, window, source)
    assert window.windowTitle() == "net.pt2 — cnn-explorer"
    # The graph process was asked to read the file as the load started, beside it.
    assert [(p["op"], p["name"]) for p in sent][:2] == [("prepare", source), ("open", source)]
    assert window.feature_panel.model_label.text() == "net.pt2"
    selector = window.feature_panel.weights_selector
    assert window.session.weights == WeightsChoice("saved")
    assert selector.combo.currentText() == "saved in the program"
    offered = [selector.combo.itemText(i) for i in range(selector.combo.count())]
    assert "New random seed" not in offered and "random" not in " ".join(offered)
    # Every view ran the program: the top-5 of the maps come from its 10 outputs.
    assert window.feature_panel.predictions_box.top5_table.item(0, 0) is not None
    assert RecentModels(window.settings).sources == [source]
    assert window.picker.group_names(USER_FAMILY) == [source]
    assert Settings().get("last_model") == source
    window.resize(1440, 900)
    qtbot.wait(50)
    window.grab().save(str(SHOTS / "ui22-window-pt2.png"))

    window.open_model("lenet_small")
    settle(qtbot, window, "lenet_small")
    drop(window, files["pt2"])
    settle(qtbot, window, source)
    assert window.session.loaded.module is not None


def test_a_model_file_dragged_over_any_view_reaches_the_window(window, qtbot, files):
    """Walked in a real window: a .pt2 dropped on the graph was refused (a QGraphicsView
    takes every drag for its scene, whose items take none), and one dropped on the maps was
    read as an image ("not an image in a format this app can read")."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDragEnterEvent
    from PySide6.QtWidgets import QGraphicsView

    window._tabs.setCurrentWidget(window.lessons)
    window.lessons.show_lesson("residual-learning")  # a page with charts
    qtbot.waitUntil(lambda: window.lessons.current_page.outcome_view.outcome is not None, timeout=60_000)
    window.show_view("timemachine")
    views = window.findChildren(QGraphicsView)
    assert len(views) >= 8  # the graph, its minimap, the maps' and the tabs' charts
    assert [v for v in views if v.acceptDrops() or v.viewport().acceptDrops()] == []

    def accepted(*paths: Path) -> bool:
        mime = QMimeData()  # kept alive while the event points at it
        mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
        event = QDragEnterEvent(QPointF(5, 5).toPoint(), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        window.feature_panel.dragEnterEvent(event)
        return event.isAccepted()

    assert not accepted(files["pt2"])  # on to the window, which opens models
    assert accepted(files["state"].with_suffix(".png"))  # images stay the panel's


def test_a_drop_of_a_model_and_an_image_opens_both(window, qtbot, files, tmp_path):
    from PIL import Image

    image = tmp_path / "drop.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(image)
    drop(window, files["pt2"], image)
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source == "drop.png",
                    timeout=30_000)
    settle(qtbot, window, make_source(str(files["pt2"])))


def test_bad_files_keep_the_model_shown_and_say_why_in_one_line(window, qtbot, tmp_path, monkeypatch):
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"not a zip at all" * 10)
    text = fails_keeping_lenet(qtbot, window, lambda: window.opener.open_file(garbage))
    assert "garbage.pt2" in text

    answer_trust(monkeypatch, RUN_BUTTON)
    raises = tmp_path / "raises.py"
    raises.write_text("import torch\nfrom torch import nn\n1 / 0\nclass Net(nn.Module):\n    pass\n")
    text = fails_keeping_lenet(qtbot, window, lambda: window.opener.open_file(raises))
    assert "raises.py raises on import: ZeroDivisionError" in text

    wrong_input = tmp_path / "wide.py"
    wrong_input.write_text(textwrap.dedent("""
        from torch import nn
        class Wide(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3)
                self.fc = nn.Linear(4 * 30 * 30, 10)  # made for 32x32, not 28x28
            def forward(self, x):
                return self.fc(self.conv(x).flatten(1))
    """))
    text = fails_keeping_lenet(qtbot, window, lambda: window.opener.open_file(wrong_input))
    assert text.startswith("Wide (wide.py) fails on a 1x28x28 input")

    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    window.opener.open_file(empty)
    assert message(window) == "empty.py defines no nn.Module class to open"
    window.opener.open_file(tmp_path / "notes.txt")
    assert message(window) == "notes.txt is not a model file: open a .pt2 program or a .py file"
    assert window.session.model_name == "lenet_small"
    qtbot.waitUntil(lambda: not window.opener.busy, timeout=10_000)


# ----- .py files: classes, arguments, trust --------------------------------------------


def test_a_python_file_asks_before_it_runs_and_cancel_keeps_the_model(window, qtbot, files, monkeypatch):
    from explorer.models.python_file import is_trusted

    source = make_source(str(files["py"]), class_name="TinyNet")
    offered = pick_class(monkeypatch, "TinyNet")
    asked = answer_trust(monkeypatch, "Cancel")
    module = window.session.module
    window.opener.open_file(files["py"])
    assert offered == [(["Block", "TinyNet"], "TinyNet")]  # the network, not its block, comes first
    assert len(asked) == 1 and asked[0].startswith(f"{TRUST_TITLE}: ")
    assert "runs its code on this computer" in asked[0] and "python mynet.py" in asked[0]
    assert message(window) == "mynet.py was not opened; lenet_small stays shown"
    assert window.session.module is module and not is_trusted(files["py"]) and not window.opener.busy

    asked = answer_trust(monkeypatch, RUN_BUTTON)
    window.opener.open_file(files["py"])
    assert len(asked) == 1 and is_trusted(files["py"])
    settle(qtbot, window, source)
    assert window.windowTitle() == "TinyNet (mynet.py) — cnn-explorer"
    assert window.feature_panel.model_label.text() == "TinyNet (mynet.py)"
    # A state dict fits the class: File > Load weights… works on it as on a zoo model.
    window.load_weights_file(str(files["state"]))
    qtbot.waitUntil(lambda: window.session.loaded is not None and window.session.weights.kind == "file",
                    timeout=60_000)
    assert torch.equal(next(window.session.module.parameters()), next(files["model"].parameters()))

    # Trust is remembered by the file's hash: asked no more, until the file changes.
    window.open_model("lenet_small")
    settle(qtbot, window, "lenet_small")
    window.opener.open_file(files["py"])
    assert len(asked) == 1
    settle(qtbot, window, source)
    with open(files["py"], "a") as handle:
        handle.write("\n# edited\n")
    assert not is_trusted(files["py"])
    answer_trust(monkeypatch, "Cancel")
    window.opener.open_recent(source)
    assert message(window).startswith("mynet.py was not opened")


def test_the_trust_prompt_says_what_runs(qtbot, files):
    box = trust_prompt(None, files["py"], changed=True)
    qtbot.addWidget(box)
    assert box.windowTitle() == TRUST_TITLE
    assert [b.text() for b in box.buttons() if b.text() == RUN_BUTTON] == [RUN_BUTTON]
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    assert "changed since it was last opened" in box.text() and "Only open files you trust" in box.text()
    box.show()
    qtbot.waitExposed(box)
    box.grab().save(str(SHOTS / "ui22-trust-prompt.png"))


def test_a_file_of_several_classes_asks_which_and_for_the_arguments(window, qtbot, tmp_path, monkeypatch):
    path = tmp_path / "zoo2.py"
    path.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        class Small(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(784, 10)
            def forward(self, x):
                return self.fc(x.flatten(1))
        class Wide(nn.Module):
            def __init__(self, width, depth):
                super().__init__()
                self.conv = nn.Conv2d(1, width, 3, padding=1)
                self.fc = nn.Linear(width, 10)
                self.depth = depth
            def forward(self, x):
                return self.fc(self.conv(x).mean((2, 3)))
    """))
    answer_trust(monkeypatch, RUN_BUTTON)
    items = pick_class(monkeypatch, "Wide")
    asked: list[str] = []
    replies = iter(['{"width": , "depth": }', '[4, 2]', '{"width": 4}', '{"width": 4, "depth": 2}'])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a: (asked.append(a[4]), (next(replies), True))[1])

    text = fails_keeping_lenet(qtbot, window, lambda: window.opener.open_file(path))
    assert items == [(["Small", "Wide"], "Wide")] and asked == ['{"width": , "depth": }']
    assert text.startswith("the arguments of Wide (zoo2.py) are not valid JSON (Expecting value, column 11)")
    assert fails_keeping_lenet(qtbot, window, lambda: window.opener.open_file(path)).startswith(
        "the arguments of Wide (zoo2.py) must be a JSON object")
    assert fails_keeping_lenet(qtbot, window, lambda: window.opener.open_file(path)) == (
        "Wide (zoo2.py) needs depth: give it in the arguments")
    window.opener.open_file(path)
    source = make_source(str(path), class_name="Wide", model_args={"width": 4, "depth": 2})
    settle(qtbot, window, source)
    assert window.windowTitle() == "Wide (zoo2.py) — cnn-explorer"

    # Cancelling a question opens nothing and says nothing went wrong.
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a: ("", False))
    assert window.opener.open_file(path) is False and window.session.model_name == source


# ----- Open Recent ---------------------------------------------------------------------


def test_open_recent_removes_a_moved_file_and_says_when_one_changed(window, qtbot, files, user_files, tmp_path):
    source = make_source(str(files["pt2"]))
    window.opener.open_file(files["pt2"])
    settle(qtbot, window, source)
    menu = window.recent_menu
    menu.refresh()
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts[0].startswith("&1 net.pt2 — ") and texts[-1] == "&Clear Recent"

    window.open_model("lenet_small")
    settle(qtbot, window, "lenet_small")
    other = write_program(tmp_path, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)), "other.pt2")
    shutil.copy(other, files["pt2"])  # the same path, another program
    with qtbot.waitSignal(window.opener.recent_changed, timeout=60_000):
        next(a for a in menu.actions() if a.data() == source).trigger()
    settle(qtbot, window, source)
    assert message(window) == "net.pt2 changed since it was last opened; opening the new version"
    # Every view shows the new program, the graph too (not the one drawn for the old file).
    assert window.session.module(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert len(window.graph_panel.graph.order) < 8, window.graph_panel.graph.order
    # Changed again while it is shown, and opened again: the same name, the new graph.
    shutil.copy(user_files["pt2"], files["pt2"])
    os.utime(files["pt2"], ns=(1, 1))
    with qtbot.waitSignal(window.opener.recent_changed, timeout=60_000):
        next(a for a in menu.actions() if a.data() == source).trigger()
    qtbot.waitUntil(lambda: window.graph_panel.graph is not None and "block_conv1" in window.graph_panel.graph.order,
                    timeout=60_000)
    assert window.session.module(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert "stem_0" in window.graph_panel.graph.order
    assert RecentModels(window.settings).stamp(source) == file_stamp(files["pt2"])

    window.open_model("lenet_small")
    settle(qtbot, window, "lenet_small")
    moved = files["pt2"].rename(tmp_path / "moved.pt2")
    # A click on the model list's "Your models" entry opens it as the menu's does.
    qtbot.mouseClick(window.picker.tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.picker.row_rect(source).center())
    assert message(window) == f"net.pt2 is no longer at {files['pt2'].parent} (moved or deleted); removed from Recent"
    assert RecentModels(window.settings).sources == [] and window.picker.group_names(USER_FAMILY) == []
    assert window.session.model_name == "lenet_small"

    window.opener.open_file(moved)
    settle(qtbot, window, make_source(str(moved)))
    menu.refresh()
    next(a for a in menu.actions() if a.text() == "&Clear Recent").trigger()
    assert RecentModels(Settings()).sources == [] and window.picker.group_names(USER_FAMILY) == []


def test_a_damaged_recent_list_reads_as_empty(isolated_folders, recwarn):
    path = isolated_folders / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    good = {"source": "/a/net.pt2", "sha256": "0" * 64, "size": 3}
    for damaged in ([good, {"source": "/a/b.pt2"}], [good, good], "net.pt2", [dict(good, size=-1)],
                    [dict(good, source="resnet50")], [dict(good, source=f"/a/n{i}.pt2") for i in range(9)]):
        path.write_text(json.dumps({"recent_models": damaged, "theme": "dark"}))
        settings = Settings()
        assert settings.get("recent_models") == [] and settings.get("theme") == "dark"
        assert "'recent_models'" in settings.warning
    path.write_text(json.dumps({"recent_models": [good], "last_model": "/a/net.py:Net?args={}"}))
    settings = Settings()
    assert RecentModels(settings).sources == ["/a/net.pt2"] and settings.get("last_model") == "/a/net.py:Net?args={}"


# ----- the model list ------------------------------------------------------------------


def test_the_model_list_has_torchvision_and_your_models(window, qtbot, files):
    qtbot.waitUntil(lambda: "convnext_tiny" in window.picker.group_names("torchvision"), timeout=60_000)
    names = window.picker.group_names("torchvision")
    assert len(names) > 40 and "resnet50" not in names  # the zoo's own form wins
    assert window.picker.names[0] == "lenet5" and "convnext_tiny" not in window.picker.names
    item = window.picker._items["convnext_tiny"]
    assert item.text() == "ConvNeXt-Tiny  (2022)"
    window.opener.open_file(files["pt2"])
    source = make_source(str(files["pt2"]))
    settle(qtbot, window, source)
    mine = window.picker._items[source]
    assert mine.text() == "net.pt2" and mine.toolTip() == source
    model = window.picker._model
    assert model.item(0).text() == USER_FAMILY and model.item(model.rowCount() - 1).text() == "torchvision"
    # Choosing a torchvision entry opens it by name (not loaded here: it would download).
    with mock.patch.object(window.session, "set_model") as set_model:
        window.picker.model_chosen.emit("convnext_tiny")
    set_model.assert_called_once_with("convnext_tiny", None)
    # The list with the zoo's families folded, to show both new groups in one picture.
    tree, proxy = window.picker.tree, window.picker._proxy
    tree.collapseAll()
    for row in (0, model.rowCount() - 1):
        tree.expand(proxy.mapFromSource(model.item(row).index()))
    tree.scrollToTop()
    window.picker.parentWidget().resize(300, 900)
    qtbot.wait(50)
    window.picker.grab().save(str(SHOTS / "ui22-model-list.png"))
    menu = window.recent_menu
    menu.refresh()
    menu.resize(menu.sizeHint())  # drawn without popping up: offscreen cannot grab the keyboard
    menu.grab().save(str(SHOTS / "ui22-open-recent.png"))


# ----- start-up ------------------------------------------------------------------------


def test_a_remembered_program_opens_at_start_and_a_missing_one_gives_the_default(qtbot, qt_warnings, files):
    source = make_source(str(files["pt2"]))
    Settings().set("last_model", source)
    win = start(qtbot, None)
    try:
        settle(qtbot, win, source)
    finally:
        win.close()
    files["pt2"].unlink()
    win, messages = start_listening(qtbot)
    try:
        settle(qtbot, win, DEFAULTS["last_model"])
        assert (f"net.pt2 is no longer at {files['pt2'].parent} (moved or deleted); "
                f"opening {DEFAULTS['last_model']}") in messages
    finally:
        win.close()


def test_a_remembered_untrusted_python_file_is_not_run_at_start(qtbot, qt_warnings, files, monkeypatch):
    source = make_source(str(files["py"]), class_name="TinyNet")
    Settings().set("last_model", source)
    asked = answer_trust(monkeypatch, RUN_BUTTON)
    win, messages = start_listening(qtbot)
    try:
        settle(qtbot, win, DEFAULTS["last_model"])
        assert not asked
        assert (f"mynet.py has not been allowed to run as it is now (open it again to be asked); "
                f"opening {DEFAULTS['last_model']}") in messages
    finally:
        win.close()


def start_listening(qtbot) -> tuple[MainWindow, list[str]]:
    """A window started on the remembered model, and every status bar line it shows."""
    messages: list[str] = []
    win = MainWindow(Settings())
    win.statusBar().messageChanged.connect(messages.append)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.ready, timeout=120_000):
        pass
    return win, messages


# ----- training -------------------------------------------------------------------------


def test_the_training_tab_says_why_a_torchvision_model_cannot_train_and_trains_a_users(
        qtbot, tmp_path, tiny_fashion_root, files):
    from explorer.models.python_file import trust
    from explorer.train import RunHistory
    from explorer.train.journal import new_run_id
    from explorer.ui.training.panel import TrainingPanel

    session = Session()
    panel = TrainingPanel(session, history=RunHistory(tmp_path / "runs"), data_dir=str(tiny_fashion_root),
                          refresh_ms=20, in_process=True)
    qtbot.addWidget(panel)
    session.set_model("convnext_tiny")
    label = panel.form._model_label.text()
    assert label.startswith("convnext_tiny: cannot be trained here (ConvNeXt-Tiny takes 3×224×224 images")
    assert panel.training_model is None and not panel.findChild(QPushButton, "start").isEnabled()
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save(str(SHOTS / "ui22-training-convnext.png"))

    trust(files["py"])
    source = make_source(str(files["py"]), class_name="TinyNet")
    session.set_model(source)
    # A run's files are named after the model: a file model by its title, file-safe.
    assert "/" not in new_run_id(source) and "-TinyNet_mynet.py-" in new_run_id(source)
    # It takes 1x28x28 with 10 outputs, so it trains.
    assert panel.training_model == source
    assert panel.form._model_label.text() == "TinyNet (mynet.py)"
    panel.set_config(panel.config().replace(epochs=1, batch_size=64, device="cpu", subset=256))
    with qtbot.waitSignal(panel.running_changed, timeout=120_000, check_params_cb=lambda running: not running):
        panel.start()
    assert panel.last_status == "completed", panel._driver.failure
    assert session.training.model_name == source and session.training.epoch == 1
    panel.shutdown(timeout_ms=10_000)


# ----- weights --------------------------------------------------------------------------


def test_the_weights_selector_and_notice_work_on_models_outside_the_zoo(qtbot, files):
    from explorer.loading import LoadedModel
    from explorer.models import get_model
    from explorer.models.python_file import trust
    from explorer.ui.weights_selector import RandomWeightsNotice, WeightsSelector

    session = Session()
    selector, notice = WeightsSelector(session), RandomWeightsNotice(session)
    qtbot.addWidget(selector)
    qtbot.addWidget(notice)
    random = WeightsChoice("random", seed=5)
    session.set_model("convnext_tiny", random)
    assert WeightsChoice("imagenet") in selector.choices and "New random seed" in offered(selector)
    session.deliver(LoadedModel.of("convnext_tiny", random, get_model("convnext_tiny")))
    assert notice.text.text() == ("ConvNeXt-Tiny runs with random weights (seed 5): its ImageNet weights are "
                                  "not available here.") and notice.open_button.isHidden()

    trust(files["py"])
    source = make_source(str(files["py"]), class_name="TinyNet")
    session.set_model(source, random)
    session.deliver(LoadedModel.of(source, random, get_model(source)))
    assert notice.text.text().startswith("TinyNet (mynet.py) runs with random weights (seed 5): load a state_dict")
    assert selector.combo.toolTip() == "TinyNet (mynet.py) runs with random (seed 5)"

    program = make_source(str(files["pt2"]))
    session.set_model(program)
    assert selector.choices == [WeightsChoice("saved")] and "New random seed" not in offered(selector)
    assert offered(selector)[-1] == "Load file…"


def offered(selector) -> list[str]:
    return [selector.combo.itemText(i) for i in range(selector.combo.count())]
