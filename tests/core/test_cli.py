import subprocess
import sys

import pytest

from explorer import cli
from explorer.errors import UserError


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explorer", *argv], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command_without_importing_torch():
    result = _run("--help")
    assert result.returncode == 0
    for name in cli.COMMANDS:
        assert name in result.stdout


def test_usage_error_exits_2():
    result = _run("--no-such-flag")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_user_error_is_one_line_exit_1(monkeypatch, capsys):
    def boom(args):
        raise UserError("the file is not an image")

    _install_fake_command(monkeypatch, boom)
    assert cli.main(["fake"]) == 1
    err = capsys.readouterr().err
    assert err == "error: the file is not an image\n"


def test_unexpected_error_hides_traceback_unless_debug(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("kaput")

    _install_fake_command(monkeypatch, boom)
    assert cli.main(["fake"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RuntimeError: kaput" in err and len(err.splitlines()) == 1
    assert cli.main(["--debug", "fake"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["models", "--json"], "models"),
        (["--debug", "train", "lenet"], "train"),
        (["--model", "train", "--screenshot", "x.png"], None),  # a model called "train" is a GUI arg
        (["--model", "resnet18"], None),
        ([], None),
    ],
)
def test_chosen_command(argv, expected):
    assert cli._chosen_command(argv) == expected


def _install_fake_command(monkeypatch, run):
    """Register a subcommand 'fake' whose run function is ``run``."""
    monkeypatch.setitem(cli.COMMANDS, "fake", ("explorer.bench.command", "a test command"))
    real = cli.build_parser

    def build(command=None):
        parser = real(None)
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices["fake"].set_defaults(run=run)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)



def test_closed_pipe_is_not_an_error():
    """`cnn-explorer models --json | head -c 1`: the reader leaves early."""
    result = subprocess.run(
        f"set -o pipefail; {sys.executable} -m explorer models --json | head -c 1 >/dev/null",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
