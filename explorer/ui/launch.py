"""Opening the window: the Qt application, its icon and settings, the main window, and
``--screenshot`` (render off screen, save, exit).

``explorer.app.run_gui`` calls :func:`open_window` once the checks that need no Qt have
passed (the platform's libraries, the screenshot's path); Qt is imported from here on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def open_window(args: argparse.Namespace) -> int:
    """Open the main window; with ``--screenshot`` render it off screen, save and exit.

    ``MainWindow`` is looked up when this runs: the start-up bench puts a probed subclass
    in its module first."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from explorer.resources import resource_path
    from explorer.settings import Settings
    from explorer.ui.main_window import MainWindow

    # pyqtgraph's options are set by the window once the core has loaded, before the
    # first plot: importing it here would hold up the first screen by 0.4 s.
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cnn-explorer")
    app.setDesktopFileName("cnn-explorer")
    app.setWindowIcon(QIcon(str(resource_path("icons/cnn-explorer.svg"))))

    # A bad settings file is reported (once, on stderr, by its warning) and never fatal.
    settings = Settings()
    if args.theme:
        settings.set("theme", args.theme)
    window = MainWindow(settings, initial_model=args.model, data_dir=args.data_dir)
    if args.window_size:
        window.resize(*args.window_size)
    if settings.warning:
        window.statusBar().showMessage(settings.warning, 15000)

    if not args.screenshot:
        window.show()
        return app.exec()

    outcome = {"code": 1, "message": "timed out waiting for the window to be ready"}

    def save() -> None:
        # Encoded in memory, then written atomically as an export (not into the app's
        # folders; a full disk or a bad name is the one-line error, never a false success).
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice

        from explorer.errors import UserError
        from explorer.exports import write_export

        kind = Path(args.screenshot).suffix.lstrip(".").upper() or "PNG"
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        encoded = window.grab().save(buffer, kind)
        buffer.close()
        try:
            if not encoded:
                raise UserError(f"cannot write {args.screenshot}: {kind} is not an image format this app writes")
            write_export(args.screenshot, bytes(data.data()))
        except UserError as exc:
            fail(str(exc))
            return
        outcome.update(code=0, message="")
        app.quit()

    def fail(message: str) -> None:
        outcome.update(code=1, message=message)
        app.quit()

    # Grab once the graph is drawn and the feature maps show the same model.
    shown: set[str] = set()

    def note(what: str) -> None:
        shown.add(what)
        if shown >= {"graph", "maps"}:
            QTimer.singleShot(200, save)  # let the last paint land

    def on_ready() -> None:
        window.feature_panel.view_updated.connect(lambda _node: note("maps"))
        # The window opens the model right after `ready`; a name it refused fails at once.
        QTimer.singleShot(0, lambda: window.current_model is None
                          and fail(window.statusBar().currentMessage() or "no model to show"))

    window.model_shown.connect(lambda _name: note("graph"))
    window.ready.connect(on_ready)
    window._loader.failed.connect(fail)
    QTimer.singleShot(180_000, app.quit)
    window.show()
    app.exec()
    window.close()
    if outcome["code"]:
        print(f"error: {outcome['message']}", file=sys.stderr)
    return outcome["code"]
