"""Training small CNNs on Fashion-MNIST (no Qt): data on the device, a generator engine,
atomic checkpoints and run history. The CLI and the Qt panel both drive ``Trainer.run()``.

Where things are: ``engine`` (the epoch loop, ``Trainer``), ``events`` (what it yields),
``control`` (pause/stop), ``recipe`` (model, init, optimiser, schedule, loss),
``evaluation`` (test passes), ``journal`` (history record and checkpoint of a run),
``resume`` (continuing from a checkpoint), ``checkpoint`` (safe file writes),
``data``/``augment`` (Fashion-MNIST on the device), ``runner`` (off the GUI thread),
``snapshots`` and ``summaries`` (the time machine: per-epoch weights and per-layer
summaries), ``runs`` (the run table: status, names, CSV export).
"""

from explorer.train.checkpoint import CheckpointError, clean_stale_temporaries, load_checkpoint, save_checkpoint
from explorer.train.config import PRESET_DESCRIPTIONS, PRESETS, TrainConfig, make_config, preset
from explorer.train.data import CLASS_NAMES, DataError, FashionData, load_fashion_mnist
from explorer.train.control import TrainControl
from explorer.train.engine import Trainer, train
from explorer.train.events import (
    BatchMetrics,
    EpochMetrics,
    Misclassified,
    RunFinished,
    RunStarted,
    StateChanged,
    TrainingError,
    format_duration,
)
from explorer.train.memory import cpu_copy, keep_freed_memory
from explorer.train.recipe import build_model, builder_options, training_model_name, xavier_init
from explorer.train.history import RunHistory, RunRecord
from explorer.train.runs import export_curves_csv, find_run, run_row, run_status
from explorer.train.snapshots import SnapshotStore, snapshot_folder
from explorer.train.summaries import SummaryRecorder, dead_relu_fraction

__all__ = [
    "BatchMetrics",
    "CLASS_NAMES",
    "CheckpointError",
    "DataError",
    "EpochMetrics",
    "FashionData",
    "Misclassified",
    "PRESETS",
    "PRESET_DESCRIPTIONS",
    "RunFinished",
    "RunHistory",
    "RunRecord",
    "RunStarted",
    "SnapshotStore",
    "StateChanged",
    "SummaryRecorder",
    "TrainConfig",
    "TrainControl",
    "Trainer",
    "TrainingError",
    "build_model",
    "builder_options",
    "clean_stale_temporaries",
    "cpu_copy",
    "dead_relu_fraction",
    "export_curves_csv",
    "find_run",
    "format_duration",
    "keep_freed_memory",
    "load_checkpoint",
    "load_fashion_mnist",
    "make_config",
    "preset",
    "run_row",
    "run_status",
    "save_checkpoint",
    "snapshot_folder",
    "train",
    "training_model_name",
    "xavier_init",
]
