"""Lesson 3: global average pooling instead of fully connected layers (NiN §3.2;
GoogLeNet §5).

Where the parameters sit: the share held by fully connected layers in AlexNet and VGG-16
against NiN and GoogLeNet, counted on the registry's models (meta device, the layers an
inference pass runs). Then GAP on a real feature map: the shipped ``nin_small`` on a
built-in sample, whose last conv outputs one map per class; the mean of each map over
H x W is the class's score, and the model's logits are exactly those means.
"""

from __future__ import annotations

import functools
from typing import Any

from explorer.lessons.base import Figure, Lesson, Link, Outcome, Source, Table

_MODELS = ("alexnet", "alexnet_split", "vgg16", "nin", "googlenet")
_GAP_MODEL = "nin_small"
# AlexNet abstract: "The neural network, which has 60 million parameters..."; VGG Table 2:
# 138 million for configuration D (VGG-16); GoogLeNet §1: "uses 12x fewer parameters than
# the winning architecture of Krizhevsky et al. [9] from two years ago".
_PAPER_TOTALS = {"alexnet": "60M", "vgg16": "138M"}
_PAPER_RATIO = 12
# GoogLeNet Table 1's parameter column sums to about 6.8M (ARCHITECTURES.md); AlexNet's "60
# million" divided by it.
_TABLE1_SUM = 6.8e6
_ALEXNET_PAPER = 60e6


def _inference_counts(name: str) -> dict[str, Any]:
    """Parameters of the layers one inference pass of ``name`` runs (auxiliary heads, which
    run only in training, are left out) and those of its Linear layers."""
    import torch
    from torch import nn

    from explorer.models import get_model_info
    from explorer.models.meta import shapes_only
    from explorer.models.stats import meta_model

    model = meta_model(name).eval()
    ran: list[nn.Module] = []
    inputs: dict[str, tuple[int, ...]] = {}  # each leaf's input shape, by module path

    def record(path: str) -> Any:
        def hook(module: nn.Module, args: Any, _out: Any) -> None:
            ran.append(module)
            if args and isinstance(args[0], torch.Tensor):
                inputs.setdefault(path, tuple(args[0].shape))
        return hook

    handles = [m.register_forward_hook(record(path)) for path, m in model.named_modules()
               if next(m.children(), None) is None]
    try:
        with torch.no_grad(), shapes_only():
            model(torch.zeros(get_model_info(name).input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    unique = list({id(m): m for m in ran}.values())
    total = sum(p.numel() for m in unique for p in m.parameters())
    linear = [m for m in unique if isinstance(m, nn.Linear)]
    fc = sum(p.numel() for m in linear for p in m.parameters())
    all_params = sum(p.numel() for p in model.parameters())
    return {"name": name, "title": get_model_info(name).title, "total": total, "fc": fc, "fc_layers": len(linear),
            "training_only": all_params - total, "model": model, "inputs": inputs}


def _flattened_head(counts: dict[str, Any]) -> tuple[int, int, tuple[int, ...]]:
    """GoogLeNet's head as built (GAP, then FC) against a flatten + FC of the same map:
    (FC parameters as built, FC parameters flattened, the map's shape, as the counting pass
    fed it to the pooling)."""
    from torch import nn

    from explorer.models.meta import meta_device

    model, shape = counts["model"], counts["inputs"]["avgpool"]
    with meta_device():
        flat = nn.Linear(shape[1] * shape[2] * shape[3], model.fc.out_features)
    return (sum(p.numel() for p in model.fc.parameters()), sum(p.numel() for p in flat.parameters()), shape)


def _gap_on_real_map() -> dict[str, Any]:
    """``nin_small`` (shipped weights) on the default built-in sample: its class maps (the
    input to global average pooling), their means and the model's logits."""
    import torch

    from explorer.activations.preprocess import preprocess
    from explorer.activations.samples import load_sample
    from explorer.loading import load_model

    loaded = load_model(_GAP_MODEL)
    model = loaded.module
    seen: dict[str, torch.Tensor] = {}
    handle = model.avgpool.register_forward_hook(lambda _m, args, out: seen.update(maps=args[0], pooled=out))
    sample = load_sample()
    try:
        with torch.no_grad():
            logits = model(preprocess(sample.image, loaded.input_spec).tensor)[0]
    finally:
        handle.remove()
    maps = seen["maps"][0]
    means = maps.mean(dim=(1, 2))
    return {"maps": maps, "means": means, "pooled": seen["pooled"][0].flatten(), "logits": logits,
            "classes": loaded.class_names, "weights": loaded.weights.label(),
            "sample": sample.source.removeprefix("sample: ")}


@functools.cache
def demonstrate() -> Outcome:
    import torch

    counts = {name: _inference_counts(name) for name in _MODELS}
    alex, split, vgg, nin, google = (counts[n] for n in _MODELS)
    ratio = alex["total"] / google["total"]
    head, flat, head_shape = _flattened_head(google)
    gap = _gap_on_real_map()
    gap_diff = float((gap["means"] - gap["pooled"]).abs().max())
    logit_diff = float((gap["means"] - gap["logits"]).abs().max())
    top = int(gap["logits"].argmax())
    probabilities = torch.softmax(gap["logits"], 0)

    figures = (
        Figure("AlexNet parameters", alex["total"], _PAPER_TOTALS["alexnet"]),
        Figure(f"AlexNet: share in its {alex['fc_layers']} FC layers", round(100 * alex["fc"] / alex["total"], 1), unit="%"),
        Figure("VGG-16 parameters", vgg["total"], _PAPER_TOTALS["vgg16"]),
        Figure(f"VGG-16: share in its {vgg['fc_layers']} FC layers", round(100 * vgg["fc"] / vgg["total"], 1), unit="%"),
        Figure("NiN: share in FC layers", round(100 * nin["fc"] / nin["total"], 1), 0, "%"),
        Figure("GoogLeNet (inference, no aux heads): share in its FC layer",
               round(100 * google["fc"] / google["total"], 1), unit="%"),
        Figure("AlexNet ÷ GoogLeNet parameters", round(ratio, 2), _PAPER_RATIO, "×"),
        Figure(f"{_GAP_MODEL}: logits − mean of each class map over H×W (largest)", f"{logit_diff:.2g}", 0),
    )
    fc_heavy = alex["fc"] > alex["total"] / 2 and vgg["fc"] > vgg["total"] / 2 and nin["fc"] == 0
    twelve = abs(ratio - _PAPER_RATIO) / _PAPER_RATIO < 0.1
    verdict = (
        f"{'Reproduced' if fc_heavy else 'Not reproduced'} for where the parameters sit; "
        f"{'reproduced' if twelve else 'not reproduced'} for GoogLeNet's '12×'. AlexNet's {alex['fc_layers']} FC layers hold "
        f"{alex['fc']:,} of its {alex['total']:,} parameters ({100 * alex['fc'] / alex['total']:.1f}%), VGG-16's "
        f"{vgg['fc']:,} of {vgg['total']:,} ({100 * vgg['fc'] / vgg['total']:.1f}%); NiN has no FC layer and "
        f"GoogLeNet's one FC after global average pooling holds {google['fc']:,} of {google['total']:,} "
        f"({100 * google['fc'] / google['total']:.1f}%). AlexNet has {ratio:.1f}× GoogLeNet's parameters here "
        f"({'about' if twelve else 'not'} 12×; {split['total'] / google['total']:.1f}× against the two-GPU AlexNet); the paper's own Table 1 "
        f"sums to about {_TABLE1_SUM / 1e6:.1f}M, which gives {_ALEXNET_PAPER / _TABLE1_SUM:.1f}× against its "
        f"'60 million' too. "
        f"In {_GAP_MODEL} the logits are the class maps' means (largest difference {logit_diff:.2g})."
    )
    rows = tuple(
        (c["title"], f"{c['total']:,}", f"{c['fc']:,}", c["fc_layers"], f"{100 * c['fc'] / c['total']:.1f}%",
         f"{c['training_only']:,}" if c["training_only"] else "")
        for c in counts.values()
    )
    maps = gap["maps"]
    gap_rows = tuple(
        (gap["classes"][i] if i < len(gap["classes"]) else str(i),
         "  ".join(f"{v:.3f}" for v in maps[i].flatten().tolist()), f"{float(gap['means'][i]):.4f}",
         f"{float(gap['logits'][i]):.4f}", f"{float(probabilities[i]):.3f}")
        for i in range(maps.shape[0])
    )
    tables = (
        Table("parameters an inference pass uses, and the share in fully connected layers (registry's models)",
              ("model", "parameters", "in FC layers", "Linear modules", "FC share", "training-only (aux heads)"), rows),
        Table(f"{_GAP_MODEL} on the built-in sample {gap['sample']}: each class map ({maps.shape[1]}×{maps.shape[2]}) "
              "averaged is the class's logit",
              ("class", "the map's values", "mean over H×W", "logit", "probability"), gap_rows),
        Table("GoogLeNet's head: global average pooling then FC, against flatten then FC",
              ("head", "map", "FC parameters"),
              (("GAP → FC (as built)", "×".join(map(str, head_shape[1:])), f"{head:,}"),
               ("flatten → FC", "×".join(map(str, head_shape[1:])), f"{flat:,}"))),
    )
    notes = (
        (f"GoogLeNet's two auxiliary heads ({google['training_only']:,} parameters, mostly FC) run only in "
         "training and are dropped at inference (§5), so they are left out of its count."),
        (f"12× would need GoogLeNet at about {alex['total'] / _PAPER_RATIO / 1e6:.1f}M parameters, or AlexNet "
         f"at about {_PAPER_RATIO * google['total'] / 1e6:.0f}M."),
        (f"{_GAP_MODEL} predicts '{gap['classes'][top]}' ({float(probabilities[top]):.2f}) with its weights "
         f"({gap['weights']}); global average pooling holds no parameters (NiN §3.2), and the pooled values equal "
         f"the means (largest difference {gap_diff:.2g})."),
    )
    return Outcome(figures=figures, verdict=verdict, tables=tables, notes=notes)


LESSON = Lesson(
    name="global-average-pooling",
    number=3,
    title="Global average pooling instead of FC layers",
    claim=("Fully connected layers hold most of a classic CNN's parameters; averaging each final feature map "
           "over its grid (global average pooling) replaces them with no parameters at all."),
    sources=(Source("Lin, Chen & Yan 2014 (Network in Network)", "§3.2"),
             Source("Szegedy et al. 2015 (GoogLeNet)", "§1, §5"),
             Source("Krizhevsky, Sutskever & Hinton 2012 (AlexNet)", "abstract")),
    paper_figure="NiN §3.2; GoogLeNet §1 ('12× fewer parameters')",
    look_at=("The FC share column: about nine tenths of AlexNet and VGG-16 against nothing in NiN. Then the "
             "class maps: each logit is its map's mean. In the graph, compare AlexNet's classifier with "
             "GoogLeNet's average pool and single FC."),
    links=(
        Link("graph", "alexnet", "AlexNet: the FC classifier", node="fc6"),
        Link("graph", "googlenet", "GoogLeNet: global average pooling, then one FC", node="avgpool"),
        Link("maps", _GAP_MODEL, "NiN (Fashion-MNIST): the class maps before pooling", node="block4.relu3"),
    ),
    demonstrate=demonstrate,
)
