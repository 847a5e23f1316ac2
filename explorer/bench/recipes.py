"""`cnn-explorer bench recipes`: which recipe teaches which family, and how fast.

Trains preset x model pairs on the Fashion-MNIST copy in ``data_dir`` (the 8,226/6,978
subset on the development machine) and reports test accuracy and seconds per pair. The
``default`` column is each model's own recipe (what ``cnn-explorer train NAME`` uses) at
five epochs, checked against the floors: 0.80 test accuracy for the ReLU-era small forms,
0.75 for the two LeNets. The presets run at their own epoch counts and are reported
without a limit; a pair the preset does not suit (``preset_fit``) is skipped with that
line, since training it would only show chance.

Every pair trains from the same seed on the same preloaded data, on the CPU unless
``device`` says otherwise. ``quick`` keeps the default recipe on two models. ``subset``
trains and tests on the first N images of each split (the preset table on a CPU budget);
the floors are checked only on the whole set.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from explorer import settings
from explorer.errors import UserError
from explorer.train import EpochMetrics, RunFinished, Trainer, TrainingError, load_fashion_mnist, make_config
from explorer.train.config import PRESETS, preset_fit
from explorer.train.data import raw_folder
from explorer.train.records import TEST_ACC, TRAIN_ACC

DEFAULT = "default"
DEFAULT_EPOCHS = 5
#: One small form per family for the preset columns (the cheapest faithful one).
REPRESENTATIVES = {
    "LeNet": "lenet_small",
    "AlexNet": "alexnet_small",
    "NiN": "nin_small",
    "VGG": "vgg11_small",
    "GoogLeNet": "googlenet_small",
    "Inception": "inception_v2_small",
    "ResNet": "resnet18_small",
    "DenseNet": "densenet121_small",
    "MobileNet": "mobilenet_v1_small",
}
QUICK_MODELS = ("lenet_small", "resnet18_small")


def floor(model: str) -> float:
    """The test accuracy the default recipe must reach in five epochs on the subset."""
    from explorer.models import get_model_info

    return 0.75 if get_model_info(model).family == "LeNet" else 0.80


def pairs(models: list[str] | None, presets: list[str] | None, quick: bool) -> list[tuple[str, str]]:
    """(preset, model) pairs to train: the default recipe on every model asked for (all
    small forms), and each preset on one model per family (or on the models asked for)."""
    from explorer.models import list_models

    presets = list(presets) if presets else ([DEFAULT] if quick else [DEFAULT, *PRESETS])
    unknown = [p for p in presets if p != DEFAULT and p not in PRESETS]
    if unknown:
        raise UserError(f"unknown preset {unknown[0]!r}; choose {DEFAULT} or one of {', '.join(PRESETS)}")
    if models:
        chosen = list(models)
    elif quick:
        chosen = list(QUICK_MODELS)
    else:
        chosen = None
    out = []
    for preset_name in presets:
        if preset_name == DEFAULT:
            targets = chosen or list_models(form="small")
        else:
            targets = chosen or list(REPRESENTATIVES.values())
        out.extend((preset_name, model) for model in targets)
    return out


def train_pair(data, preset_name: str, model: str, epochs: int | None, device: str) -> dict[str, Any]:
    """Train one pair; its test accuracy, train accuracy and seconds (setup included)."""
    preset_arg = None if preset_name == DEFAULT else preset_name
    if epochs is None and preset_arg is None:
        epochs = DEFAULT_EPOCHS
    config = make_config(preset_arg, model=model, epochs=epochs, device=device)
    start = time.perf_counter()
    last = None
    finished = None
    error = None
    try:
        for event in Trainer(config, data=data, checkpoint_path=False, history=False).run():
            if isinstance(event, EpochMetrics):
                last = event
            elif isinstance(event, RunFinished):
                finished = event
    except TrainingError as exc:
        # A recipe that diverges is a result of this benchmark, not a reason to stop it.
        error = str(exc)
    seconds = time.perf_counter() - start
    return {
        "note": error or "",
        TEST_ACC: None if last is None else round(last.test_acc, 4),
        TRAIN_ACC: None if last is None else round(last.train_acc, 4),
        "seconds": round(seconds, 1),
        "epochs": config.epochs,
        "status": finished.status if finished else "failed",
        "recipe": {k: v for k, v in config.to_dict().items() if k in ("optimizer", "lr", "batch_size", "schedule", "augment")},
    }


def _check(name: str, value: float | None, limit: float | None, **extra: Any) -> dict:
    passed = None if value is None or limit is None else value >= limit
    return {"name": name, "value": value, "unit": "accuracy", "limit": limit, "passed": passed, **extra}


def run(
    quick: bool = False,
    data_dir: str | None = None,
    models: list[str] | None = None,
    presets: list[str] | None = None,
    epochs: int | None = None,
    device: str = "cpu",
    subset: int | None = None,
) -> dict:
    """Run the recipe benchmark; see the module docstring."""
    from explorer.bench.train import machine_state
    from explorer.models import get_model_info

    root = settings.data_dir(data_dir)
    chosen = pairs(models, presets, quick)
    result: dict[str, Any] = {"suite": "recipes", "data_dir": str(root), **machine_state()}
    if not (raw_folder(root) / "train-images-idx3-ubyte").exists():
        note = f"no Fashion-MNIST in {raw_folder(root)}"
        result["checks"] = [_check(f"{p}/{m}", None, None, note=note) for p, m in chosen]
        return result
    data = load_fashion_mnist(root, device, val_fraction=0.1, seed=0, subset=subset)
    result.update(train_images=len(data.train_labels), test_images=len(data.test_labels), torch=torch.__version__)
    checks = []
    table: dict[str, dict[str, Any]] = {}
    for preset_name, model in chosen:
        name = f"{preset_name}/{model}"
        misfit = preset_fit(None if preset_name == DEFAULT else preset_name, model)
        if misfit:
            checks.append(_check(name, None, None, note=misfit))
            continue
        measured = train_pair(data, preset_name, model, epochs, device)
        # The floors are for five epochs of the default recipe; other runs are reported only.
        limited = preset_name == DEFAULT and measured["epochs"] == DEFAULT_EPOCHS and subset is None
        checks.append(_check(name, measured[TEST_ACC], floor(model) if limited else None, **measured))
        family = get_model_info(model).family
        table.setdefault(preset_name, {}).setdefault(family, {})[model] = {
            TEST_ACC: measured[TEST_ACC],
            "seconds": measured["seconds"],
        }
    result["checks"] = checks
    result["table"] = table
    result["load_average_end"] = machine_state()["load_average"]
    return result
