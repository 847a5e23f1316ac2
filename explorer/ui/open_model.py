"""Opening a model file in the window: File > Open model…, a dropped file, File > Open
Recent and the model list's "Your models".

A ``.pt2`` (a ``torch.export`` program) opens as it is. A ``.py`` file is read with ``ast``
first (nothing runs): which class to open when it defines several, the arguments the class
needs (a JSON object), and then, unless the file as it is now was trusted before, the
question whether to run it. Its answer is remembered by the file's hash, so an edited file
is asked about again.

The model is then loaded off the GUI thread *before* the session hears of it: a file that
cannot be opened (unreadable, raises on import, needs arguments, fails on its example
input, weights that do not fit) costs one line in the status bar, and the model shown
before stays shown in every view. Only a model that loaded goes to the session, the way a
training run's epoch does (``set_model`` then ``deliver``, so the builder loads nothing).
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, qWarning
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from explorer.errors import ModelError, describe_os_error
from explorer.files import WriteError
from explorer.loading import display_name
from explorer.models.sources import (
    PROGRAM_SUFFIX,
    PYTHON_SUFFIX,
    make_source,
    parse_source,
)
from explorer.session import Session, WeightsChoice
from explorer.settings import Settings
from explorer.ui.graph.worker import GraphWorkerClient
from explorer.ui.recent_models import FileStamp, RecentModels, file_stamp, source_path
from explorer.ui.subscriptions import Subscriptions

MODEL_FILES = "Models (*.pt2 *.py);;torch.export programs (*.pt2);;Python files (*.py)"
RUN_BUTTON = "Run and open"
TRUST_TITLE = "Run this Python file?"


def is_model_file(path: str | Path) -> bool:
    """Whether ``path`` names a file the window opens as a model (not as an image)."""
    return Path(path).suffix.lower() in (PROGRAM_SUFFIX, PYTHON_SUFFIX)


def trust_prompt(parent: QWidget | None, path: Path, changed: bool = False) -> QMessageBox:
    """The question asked before a Python file's code runs (not shown yet)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(TRUST_TITLE)
    box.setTextFormat(Qt.TextFormat.RichText)
    name = html.escape(path.name)
    before = f"{name} changed since it was last opened. " if changed else ""
    box.setText(f"<p>{before}Opening <b>{name}</b> runs its code on this computer, as "
                f"running <code>python {name}</code> would.</p>"
                "<p>Only open files you trust.</p>")
    box.setInformativeText(f"{html.escape(str(path))}<br><br>The answer is kept for this file as it is now; "
                           "if it changes, you are asked again.")
    run = box.addButton(RUN_BUTTON, QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    run.setObjectName("run-and-open")
    return box


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclasses.dataclass(frozen=True)
class _Request:
    """One model file to load. ``weights`` was asked for explicitly; ``recalled`` is what the
    model last ran with (tried first, the default if it no longer loads); ``expected`` is the
    stamp the Recent list holds for the file."""

    number: int
    source: str
    weights: WeightsChoice | None
    recalled: WeightsChoice | None
    expected: FileStamp | None


class _LoadThread(QThread):
    done = Signal(object)  # (request, LoadedModel or None, FileStamp or None, message)

    def __init__(self, request: _Request, parent: QObject) -> None:
        super().__init__(parent)
        self.request = request

    def run(self) -> None:
        from explorer.loading import load_model

        request = self.request
        path = source_path(request.source)
        try:
            stamp = file_stamp(path)
        except OSError as exc:
            self.done.emit((request, None, None, f"cannot read {path}: {describe_os_error(exc)}"))
            return
        wanted = request.weights if request.weights is not None else request.recalled
        try:
            try:
                loaded = load_model(request.source, wanted)
            except Exception:  # the weights it last ran with may be gone: try the default
                if request.weights is not None or wanted is None:
                    raise
                loaded = load_model(request.source, None)
            loaded.info  # noqa: B018 - read here, not on the GUI thread (a .py runs its model)
        except Exception as exc:  # noqa: BLE001 - any failure is one line in the status bar
            message = _first_line(exc)
            title = display_name(request.source)
            self.done.emit((request, None, stamp, message if title in message else f"{title}: {message}"))
            return
        self.done.emit((request, loaded, stamp, ""))


class ModelOpener(QObject):
    """Opens model files for the window; says how it went on the session's message line.

    Signals:
        recent_changed(): the Recent list changed (the model list's "Your models" too).
        failed(str, str): a file model could not be opened (source, the line said); the
            session still shows what it showed.
    """

    recent_changed = Signal()
    failed = Signal(str, str)

    def __init__(self, session: Session, settings: Settings,
                 recall: Callable[[str], WeightsChoice | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.recent = RecentModels(settings)
        self._recall = recall
        self._thread: _LoadThread | None = None
        self._pending: _Request | None = None
        self._number = 0
        self._handing_over = False
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.model_changed, self._on_model_changed)

    @property
    def busy(self) -> bool:
        """A model file is loading (or waits to)."""
        return self._thread is not None or self._pending is not None

    # ----- asking -------------------------------------------------------------------------

    def choose_file(self) -> None:
        """File > Open model…: ask for a .pt2 or .py file and open it."""
        entries = self.recent.entries()
        folder = str(source_path(entries[0][0]).parent) if entries else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self._window, "Open model", folder, MODEL_FILES)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """Open a .pt2 program, or a class of a .py file (asking which, its arguments and
        whether to run it); False when nothing was started (said in the status bar)."""
        path = Path(path).expanduser().absolute()
        if not is_model_file(path):
            return self._fail(str(path), f"{path.name} is not a model file: open a .pt2 program or a .py file")
        if not path.is_file():
            return self._fail(str(path), f"{path.name}: no such file: {path}")
        try:
            if path.suffix.lower() == PROGRAM_SUFFIX:
                source = make_source(str(path))
            else:
                source = self._python_source(path)
        except ModelError as exc:
            return self._fail(str(path), _first_line(exc))
        if source is None:
            return False  # the user cancelled a question
        return self.open_source(source)

    def open_dropped(self, urls: list) -> list:
        """Open the first model file among dropped ``urls`` (QUrl); the others are returned."""
        models = [url for url in urls if url.isLocalFile() and is_model_file(url.toLocalFile())]
        if models:
            self.open_file(models[0].toLocalFile())
        return [url for url in urls if url not in models]

    def _python_source(self, path: Path) -> str | None:
        """The source string of the class of ``path`` the user picks, with its arguments."""
        from explorer.models.python_file import class_parameters, model_classes

        classes = model_classes(path)
        if not classes:
            raise ModelError(f"{path.name} defines no nn.Module class to open")
        class_name = classes[0]
        if len(classes) > 1:
            # The last one offered first: a file defines its blocks before the network.
            class_name, ok = QInputDialog.getItem(self._window, "Open model",
                                                  f"{path.name} defines {len(classes)} models. Open which?",
                                                  classes, len(classes) - 1, False)
            if not ok:
                return None
        needed = class_parameters(path, class_name)
        args = None
        if needed:
            args = self._ask_arguments(path, class_name, needed)
            if args is None:
                return None
        return make_source(str(path), class_name=class_name, model_args=args)

    def _ask_arguments(self, path: Path, class_name: str, needed: list[str]) -> dict | None:
        """The class's arguments as a JSON object (None: cancelled); ModelError when it is not one."""
        skeleton = "{" + ", ".join(f'"{name}": ' for name in needed) + "}"
        text, ok = QInputDialog.getText(
            self._window, "Model arguments",
            f"{class_name} ({path.name}) needs {', '.join(needed)}.\nGive the arguments as a JSON object:",
            QLineEdit.EchoMode.Normal, skeleton)
        if not ok:
            return None
        what = f"the arguments of {class_name} ({path.name})"
        try:
            args = json.loads(text)
        except ValueError as exc:
            why = f"{exc.msg}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else _first_line(exc)
            raise ModelError(f"{what} are not valid JSON ({why}): {text.strip()}") from None
        if not isinstance(args, dict):
            raise ModelError(f"{what} must be a JSON object, like {{\"{needed[0]}\": 8}}: {text.strip()}")
        missing = [name for name in needed if name not in args]
        if missing:
            raise ModelError(f"{class_name} ({path.name}) needs {', '.join(missing)}: "
                             f"give {'them' if len(missing) > 1 else 'it'} in the arguments")
        return args

    def _allowed_to_run(self, path: Path, changed: bool) -> bool:
        """Whether the Python file may run: trusted before, or the user says so now."""
        from explorer.models.python_file import is_trusted, trust

        if is_trusted(path):
            return True
        box = trust_prompt(self._window, path, changed)
        box.exec()
        run = box.clickedButton() is not None and box.clickedButton().text() == RUN_BUTTON
        box.deleteLater()
        if not run:
            shown = self.session.model_name
            self._say(f"{path.name} was not opened" + (f"; {display_name(shown)} stays shown" if shown else ""))
            return False
        try:
            trust(path)
        except WriteError as exc:  # allowed for this session; asked again next time
            self._say(f"{_first_line(exc)}; {path.name} runs this session, and is asked about again next time")
        return True

    # ----- opening ------------------------------------------------------------------------

    def open_source(self, source: str, weights: WeightsChoice | None = None, *,
                    expected: FileStamp | None = None) -> bool:
        """Load the file model ``source`` off the GUI thread and show it once it has loaded
        (a .py file is asked about first unless trusted); False when nothing was started."""
        try:
            spec = parse_source(source)
        except ModelError as exc:
            return self._fail(source, _first_line(exc))
        path = Path(spec.location)
        if spec.kind == "python":
            try:
                changed = expected is not None and file_stamp(path) != expected
                if not self._allowed_to_run(path, changed):
                    return False
            except (ModelError, OSError) as exc:
                why = describe_os_error(exc) if isinstance(exc, OSError) else _first_line(exc)
                return self._fail(source, f"{path.name}: {why}")
        self._number += 1
        recalled = self._recall(source) if self._recall is not None and weights is None else None
        request = _Request(self._number, source, weights, recalled, expected)
        self._say(f"Opening {spec.title}…")
        if self._thread is not None:
            self._pending = request  # the newest request waits; an older one is dropped
        else:
            self._start(request)
        return True

    def open_recent(self, source: str) -> bool:
        """Open a Recent entry; one that moved is removed, one that changed opens anew."""
        path = source_path(source)
        if not path.is_file():
            self.recent.remove(source)
            self.recent_changed.emit()
            return self._say(f"{path.name} is no longer at {path.parent} (moved or deleted); removed from Recent")
        return self.open_source(source, expected=self.recent.stamp(source))

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Drop what waits and wait for the load that runs (the window is closing)."""
        self._pending = None
        self._number += 1
        self._subscriptions.clear()
        thread = self._thread
        if thread is not None and not thread.wait(timeout_ms):
            qWarning(f"opening {thread.request.source} still running after {timeout_ms} ms")
            return False
        return True

    @property
    def _window(self) -> QWidget | None:
        """The window the dialogs belong to: the Qt parent, read when needed (a Python
        reference to it would keep a closed window's wrapper alive)."""
        parent = self.parent()
        return parent if isinstance(parent, QWidget) else None

    def _start(self, request: _Request) -> None:
        # The graph process reads the file for itself: asked now, it reads it beside this
        # load, and the graph is ready about when the model is, not one reading after it.
        GraphWorkerClient.shared().request({"op": "prepare", "name": request.source, "kwargs": {}})
        thread = _LoadThread(request, self)
        thread.done.connect(self._on_done)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        thread.start()

    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        pending, self._pending = self._pending, None
        if pending is not None and pending.number == self._number:
            self._start(pending)

    def _on_done(self, result: tuple) -> None:
        request, loaded, stamp, message = result
        if request.number != self._number:
            return  # another model was chosen meanwhile
        if loaded is None:
            self._fail(request.source, message)
            return
        changed = request.expected is not None and stamp != request.expected
        # Listed first, so that the model list has its row when the session shows it.
        self.recent.add(request.source, stamp)
        self.recent_changed.emit()
        self._hand_over(loaded)
        if changed:
            name = source_path(request.source).name
            self._say(f"{name} changed since it was last opened; opening the new version")

    def _hand_over(self, loaded) -> None:
        """Show ``loaded`` in every view, as the selection it answers."""
        session = self.session
        self._handing_over = True
        try:
            if session.model_name == loaded.source:
                session.set_weights(loaded.weights)  # opened again: the file's new content
            else:
                session.set_model(loaded.source, loaded.weights)
            asked = session.selection.weights
            if loaded.requested != asked:
                loaded = dataclasses.replace(loaded, requested=asked)
            session.deliver(loaded)
        finally:
            self._handing_over = False

    def _fail(self, source: str, message: str) -> bool:
        self._say(message)
        self.failed.emit(source, message)
        return False

    def _say(self, text: str) -> bool:
        self.session.notify(text)
        return False

    def _on_model_changed(self, _session: Session, change: str) -> None:
        # Another model chosen while a file loads: the user has moved on; drop the file.
        if change == "model" and not self._handing_over:
            self._number += 1
            self._pending = None
