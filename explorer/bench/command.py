"""`cnn-explorer bench SUITE [--json] [--quick] [--out FILE]`."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from explorer.bench import SUITES
from explorer.commands.options import EPOCHS, SUBSET, int_range

# Suites that train for minutes to hours: run only when named, never by "all".
LONG_SUITES = ("recipes",)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="run the speed benchmarks (JSON out)",
        description="Measure the speed goals; each check is a value against its limit, as a "
        "ratio to a baseline measured in the same run where possible.",
    )
    p.add_argument("suite", choices=(*SUITES, *LONG_SUITES, "all"))
    p.add_argument("--quick", action="store_true", help="fewer repetitions and models")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--out", metavar="FILE.json", help="also write the JSON results here")
    p.add_argument("--repeats", type=int_range(1, 100), metavar="N",
                   help="startup suite: fresh processes per figure, the median reported (default 5, 1 with --quick)")
    recipes = p.add_argument_group("recipes suite (trains; subsets allowed)")
    recipes.add_argument("--models", nargs="+", metavar="NAME", help="small forms to train (default: all / one per family)")
    recipes.add_argument("--presets", nargs="+", metavar="NAME", help="'default' (each model's own recipe) and/or preset names")
    recipes.add_argument("--epochs", type=EPOCHS, metavar="N", help="override the epochs (floors apply only at 5)")
    recipes.add_argument("--data-dir", metavar="DIR", help="folder holding FashionMNIST/raw")
    recipes.add_argument("--subset", type=SUBSET, metavar="N",
                         help="train and test on the first N images of each split (floors need the whole set)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from explorer.exports import check_export_path, write_export

    if args.out:
        check_export_path(args.out)  # refused before minutes of measuring, not after
    suites = SUITES if args.suite == "all" else (args.suite,)
    results = []
    for suite in suites:
        module = importlib.import_module(f"explorer.bench.{suite}")
        print(f"running bench {suite} ...", file=sys.stderr)
        if suite in LONG_SUITES:
            results.append(module.run(quick=args.quick, data_dir=args.data_dir, models=args.models,
                                      presets=args.presets, epochs=args.epochs, subset=args.subset))
        elif suite == "startup":
            results.append(module.run(quick=args.quick, repeats=args.repeats))
        else:
            results.append(module.run(quick=args.quick))
    payload = results[0] if len(results) == 1 else {"suites": results}
    text = json.dumps(payload, indent=2)
    if args.out:
        write_export(args.out, text + "\n")  # atomic: a full disk keeps the previous results
    if args.json:
        print(text)
    else:
        for result in results:
            print(f"[{result['suite']}]")
            for check in result["checks"]:
                passed = check.get("passed")
                # A value without a limit is reported, not skipped (bench recipes' presets).
                mark = {True: "ok  ", False: "FAIL"}.get(passed, "skip" if check.get("value") is None else "info")
                limit = check.get("limit")
                limit_text = f" (limit {limit} {check.get('unit', '')})" if limit is not None else ""
                value = check.get("value")
                value_text = "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
                print(f"  {mark} {check['name']}: {value_text} {check.get('unit', '')}{limit_text}"
                      + (f"  [{check['note']}]" if check.get("note") else ""))
    failed = [c["name"] for r in results for c in r["checks"] if c.get("passed") is False]
    return 1 if failed else 0
