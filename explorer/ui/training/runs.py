"""A run's weights in the explorer: the weights a past run left, and following a run's
newest epoch.

A run's checkpoint holds the weights of its last finished epoch, so no run's weights are
lost when a later run trains the same model: "Open in explorer" (the runs table) shows a
run's model with those weights (``WeightsChoice("run", ...)``), through the session.
"""

from __future__ import annotations

from explorer.loading import LoadedModel
from explorer.session import Session, TrainingRun, WeightsChoice
from explorer.train import EpochMetrics

# Record status -> the run state the weights choice names.
RUN_STATES = {"completed": "finished", "stopped": "stopped", "running": "paused", "failed": "failed"}
TOOLTIP_KEYS = ("model", "optimizer", "lr", "schedule", "batch_size", "epochs", "weight_decay", "augment",
                "dropout", "batch_norm", "label_smoothing")


def show_epoch_in_explorer(session: Session, run: TrainingRun, m: EpochMetrics, *, follow: bool,
                           picked: str | None) -> bool:
    """Show the run's newest epoch in the explorer, but only where it shows this run.

    The explorer shows the run when its weights are this run's (``kind == "run"`` and the
    same run id), or, with ``follow`` (the run's first epoch, started from the model the
    explorer showed), when it still shows the run's model or ``picked``, the reference
    model whose small form the run trains. Any other weights in the view stay: a new run,
    stopped or not, never replaces them. Returns whether the explorer moved.
    """
    if m.checkpoint is None or run.run_id is None or run.model_name is None:
        return False
    weights = WeightsChoice("run", path=m.checkpoint, run_id=run.run_id, epoch=m.epoch, test_accuracy=m.test_acc)
    shown = session.weights
    showing_run = shown is not None and shown.kind == "run" and shown.run_id == run.run_id
    if session.model_name == run.model_name and (showing_run or follow):
        session.set_weights(weights)
    elif follow and session.model_name is not None and session.model_name == picked:
        session.set_model(run.model_name, weights)
    else:
        return False
    # The epoch's model is at hand (a CPU copy in eval mode): deliver it rather than
    # have the app read the checkpoint back.
    session.deliver(LoadedModel.of(run.model_name, weights, m.model, options=run_options(run)))
    return True


def run_options(run: TrainingRun) -> dict:
    """The builder options of the run's config (its network's structure)."""
    from explorer.train.recipe import builder_kwargs

    return builder_kwargs(run.config) if run.config is not None else {}
