"""Training small CNNs on Fashion-MNIST (no Qt): data on the device, a generator engine,
atomic checkpoints and run history. The CLI and the Qt panel both drive ``Trainer.run()``.

Where things are: ``engine`` (the epoch loop, ``Trainer``), ``events`` (what it yields),
``control`` (pause/stop), ``recipe`` (model, init, optimiser, schedule, loss),
``evaluation`` (test passes), ``records`` (the typed run record, its curves, final
figures and epoch summaries, and the metric names), ``journal`` (history record and
checkpoint of a run),
``resume`` (continuing from a checkpoint), ``checkpoint`` (safe file writes),
``data``/``augment`` (Fashion-MNIST on the device), ``runner`` (off the GUI thread),
``snapshots`` and ``summaries`` (the time machine: per-epoch weights and per-layer
summaries), ``runs`` (the run table: status, names, CSV export).
"""

from __future__ import annotations

from explorer.lazy import lazy_names

# Each public name and the module that defines it. Importing the package imports none of
# them (PEP 562): `runs`, `zoo list` and the window's runs table read run records without
# waiting for torch, which the engine, data and recipe modules import.
_WHERE = {
    "BatchMetrics": "events",
    "CLASS_NAMES": "data",
    "CheckpointError": "checkpoint",
    "DataError": "data",
    "EpochMetrics": "events",
    "FashionData": "data",
    "Misclassified": "events",
    "PRESETS": "config",
    "PRESET_DESCRIPTIONS": "config",
    "RunFinished": "events",
    "Curves": "records",
    "EpochSummary": "records",
    "FinalFigures": "records",
    "RunHistory": "history",
    "RunRecord": "records",
    "RunStarted": "events",
    "SnapshotStore": "snapshots",
    "StateChanged": "events",
    "SummaryRecorder": "summaries",
    "TrainConfig": "config",
    "TrainControl": "control",
    "Trainer": "engine",
    "TrainingError": "events",
    "build_model": "recipe",
    "builder_options": "recipe",
    "clean_stale_temporaries": "checkpoint",
    "cpu_copy": "memory",
    "dead_relu_fraction": "summaries",
    "export_curves_csv": "runs",
    "find_run": "runs",
    "format_duration": "events",
    "keep_freed_memory": "memory",
    "load_checkpoint": "checkpoint",
    "load_fashion_mnist": "data",
    "make_config": "config",
    "preset": "config",
    "run_row": "runs",
    "run_status": "runs",
    "save_checkpoint": "checkpoint",
    "snapshot_folder": "snapshots",
    "train": "engine",
    "training_model_name": "recipe",
    "xavier_init": "recipe",
}

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
