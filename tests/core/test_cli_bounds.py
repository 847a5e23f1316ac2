"""Every numeric option of every command is bounded (issue 17): a value out of range, NaN,
infinity or not a number is argparse's usage error (exit 2, like every usage error of this
CLI) whose error line names the range; nothing runs, no traceback, no "unexpected". A file
name too long for the file system is one line and exit 1."""

from __future__ import annotations

import argparse

import pytest

from explorer import cli
from explorer.commands.options import max_threads
from explorer.train.history import RunHistory, RunRecord

LONG_NAME = "x" * 300

# (command words before the option, option, out-of-range values, words after the value)
BOUNDED = [
    (["profile", "lenet5"], "--threads", ["-2", "0", "100000", "1.5", "many"]),
    (["profile", "lenet5"], "--batch", ["0", "1e8", "100000000", "-1"]),
    (["profile", "lenet5"], "--repeats", ["0", "1e9", "1000000000", "-3"]),
    (["profile", "lenet5"], "--top", ["-1", "100001"]),
    (["graph", "lenet5"], "--scale", ["nan", "inf", "-1", "0", "0.01", "17", "x"]),
    (["train", "lenet5"], "--epochs", ["0", "-1", "10001"]),
    (["train", "lenet5"], "--batch-size", ["0", "65537", "1e3"]),
    (["train", "lenet5"], "--lr", ["0", "-0.1", "nan", "inf", "1e5", "1e300"]),
    (["train", "lenet5"], "--subset", ["0", "3", "-5", "100000000"]),
    (["zoo", "train"], "--threads", ["-1", "0", "100000"]),
    (["zoo", "train"], "--epochs", ["0", "10001"]),
    (["zoo", "train"], "--subset", ["0", "9", "100000000"]),
    (["bench", "recipes"], "--epochs", ["0", "-2"]),
    (["bench", "recipes"], "--subset", ["0", "100000000"]),
    (["explain", "lenet5", "sample"], "--target", ["-1", "100000", "nan"]),
    (["explain", "lenet5", "sample"], "--opacity", ["nan", "-0.1", "1.5", "inf"]),
    (["knockout", "lenet5", "--remove", "conv1"], "--images", ["0", "-1", "100001"]),
    ([], "--window-size", ["0x10", "10x0", "99999x10"]),
]
CASES = [(before, option, value) for before, option, values in BOUNDED for value in values]


def _parse_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv, gui=lambda args: pytest.fail("the window must not open"))
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("before", "option", "value"), CASES,
                         ids=[f"{' '.join(b[:2])} {o} {v}" for b, o, v in CASES])
def test_out_of_range_is_one_usage_line_naming_the_range(before, option, value, capsys):
    err = _parse_error([*before, f"{option}={value}"], capsys)
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert f"argument {option}: " in errors[0]
    assert " to " in errors[0] or "at most" in errors[0], errors[0]  # the range is named
    assert "Traceback" not in err and "unexpected" not in err


def test_threads_range_follows_the_cores(capsys):
    err = _parse_error(["profile", "lenet5", "--threads", str(max_threads() + 1)], capsys)
    assert f"from 1 to {max_threads():,}" in err


def test_rf_pixel_is_bounded(capsys):
    err = _parse_error(["rf", "lenet5", "--layer", "conv1", "--pixel", "-1", "0"], capsys)
    assert "argument --pixel: must be a whole number from 0 to 1,000,000" in err


@pytest.mark.parametrize(("command", "argv"), [
    ("profile", ["profile", "lenet5", "--threads", "1", "--batch", "1024", "--repeats", "10000", "--top", "0"]),
    ("graph", ["graph", "lenet5", "--scale", "16"]),
    ("graph", ["graph", "lenet5", "--scale", "0.1"]),
    ("train", ["train", "lenet5", "--epochs", "10000", "--batch-size", "1", "--lr", "1e4", "--subset", "10"]),
    ("zoo", ["zoo", "train", "--threads", str(max_threads()), "--epochs", "1", "--subset", "10"]),
    ("explain", ["explain", "lenet5", "sample", "--target", "0", "--opacity", "1"]),
    ("knockout", ["knockout", "lenet5", "--remove", "conv1", "--images", "100000"]),
    ("rf", ["rf", "lenet5", "--layer", "conv1", "--pixel", "0", "0"]),
])
def test_values_at_the_limits_are_accepted(command, argv):
    args = cli.build_parser(command).parse_args(argv)
    assert args.command == argv[0]


def _subparsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _subparsers(child)


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_no_numeric_option_is_left_unbounded(command):
    """A new option typed plain int or float would accept -1, NaN and 1e300 again."""
    loose = [
        f"{sub.prog} {'/'.join(action.option_strings) or action.dest}"
        for sub in _subparsers(cli.build_parser(command))
        for action in sub._actions
        if action.type in (int, float)
    ]
    assert not loose, f"unbounded numeric options: {loose}"


def _record_run() -> str:
    RunHistory().save(RunRecord(run_id="20260101-000000-lenet5", model="lenet5", config={"epochs": 1},
                                status="completed", curves={"epoch": [1], "test_acc": [0.5]}))
    return "20260101-000000-lenet5"


@pytest.mark.parametrize("argv", [
    ["graph", "lenet5", "--out", LONG_NAME + ".svg"],
    ["graph", "lenet5", "--out", LONG_NAME + ".json"],
    ["runs", "export", "20260101", "--csv", LONG_NAME + ".csv"],
])
def test_a_300_character_file_name_is_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _record_run()
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot write ")
    assert "file name too long" in err and "unexpected" not in err
    assert list(tmp_path.iterdir()) == []


def test_bench_refuses_a_bad_out_before_measuring(tmp_path, monkeypatch, capsys):
    from explorer.bench import command as bench

    monkeypatch.setattr(bench, "importlib", None)  # running a suite would fail loudly
    assert cli.main(["bench", "graph", "--out", str(tmp_path / (LONG_NAME + ".json"))]) == 1
    assert "file name too long" in capsys.readouterr().err


def test_screenshot_refuses_a_bad_name_before_the_window_opens(tmp_path, monkeypatch, capsys):
    from explorer.app import run_gui

    monkeypatch.chdir(tmp_path)
    assert cli.main(["--screenshot", LONG_NAME + ".png"], gui=run_gui) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "file name too long" in err
    assert list(tmp_path.iterdir()) == []
