"""Entry point: `cnn-explorer` parses the command line, then either runs a subcommand
(explorer.cli) or opens the window (explorer.ui.launch, where Qt is imported). The checks
that need no Qt run here first."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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

    from explorer.ui.launch import open_window

    return open_window(args)


def main(argv: Sequence[str] | None = None) -> int:
    # Training runs in a spawned child process; a frozen (PyInstaller) build must let the
    # child run its task instead of starting another window.
    import multiprocessing

    multiprocessing.freeze_support()
    return cli.main(argv, gui=run_gui)


if __name__ == "__main__":
    raise SystemExit(main())
