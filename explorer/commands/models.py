"""`cnn-explorer models` (the zoo with counts) and `cnn-explorer summary NAME` (per layer).

Counts are measured on the meta device: no weights are allocated and nothing is computed,
so even the VGGs cost milliseconds.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from explorer import snapshots
from explorer.commands.model_source import add_model_arguments, model_source
from explorer.errors import UserError
from explorer.numbers import human

FORMS = ("reference", "small")


def add_parser(subparsers: Any) -> None:
    """Add the ``models`` and ``summary`` subcommands."""
    p = subparsers.add_parser(
        "models",
        help="list every registered model with params and FLOPs",
        description="List the registered models with input shape, trainable parameters and "
        "FLOPs of one inference pass (a multiply-add counts as 2 FLOPs; MACs = FLOPs / 2, "
        "the unit papers usually call FLOPs).",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--form", choices=FORMS, help="only reference or only small forms")
    p.add_argument("--family", metavar="F", help="only this family, e.g. ResNet (any case)")
    p.set_defaults(run=run_models)

    s = subparsers.add_parser(
        "summary",
        help="per-layer output shape, parameters and FLOPs",
        description="Per-layer output shape, parameters and FLOPs of one inference pass of "
        "NAME on its input shape, with totals.",
    )
    add_model_arguments(s, weights=False)
    s.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    s.set_defaults(run=run_summary)


def _catalog() -> Any:
    """The registry as the commands read it: the shipped snapshot when it is current (no
    torch import), else the live registry (a warning says why)."""
    return snapshots.usable_catalog()


def _resolve_family(family: str | None, families: list[str]) -> str | None:
    if family is None:
        return None
    for known in families:
        if known.lower() == family.lower():
            return known
    raise UserError(f"unknown family {family!r}; families: {', '.join(families)}")


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _tuple_shape(shape: Any) -> Any:
    """A shape read back from JSON (lists) as the tuples ``_shape`` prints."""
    return tuple(_tuple_shape(s) for s in shape) if isinstance(shape, list) else shape


def _shape(shape: Any) -> str:
    if isinstance(shape, tuple) and shape and all(isinstance(d, int) for d in shape):
        return "x".join(str(d) for d in shape)
    if isinstance(shape, tuple) and shape:
        return ", ".join(_shape(s) for s in shape)
    return "-"


def run_models(args: argparse.Namespace) -> int:
    """Print the zoo as a table or JSON."""
    catalog = _catalog()
    if catalog is not None:
        names = catalog.names(form=args.form, family=_resolve_family(args.family, catalog.families()))
        stats = [catalog.get(name)["stats"] for name in names]
    else:
        from explorer.models import get_model_info, list_models, model_stats

        families = list(dict.fromkeys(get_model_info(n).family for n in list_models()))
        names = list_models(form=args.form, family=_resolve_family(args.family, families))
        stats = [model_stats(name) for name in names]
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    headers = ["name", "family", "form", "input", "params", "FLOPs", "MACs", "year"]
    rows = [
        [
            s["name"],
            s["family"],
            s["form"],
            _shape(tuple(s["input_shape"][1:])),
            f"{s['params']:,}",
            human(s["flops"]),
            human(s["macs"]),
            str(s["year"]),
        ]
        for s in stats
    ]
    print(_table(headers, rows, right={4, 5, 6}))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Print one model's per-layer table or JSON."""
    source = model_source(args)
    catalog = _catalog()
    entry = catalog.get(source) if catalog is not None else None
    if entry is None:  # not in the zoo's snapshot: a torchvision classifier, a file, or no snapshot
        from explorer.commands.snapshots import catalog_entry

        entry = catalog_entry(source)
    summary = entry["summary"]
    rows = summary["layers"]
    total_params, trainable, total_flops = summary["total_params"], summary["trainable_params"], summary["total_flops"]
    if args.json:
        payload = {
            "name": entry["name"],
            "title": entry["title"],
            "input_shape": entry["input_shape"],
            "layers": rows,
            "total_params": total_params,
            "trainable_params": trainable,
            "total_flops": total_flops,
            "total_macs": total_flops // 2,
        }
        print(json.dumps(payload, indent=2))
        return 0
    headers = ["layer", "type", "output", "params", "FLOPs"]
    body = [
        [
            r["path"],
            r["type"],
            _shape(_tuple_shape(r["output_shape"])),
            f"{r['params']:,}" if r["params"] else "-",
            human(r["flops"]) if r["flops"] else "-",
        ]
        for r in rows
    ]
    print(f"{entry['title']} ({entry['name']}), input {_shape(tuple(entry['input_shape']))}")
    print(_table(headers, body, right={3, 4}))
    print(
        f"total: {trainable:,} trainable parameters"
        + (f" ({total_params:,} with frozen)" if total_params != trainable else "")
        + f", {human(total_flops)}FLOPs ({human(total_flops // 2)}MACs) per image"
    )
    if entry["aux_heads"]:
        print(f"note: the {entry['aux_heads']} auxiliary head(s) run only in training and are not counted above")
    return 0
