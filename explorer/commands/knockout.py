"""`cnn-explorer knockout NAME --remove SPEC [--remove SPEC ...] [--weights FILE|shipped]
[--images N] [--data-dir DIR] [--json]`.

Switch parts of a small model off (a channel, an Inception branch, a residual shortcut, a
dense layer's input group, an auxiliary head) and compare the accuracy on the first N
Fashion-MNIST test images with the intact network's. The weights are never changed.
"""

from __future__ import annotations

import argparse
import json

from explorer.commands.model_source import add_model_arguments, notices_of, open_model
from explorer.commands.options import int_range


def add_parser(subparsers) -> None:
    from explorer.explain.knockout import SPEC_FORMS

    p = subparsers.add_parser(
        "knockout", help="switch parts off: accuracy before and after",
        description="Zero parts of model NAME (a small form, or any model that takes "
        "28x28 Fashion-MNIST) and print the accuracy on the test split before and after. "
        "SPEC forms: " + "; ".join(SPEC_FORMS) + ".",
    )
    add_model_arguments(p)
    p.add_argument("--remove", metavar="SPEC", action="append", required=True,
                   help="what to switch off; repeat for several")
    p.add_argument("--images", metavar="N", type=int_range(1, 100_000), default=512,
                   help="test images to evaluate on (default 512)")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding FashionMNIST/raw")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from explorer.explain.held_out import check_fashion_model, held_out
    from explorer.explain.knockout import KnockoutLab
    from explorer.graph import build_graph

    model_loaded = open_model(args)
    info, model, trained = model_loaded.info, model_loaded.module, model_loaded.trained
    check_fashion_model(info)
    notices = notices_of(model_loaded)
    lab = KnockoutLab(model, build_graph(model, info.input_shape, name=args.name))
    for spec in args.remove:  # a bad spec fails before the data is read
        lab.add(spec)
    data = held_out(model_loaded.source, args.data_dir, args.images)
    x, labels = data.x, data.labels

    def batches():
        for start in range(0, len(labels), 256):
            yield x[start:start + 256], labels[start:start + 256]

    before = lab.accuracy(batches, knocked_out=False)
    after = lab.accuracy(batches)
    if not trained:
        notices.append("untrained weights: random parameters, so accuracy is chance either way")
    payload = {
        "model": args.name,
        "trained": trained,
        "images": len(labels),
        "knockouts": [{"spec": k.spec, "kind": k.kind, "module": k.module, "description": k.description,
                       **({"note": k.note} if k.note else {})} for k in lab.knockouts],
        "accuracy_before": before,
        "accuracy_after": after,
        "change": after - before,
        "notices": notices,
    }
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"model: {info.title} ({args.name}), {'trained' if trained else 'untrained'} weights, "
          f"{len(labels)} test images")
    for notice in notices:
        print(f"note:  {notice}")
    for k in lab.knockouts:
        print(f"off:   {k.description}" + (f" ({k.note})" if k.note else ""))
    print(f"accuracy: {before * 100:.2f}% -> {after * 100:.2f}% ({(after - before) * 100:+.2f} points)")
    return 0
