"""Training small CNNs on Fashion-MNIST (no Qt): data on the device, a generator engine,
atomic checkpoints and run history. The CLI and the Qt panel both drive ``Trainer.run()``."""

from explorer.train.checkpoint import CheckpointError, clean_stale_temporaries, load_checkpoint, save_checkpoint
from explorer.train.config import PRESET_DESCRIPTIONS, PRESETS, TrainConfig, make_config, preset
from explorer.train.data import CLASS_NAMES, DataError, FashionData, load_fashion_mnist
from explorer.train.engine import (
    BatchMetrics,
    EpochMetrics,
    Misclassified,
    RunFinished,
    RunStarted,
    StateChanged,
    TrainControl,
    Trainer,
    TrainingError,
    build_model,
    builder_options,
    cpu_copy,
    train,
    training_model_name,
)
from explorer.train.history import RunHistory, RunRecord

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
    "StateChanged",
    "TrainConfig",
    "TrainControl",
    "Trainer",
    "TrainingError",
    "build_model",
    "builder_options",
    "clean_stale_temporaries",
    "cpu_copy",
    "load_checkpoint",
    "load_fashion_mnist",
    "make_config",
    "preset",
    "save_checkpoint",
    "train",
    "training_model_name",
]
