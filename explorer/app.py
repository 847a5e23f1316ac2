"""Entry point: `cnn-explorer` parses the command line, then either runs a subcommand
(explorer.cli) or opens the window. This is the one module that wires Qt, settings and
the main window together."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from explorer import cli


def run_gui(args: argparse.Namespace) -> int:
    """Open the main window; with ``--screenshot`` render it off screen, save and exit."""
    if args.screenshot:
        # A screenshot needs no display: render off screen unless one was asked for.
        import os

        from explorer.exports import check_export_path

        check_export_path(args.screenshot)  # a refused place or name fails before the window opens
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from explorer.platform_check import check_platform

    # Before Qt loads its platform plugin: a missing X11 library would abort the process
    # with a message that names none of them.
    problem = check_platform()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1

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


def main(argv: Sequence[str] | None = None) -> int:
    # Training runs in a spawned child process; a frozen (PyInstaller) build must let the
    # child run its task instead of starting another window.
    import multiprocessing

    multiprocessing.freeze_support()
    return cli.main(argv, gui=run_gui)


if __name__ == "__main__":
    raise SystemExit(main())
