"""Two models (or one model at two epochs or runs) on the same input, side by side at
matching stages: the stem, the end of each stage, and the classifier.

Stages are the model's top-level containers and blocks (ResNet's ``layer1``..``layer4``,
a VGG's ``features`` groups); a model without any (LeNet) uses its top-level pooling
layers as stage ends. The stem is the last node before the first stage; the classifier is
the output. Stages pair by position; where both feature maps have the same shape their
difference is measured (mean and max absolute difference, cosine similarity).

A model is named by a spec: ``NAME`` (a registered model with its shipped Fashion-MNIST
or published ImageNet weights when present, else untrained), or ``RUN@EPOCH`` (a run's
weights at that epoch from its time-machine snapshots; ``RUN@last`` for the newest kept).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from explorer.errors import UserError


@dataclasses.dataclass
class Subject:
    """One side of a comparison: a model ready to step, and where its weights came from."""

    label: str
    name: str
    model: nn.Module
    weights: str


def load_subject(spec: str, history=None) -> Subject:
    """The model a spec names, with its weights (see the module docstring).

    Raises:
        UserError: unknown model or run, or an epoch whose weights were not kept.
    """
    if "@" in spec:
        return _run_subject(spec, history)
    from explorer.models import get_model, get_model_info

    info = get_model_info(spec)
    model = get_model(spec)
    weights = "untrained"
    if info.form == "small":
        try:
            from explorer.models.shipped import load_shipped, shipped_entry, unavailable_reason
        except ImportError:
            shipped_entry = None
        if shipped_entry is not None and shipped_entry(spec) is not None:
            load_shipped(model, spec)
            weights = "shipped Fashion-MNIST weights"
        elif shipped_entry is not None and (why := unavailable_reason(spec)) is not None:
            weights = f"{why}; using random weights"
    elif info.weights:
        from explorer.models.weights import load_pretrained

        model, _, weights = load_pretrained(spec, allow_download=False)
    return Subject(label=spec, name=spec, model=model, weights=weights)


def _run_subject(spec: str, history) -> Subject:
    from explorer.train.config import TrainConfig
    from explorer.train.history import RunHistory
    from explorer.train.recipe import build_model
    from explorer.train.runs import find_run
    from explorer.train.snapshots import SnapshotStore, snapshot_folder

    key, _, epoch_text = spec.rpartition("@")
    record = find_run(history if history is not None else RunHistory(), key)
    if not record.checkpoint:
        raise UserError(f"run {record.run_id} kept no checkpoint, so no epoch snapshots")
    store = SnapshotStore(snapshot_folder(record.checkpoint))
    kept = store.weight_epochs()
    if epoch_text == "last":
        if not kept:
            raise UserError(f"run {record.run_id} kept no epoch snapshots")
        epoch = kept[-1]
    else:
        try:
            epoch = int(epoch_text)
        except ValueError:
            raise UserError(f"epoch must be a number or 'last', got {epoch_text!r} in {spec!r}") from None
    model, _ = build_model(TrainConfig.from_dict(record.config))
    store.load_weights(epoch, model)
    label = f"{record.name or record.run_id}@{epoch}"
    return Subject(label=label, name=record.model, model=model, weights=f"run {record.run_id}, epoch {epoch} (fp16 snapshot)")


def _stage_ends(graph) -> list[tuple[str, str, bool]]:
    """``(module path, how, whole)`` per stage end in call order; ``whole`` marks a
    container or block stage (else a pooling layer ends the stage)."""
    modules = graph.modules
    ends: list[tuple[str, bool]] = []
    for path in modules[""].children:
        record = modules[path]
        nested = any(modules[c].kind in ("container", "block") for c in record.children)
        if record.kind == "block" or (record.kind == "container" and nested):
            ends.append((path, True))
            continue
        # A plain run of layers (VGG's ``features``, LeNet's top level): its pools end stages.
        pools = [p for p in ([path] if record.kind == "layer" else record.children)
                 if any(graph.node(n).get("category") == "pool" for n in modules[p].nodes)]
        ends += [(p, False) for p in pools]
    return ends


def stage_points(stepper, graph) -> list[tuple[str, int]]:
    """``(label, node index)`` for the stem (when there is one), each stage end and the
    classifier.

    With whole stages (ResNet's ``layer1``...), everything before the first is the stem
    (ending at its pooling layer, if any); without them (LeNet, VGG) pools end the stages
    and there is no separate stem.
    """
    # Auxiliary heads are in the graph but not in the eval-mode pass the stepper runs.
    ends = [(p, whole) for p, whole in _stage_ends(graph) if any(
        r.module_path == p or r.module_path.startswith(p + ".") for r in stepper.nodes)]
    points: list[tuple[str, int]] = []
    first_whole = next((i for i, (_, whole) in enumerate(ends) if whole), None)
    if first_whole is not None:
        path = ends[first_whole][0]
        first = min(r.index for r in stepper.nodes if r.module_path == path or r.module_path.startswith(path + "."))
        if first > 1:
            points.append(("stem", first - 1))
        ends = ends[first_whole:]
    points += [(path, stepper.index_of(path)) for path, _ in ends]
    points.append(("classifier", len(stepper) - 1))
    return points


def stage_features(model: nn.Module, name: str, image) -> list[tuple[str, torch.Tensor | None]]:
    """``(stage label, output)`` at each of ``stage_points`` of ``model`` (a registered
    model's ``name``) run on ``image`` (a PIL image) on the CPU; the last is the classifier."""
    from explorer.activations.preprocess import preprocess, spec_for_model
    from explorer.activations.stepper import Stepper
    from explorer.graph import build_graph

    x = preprocess(image, spec_for_model(model, name)).tensor
    graph = build_graph(model, tuple(x.shape), name=name)
    stepper = Stepper(model, "cpu")
    stepper.set_input(x)
    out = []
    for label, index in stage_points(stepper, graph):
        stepper.run_to(index)
        out.append((label, stepper.activation()))
    return out


def _features(subject: Subject, image) -> tuple[list[tuple[str, torch.Tensor]], list[float]]:
    out = stage_features(subject.model, subject.name, image)
    logits = out[-1][1]
    probs = torch.softmax(logits.flatten().float(), 0).tolist() if logits is not None else []
    return out, probs


def pair_stages(fa: list, fb: list) -> tuple[list[tuple[Any, Any]], dict[str, list[str]]]:
    """Matching stages of two ``stage_features`` lists: stem with stem, classifier with
    classifier, the stages between by position. Returns the pairs in order and the labels
    of each side's stages left without a partner."""
    pairs = [(fa[0], fb[0])] if fa[0][0] == fb[0][0] == "stem" else []
    inner_a = [f for f in fa if f[0] not in ("stem", "classifier")]
    inner_b = [f for f in fb if f[0] not in ("stem", "classifier")]
    matched = min(len(inner_a), len(inner_b))
    pairs += list(zip(inner_a, inner_b))
    pairs.append((fa[-1], fb[-1]))
    return pairs, {"a": [f[0] for f in inner_a[matched:]], "b": [f[0] for f in inner_b[matched:]]}


def difference(ta: torch.Tensor | None, tb: torch.Tensor | None) -> dict[str, Any] | None:
    """``{"mean_abs_diff", "max_abs_diff", "cosine", "diff"}`` of two equally shaped
    outputs (``diff`` = |A - B|), or None when the shapes differ."""
    if ta is None or tb is None or ta.shape != tb.shape:
        return None
    diff = (ta.float() - tb.float()).abs()
    return {
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff": float(diff.max()),
        "cosine": float(torch.nn.functional.cosine_similarity(ta.flatten().float(), tb.flatten().float(), dim=0)),
        "diff": diff,
    }


def compare(a: Subject, b: Subject, image) -> dict[str, Any]:
    """Stage-by-stage comparison of two subjects on ``image`` (a PIL image).

    Returns:
        ``{"a", "b", "stages": [{"a_stage", "b_stage", "a_shape", "b_shape",
        "mean_abs_diff", "max_abs_diff", "cosine"}], "top1": {"a", "b"}}``; the difference
        fields are None where the shapes differ. ``maps`` (not JSON) holds the tensors.
    """
    fa, pa = _features(a, image)
    fb, pb = _features(b, image)
    pairs, unmatched = pair_stages(fa, fb)
    stages, maps = [], []
    for (la, ta), (lb, tb) in pairs:
        row: dict[str, Any] = {
            "a_stage": la, "b_stage": lb,
            "a_shape": list(ta.shape) if ta is not None else None,
            "b_shape": list(tb.shape) if tb is not None else None,
            "mean_abs_diff": None, "max_abs_diff": None, "cosine": None,
        }
        found = difference(ta, tb)
        if found is not None:
            row.update({k: v for k, v in found.items() if k != "diff"})
            maps.append((f"{la} vs {lb}", ta, tb, found["diff"]))
        stages.append(row)
    top = {side: (max(range(len(p)), key=p.__getitem__) if p else None) for side, p in (("a", pa), ("b", pb))}
    return {
        "a": {"label": a.label, "model": a.name, "weights": a.weights},
        "b": {"label": b.label, "model": b.name, "weights": b.weights},
        "stages": stages,
        "top1": top,
        "unmatched": unmatched,
        "maps": maps,
    }
