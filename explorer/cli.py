"""Command-line parsing and dispatch.

`cnn-explorer` with no subcommand starts the GUI; subcommands print tables (or JSON with
``--json``). Only the chosen subcommand's module is imported, so starting the GUI or asking
for help never waits for torch.

Exit codes: 0 success, 1 an error the user can act on (one line on stderr, no traceback
unless ``--debug``), 2 usage errors (argparse's own).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence

from explorer import __version__
from explorer.errors import UserError
from explorer.settings import THEMES

# subcommand -> (module that defines it, one-line help shown by `cnn-explorer --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("explorer.commands.models", "list every registered model with params and FLOPs"),
    "summary": ("explorer.commands.models", "per-layer output shape, parameters and FLOPs"),
    "graph": ("explorer.commands.graph", "export a model's graph as SVG, PNG or JSON"),
    "inspect": ("explorer.commands.inspect", "run an image through a model: top-5 and feature maps"),
    "train": ("explorer.commands.train", "train a small variant on Fashion-MNIST"),
    # The benchmarks measure the window too: they sit above the UI, not among the commands.
    "bench": ("explorer.bench.command", "run the speed benchmarks (JSON out)"),
    "zoo": ("explorer.commands.zoo", "train or list the shipped Fashion-MNIST weights"),
}
# Explaining a network (issue 12).
COMMANDS.update({
    "rf": ("explorer.commands.rf", "receptive field of a node: size, stride, offset, a unit's box"),
    "explain": ("explorer.commands.explain", "Grad-CAM, saliency or occlusion map of an image"),
    "knockout": ("explorer.commands.knockout", "switch parts off: accuracy before and after"),
})
# Runs, profiling and comparison (issue 13).
COMMANDS.update({
    "runs": ("explorer.commands.runs", "list training runs; rename one; export its curves as CSV"),
    "profile": ("explorer.commands.profile", "per-node latency on a device: sum against one eager pass"),
    "compare": ("explorer.commands.compare", "two models or epochs on one image, at matching stages"),
    "scoreboard": ("explorer.commands.scoreboard", "accuracy against compute: torchvision's figures, small forms"),
})
# Start-up without torch (issue 20).
COMMANDS["snapshots"] = ("explorer.commands.snapshots", "write the registry and graph snapshots read before torch loads")
# How a unit computes (issue 21).
COMMANDS["unit"] = ("explorer.commands.unit", "how one unit computes: its terms, value and the model's own value")
# The classic claims, measured (issue 18).
COMMANDS["lessons"] = ("explorer.commands.lessons", "the classic claims about CNN design, each measured on the real models")


def _draw_graph(graph, view, layout, out, *, theme: str, scale: float):
    """`graph --out FILE.svg|.png`: the window's scene renderer, off screen (Qt loads here)."""
    from explorer.ui.graph.export import export_offscreen

    return export_offscreen(graph, view, layout, out, theme=theme, scale=scale)


# What a command needs from the layers above it (the commands sit below the UI and never
# import it): command -> defaults set on its parser, handed in here by the entry layer.
INJECTED: dict[str, dict[str, Callable]] = {
    "graph": {"draw": _draw_graph},
}


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The first positional word if it names a subcommand; GUI options take no positionals."""
    # The values of the window options (--model NAME, ...) are not commands: the parser
    # itself says which options take one, so a new option cannot be forgotten here.
    takes_value = {
        flag
        for action in build_parser(None)._actions
        if action.option_strings and action.nargs != 0
        for flag in action.option_strings
    }
    skip_next = False
    for word in argv:
        if skip_next:
            skip_next = False
            continue
        if word in takes_value:
            skip_next = True
            continue
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


# Qt refuses windows over 16,777,215 pixels a side; no screen is near this one.
MAX_WINDOW_SIDE = 16_384


def _window_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (W, H); argparse turns the ValueError into a one-line usage error."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1600x1000")
    if not (1 <= int(width) <= MAX_WINDOW_SIDE and 1 <= int(height) <= MAX_WINDOW_SIDE):
        raise argparse.ArgumentTypeError(f"width and height must be from 1 to {MAX_WINDOW_SIDE}, got {text!r}")
    return int(width), int(height)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-explorer",
        description="Look inside the classic CNNs: architecture graphs, live feature maps, "
        "training on Fashion-MNIST. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"cnn-explorer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    gui = parser.add_argument_group("window options (no command)")
    gui.add_argument("--model", metavar="NAME", help="open the window on this model")
    gui.add_argument(
        "--screenshot",
        metavar="FILE.png",
        help="render the window off screen, save a PNG and exit",
    )
    gui.add_argument("--window-size", metavar="WxH", type=_window_size,
                     help="open the window this size in pixels, e.g. 1600x1000")
    gui.add_argument("--data-dir", metavar="DIR", help="folder holding FashionMNIST/raw")
    gui.add_argument("--theme", choices=THEMES, help="colour theme (remembered)")

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command is not None:
        module = importlib.import_module(COMMANDS[command][0])
        module.add_parser(sub)
        if command in INJECTED:
            sub.choices[command].set_defaults(**INJECTED[command])
    else:
        for name, (_, help_text) in COMMANDS.items():
            sub.add_parser(name, help=help_text, add_help=False)
    # Subcommands that share a module register more than the chosen one; that's harmless.
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None, gui: Callable[[argparse.Namespace], int] | None = None) -> int:
    """Parse ``argv`` and run the command, or ``gui(args)`` when no command is given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Warnings (a bad settings key, a decoder remark) read as one line, like errors do.
    warnings.formatwarning = _one_line_warning
    command = _chosen_command(argv)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            if gui is None:
                parser.error("no command given")
            return gui(args)
        return int(args.run(args) or 0)
    except UserError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `cnn-explorer models --json | head`: the reader left; that is not an error.
        # Point stdout at devnull so the interpreter's final flush does not fail again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence for a CLI user
        if args.debug:
            traceback.print_exc()
        else:
            print(
                f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)",
                file=sys.stderr,
            )
        return 1
