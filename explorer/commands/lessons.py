"""`cnn-explorer lessons [--json]` and `cnn-explorer lessons run NAME [--json] [--quick] [--ship]`.

The first lists every lesson: its claim, source, the paper's figure and the numbers measured
here (a live lesson computes them now; an experiment shows its shipped result). The second
runs one again: a live lesson computes; an experiment trains, with progress on stderr, and
is shown beside the shipped result. ``--ship`` writes the run as the shipped result
(``resources/lessons/NAME.json``), with the command, time and load average it was made with.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from explorer.errors import UserError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lessons", help="the classic claims about CNN design, each measured on the real models",
        description="List the lessons (claim, source, the paper's figure and ours), or run one "
        "again with `lessons run NAME`.",
    )
    p.add_argument("action", nargs="?", choices=("list", "run"), default="list",
                   help="list (default) or run one lesson")
    p.add_argument("name", nargs="?", metavar="NAME", help="the lesson to run (its name or number)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--quick", action="store_true", help="run: a few steps only (a smoke test, not a measurement)")
    p.add_argument("--ship", action="store_true",
                   help="run: write the result as the lesson's shipped result under resources/lessons")
    p.set_defaults(run=run)


def _figures(outcome: Any) -> list[dict[str, Any]]:
    return [{"label": f.label, "ours": f.ours, "paper": f.paper, "unit": f.unit} for f in outcome.figures]


def lesson_entry(lesson: Any, outcome: Any, **extra: Any) -> dict[str, Any]:
    """One lesson as the JSON output gives it."""
    return {
        "name": lesson.name, "number": lesson.number, "title": lesson.title, "kind": lesson.kind,
        "claim": lesson.claim, "sources": [str(s) for s in lesson.sources], "paper_figure": lesson.paper_figure,
        "look_at": lesson.look_at,
        "figures": _figures(outcome) if outcome is not None else [],
        "verdict": outcome.verdict if outcome is not None else "no shipped result: run it with `cnn-explorer lessons run "
                                                             f"{lesson.name}`",
        **extra,
    }


def _value(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip()


def _print_entry(entry: dict[str, Any]) -> None:
    print(f"{entry['number']:>2}. {entry['title']} [{entry['name']}, {entry['kind']}]")
    print(f"    claim:   {entry['claim']}")
    print(f"    source:  {'; '.join(entry['sources'])} ({entry['paper_figure']})")
    for figure in entry["figures"]:
        paper = f"   paper: {_value(figure['paper'], figure['unit'])}" if figure["paper"] is not None else ""
        print(f"    - {figure['label']}: ours {_value(figure['ours'], figure['unit'])}{paper}")
    print(f"    verdict: {entry['verdict']}")


def run(args: argparse.Namespace) -> int:
    from explorer.lessons import all_lessons, get_lesson, run_lesson, shipped_outcome

    if args.action == "list":
        if args.name:
            raise UserError("`lessons` lists them all; run one with `cnn-explorer lessons run NAME`")
        entries = [lesson_entry(lesson, shipped_outcome(lesson)) for lesson in all_lessons()]
        if args.json:
            print(json.dumps(entries, indent=2))
        else:
            for entry in entries:
                _print_entry(entry)
                print()
        return 0
    if not args.name:
        raise UserError("name the lesson to run: `cnn-explorer lessons run NAME` (`cnn-explorer lessons` lists them)")
    lesson = get_lesson(args.name)
    if args.ship and (args.quick or lesson.experiment is None):
        raise UserError("--ship writes a full experiment's result: not with --quick, and only for a lesson that trains")
    shown = {"value": -1}

    def progress(fraction: float, text: str) -> None:
        percent = int(fraction * 100)
        if percent != shown["value"]:
            shown["value"] = percent
            print(f"\r{lesson.name}: {percent:3d}% {text[:60]:<60}", end="", file=sys.stderr, flush=True)

    load_start = os.getloadavg()[0]
    outcome, result, seconds = run_lesson(lesson, progress, quick=args.quick)
    if result is not None:
        print(file=sys.stderr)
    load_end = os.getloadavg()[0]
    if args.ship:
        _ship(lesson, result, seconds, (load_start, load_end))
    entry = lesson_entry(lesson, outcome, seconds=round(seconds, 2), load_average=[load_start, load_end],
                         quick=args.quick)
    if args.json:
        print(json.dumps(entry, indent=2))
    else:
        _print_entry(entry)
        print(f"    ran in {seconds:.1f} s (load average {load_start:.2f} at the start, {load_end:.2f} at the end)")
    return 0


def _ship(lesson: Any, result: dict[str, Any], seconds: float, load: tuple[float, float]) -> None:
    from explorer.files import write_atomic
    from explorer.lessons.base import dumps, shipped_document, shipped_path
    from explorer.lessons.training import DATA_NOTE

    document = shipped_document(lesson.name, result, command=f"cnn-explorer lessons run {lesson.name} --ship",
                                seconds=seconds, load_average=load, data=DATA_NOTE)
    path = shipped_path(lesson.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, dumps(document))
    print(f"wrote {path}", file=sys.stderr)
