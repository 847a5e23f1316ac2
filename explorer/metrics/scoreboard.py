"""The zoo scoreboard's data: accuracy against compute, bubble size = parameters.

Two panels, never mixed on one accuracy axis:

- ``reference``: ImageNet-1K top-1 of every classification model torchvision publishes,
  read from the weights metadata that ships inside the torchvision package (works offline;
  it is torchvision's figure, labelled so). Compute is torchvision's ``_ops`` figure, in
  GFLOPs as torchvision and the papers count them: one multiply-add is one operation,
  which this app calls a MAC (``cnn-explorer models`` shows FLOPs = 2 x MACs).
- ``small``: Fashion-MNIST test accuracy of the small forms: the shipped weights
  (``explorer.models.shipped``, when that module and a manifest are present) and each of
  the user's runs with a finished epoch, marked by ``source`` (``shipped`` or ``run``).
  Compute is this app's own MAC count of the registered form at its default width.
"""

from __future__ import annotations

from typing import Any

REFERENCE_SOURCE = "torchvision weights metadata (ImageNet-1K top-1, torchvision's figure)"


def reference_points() -> list[dict[str, Any]]:
    """One point per torchvision classification model, with its DEFAULT weights' figures."""
    import torchvision
    from torchvision.models import get_model_weights, list_models

    points = []
    for name in list_models(module=torchvision.models):
        weights = get_model_weights(name).DEFAULT
        meta = weights.meta
        metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
        if "acc@1" not in metrics:
            continue
        points.append({
            "name": name,
            "weights": str(weights).split(".", 1)[-1],
            "top1": metrics["acc@1"] / 100,
            "top5": metrics.get("acc@5", float("nan")) / 100,
            "gmacs": float(meta.get("_ops", float("nan"))),
            "params": int(meta.get("num_params", 0)),
            "source": "torchvision",
        })
    return points


def _shipped_accuracy(name: str) -> float | None:
    try:
        # Lazily: the shipped-weights module may not exist in every build.
        from explorer.models.shipped import shipped_entry
    except ImportError:
        return None
    entry = shipped_entry(name)
    accuracy = getattr(entry, "test_accuracy", None) if entry is not None else None
    return float(accuracy) if isinstance(accuracy, (int, float)) else None


def small_points(history=None) -> list[dict[str, Any]]:
    """Shipped small forms and the user's runs (``history``: a RunHistory; default the
    app's own run folder)."""
    from explorer.errors import UserError
    from explorer.models import list_models, model_stats
    from explorer.train.history import RunHistory
    from explorer.train.runs import run_status

    stats: dict[str, dict[str, Any]] = {}

    def facts(name: str) -> dict[str, Any] | None:
        if name not in stats:
            try:
                stats[name] = model_stats(name)
            except UserError:
                # A run of a model this version no longer registers (or a test's own
                # module): there is nothing to measure its compute on, so it gets no point.
                stats[name] = None
        return stats[name]

    points = []
    try:
        from explorer.models.shipped import unavailable_reason
    except ImportError:
        unavailable_reason = None
    # Bad manifest entries warn as the manifest is read; an unusable one warns here, and
    # the runs' points are shown all the same.
    why = unavailable_reason() if unavailable_reason is not None else None
    if why is not None:
        import warnings

        warnings.warn(why, stacklevel=2)
    for name in list_models(form="small"):
        accuracy = _shipped_accuracy(name)
        s = facts(name)
        if accuracy is not None and s is not None:
            points.append({"name": name, "test_acc": accuracy, "gmacs": s["macs"] / 1e9, "params": s["params"],
                           "source": "shipped"})
    history = history if history is not None else RunHistory()
    for record in history.list_runs():
        accuracy = record.final.get("test_acc")
        s = facts(record.model)
        if not isinstance(accuracy, (int, float)) or s is None:
            continue
        points.append({
            "name": record.model,
            "run_id": record.run_id,
            "run_name": record.name,
            "status": run_status(record),
            "test_acc": float(accuracy),
            "gmacs": s["macs"] / 1e9,
            "params": s["params"],
            "width_mult": record.config.get("width_mult"),
            "source": "run",
        })
    return points


def scoreboard(history=None) -> dict[str, Any]:
    """Both panels with their axis labels."""
    return {
        "reference": {"label": REFERENCE_SOURCE, "x": "GMACs", "y": "ImageNet-1K top-1", "points": reference_points()},
        "small": {"label": "Fashion-MNIST test accuracy (shipped weights and your runs)", "x": "GMACs",
                  "y": "test accuracy", "points": small_points(history)},
    }
