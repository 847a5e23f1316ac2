"""`cnn-explorer runs`: the table of this app's training runs, renaming, CSV export.

Only the records in this app's run folder (``settings.user_data_dir()/runs``) are listed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from explorer.train.records import IMAGES_PER_S, TEST_ACC


def add_parser(subparsers: Any) -> None:
    """Add the ``runs`` subcommand (with ``export`` and ``rename``)."""
    p = subparsers.add_parser(
        "runs",
        help="list training runs: hyperparameters, final metrics, status",
        description="List this app's training runs, oldest first. Status is completed (all "
        "epochs), stopped (by the user), failed, running, or interrupted (the process died "
        "mid-run). RUN below is a run id, a unique prefix of one, or a run's name.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    e = actions.add_parser("export", help="write a run's per-epoch curves as CSV")
    e.add_argument("run_key", metavar="RUN")
    e.add_argument("--csv", metavar="FILE", required=True, help="CSV file to write")
    r = actions.add_parser("rename", help="give a run a name (empty string clears it)")
    r.add_argument("run_key", metavar="RUN")
    r.add_argument("new_name", metavar="NAME")
    p.set_defaults(run=run_runs)


def _table(rows: list[dict[str, Any]]) -> str:
    headers = ["run", "name", "model", "status", "epochs", "optimizer", "lr", "batch", "test acc", "img/s"]
    lines = []
    for r in rows:
        o, f = r["options"], r["final"]
        acc, rate = f[TEST_ACC], f[IMAGES_PER_S]
        lines.append([
            r["run_id"],
            r["name"] or "-",
            r["model"],
            r["status"],
            f"{r['epochs_done']}/{o['epochs']}",
            str(o["optimizer"]),
            f"{o['lr']:g}" if isinstance(o["lr"], (int, float)) else "?",
            str(o["batch_size"]),
            f"{acc:.4f}" if isinstance(acc, (int, float)) else "-",
            f"{rate:.0f}" if isinstance(rate, (int, float)) else "-",
        ])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(headers)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(l, widths)).rstrip() for l in [headers, *lines])


def run_runs(args: argparse.Namespace) -> int:
    from explorer.json_output import finite_json
    from explorer.train.history import RunHistory
    from explorer.train.runs import export_curves_csv, find_run, run_row

    history = RunHistory()
    if args.action == "export":
        record = find_run(history, args.run_key)
        path = export_curves_csv(record, args.csv)
        result = {"run_id": record.run_id, "csv": str(path), "epochs": record.curves.epochs}
    elif args.action == "rename":
        record = history.rename(find_run(history, args.run_key).run_id, args.new_name)
        result = {"run_id": record.run_id, "name": record.name}
    else:
        rows = [run_row(r) for r in history.list_runs()]
        if args.json:
            print(json.dumps(finite_json(rows), indent=2))
        elif rows:
            print(_table(rows))
        else:
            print(f"no runs yet in {history.folder}")
        return 0
    if args.json:
        print(json.dumps(result))
    else:
        print(" ".join(f"{k}: {v}" for k, v in result.items()))
    return 0
