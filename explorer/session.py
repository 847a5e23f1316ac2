"""What the explorer shows now, and the training run, as plain state with change events.

No Qt here (napari's ``ViewerModel`` is the pattern): the window's views subscribe to a
``Session`` and only render; they never push state into each other, and the main window
does not mediate. Two parts, kept apart on purpose:

- the **explorer** state: the model being looked at, the weights it runs with and where
  they came from, the module built with them, the current image, the current node, the
  compute device;
- the **training run** (``session.training``): which model it trains, its config, its state
  and its newest epoch. A run keeps its own model: the explorer may look at any other model
  meanwhile, and the run's label never follows the explorer.

Changes are events (``Event`` objects with plain callbacks). Each setter changes the state
first and then emits, so a subscriber that reads the session sees the new state. Setting a
value equal to the current one emits nothing.

Invariant: ``module`` is ``None`` or was built for ``(model_name, weights)``. Changing the
model or the weights drops the module at once (views show a loading state) until
``set_module`` delivers a module for exactly that pair; a late module for a pair the user
has left is ignored (``set_module`` returns False).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

WeightsKind = Literal["random", "imagenet", "shipped", "run", "file"]
RunState = Literal["idle", "running", "paused", "stopped", "finished", "failed", "diverged"]


class Event:
    """A list of plain callbacks; ``connect`` returns a function that disconnects."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def disconnect() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return disconnect

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


@dataclasses.dataclass(frozen=True)
class WeightsChoice:
    """Which weights a model runs with, and where they came from.

    Attributes:
        kind: ``random`` (with ``seed``), ``imagenet`` (torchvision's), ``shipped`` (trained
            on Fashion-MNIST by us and shipped with the package), ``run`` (an epoch of one of
            the user's runs: ``path`` is its checkpoint), or ``file`` (a user's state_dict).
        seed: the seed of random weights (one per model, kept across selections).
        path: the checkpoint or state_dict file, for ``run`` and ``file``.
        run_id: the run the checkpoint belongs to.
        epoch: the run's epoch.
        test_accuracy: the test accuracy recorded with these weights, when known.
    """

    kind: WeightsKind
    seed: int | None = None
    path: str | None = None
    run_id: str | None = None
    epoch: int | None = None
    test_accuracy: float | None = None

    @property
    def trained(self) -> bool:
        return self.kind != "random"

    def label(self) -> str:
        """One line for the weights selector and the top-5 notice."""
        acc = f": test {self.test_accuracy:.3f}" if self.test_accuracy is not None else ""
        if self.kind == "random":
            return f"random (seed {self.seed})" if self.seed is not None else "random"
        if self.kind == "imagenet":
            return "ImageNet (torchvision)"
        if self.kind == "shipped":
            return f"Fashion-MNIST, shipped{acc}"
        if self.kind == "run":
            run = self.run_id or "run"
            epoch = f", epoch {self.epoch}" if self.epoch is not None else ""
            return f"{run}{epoch}{acc}"
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1] if self.path else "file"
        return f"file {name}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: Any) -> WeightsChoice | None:
        """The stored form back, or None when it is not a valid choice (never raises)."""
        if not isinstance(values, dict) or values.get("kind") not in ("random", "imagenet", "shipped", "run", "file"):
            return None
        types = {"seed": int, "path": str, "run_id": str, "epoch": int, "test_accuracy": (int, float)}
        kept: dict[str, Any] = {"kind": values["kind"]}
        for key, expected in types.items():
            value = values.get(key)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, expected):
                    return None
                kept[key] = float(value) if key == "test_accuracy" else value
        if kept["kind"] in ("run", "file") and "path" not in kept:
            return None
        return cls(**kept)


class TrainingRun:
    """The training run: its own model, config and state, apart from what the explorer shows.

    Events:
        changed(run): model, config, run id or state changed (the Training tab's label).
        epoch(run, metrics): an epoch finished; ``metrics`` is the engine's EpochMetrics.
    """

    def __init__(self) -> None:
        self.model_name: str | None = None
        self.config: Any = None  # explorer.train.TrainConfig; Any keeps this module torch-free
        self.run_id: str | None = None
        self.state: RunState = "idle"
        self.epoch: int = 0
        self.checkpoint: str | None = None
        self.message: str = ""
        self.changed = Event("changed")
        self.epoch_finished = Event("epoch_finished")

    @property
    def active(self) -> bool:
        return self.state in ("running", "paused")

    def start(self, model_name: str, config: Any, run_id: str | None = None, checkpoint: str | None = None) -> None:
        self.model_name = model_name
        self.config = config
        self.run_id = run_id
        self.checkpoint = checkpoint
        self.epoch = 0
        self.message = ""
        self.state = "running"
        self.changed.emit(self)

    def set_state(self, state: RunState, message: str = "") -> None:
        if state == self.state and message == self.message:
            return
        self.state = state
        self.message = message
        self.changed.emit(self)

    def record_epoch(self, epoch: int, metrics: Any, checkpoint: str | None = None) -> None:
        self.epoch = epoch
        if checkpoint is not None:
            self.checkpoint = checkpoint
        self.epoch_finished.emit(self, metrics)


class Session:
    """The explorer's current model, weights, module, image, node and device, plus the run.

    Events (each callback gets the session):
        model_changed: another model was chosen; module, node and weights were reset.
        weights_changed: another weights choice (module dropped until it is built, or
            already there when the builder resolved the default).
        module_changed: the built module for (model_name, weights) arrived, or was dropped.
        image_changed: another input image (or none).
        node_changed: another current node (or none).
        device_changed: another compute device.
        knockouts_changed: another list of knockout specs (the knockout lab's; another
            model empties it). The weights are never changed by them.
        build_failed: the module for (model_name, weights) cannot be built (callback gets
            the session and a one-line reason); module stays None.
        message: a one-line notice for the status bar (callback gets the text).

    ``remember_weights`` and ``recall_weights`` are plain callables the app wires to the
    settings, so each model gets back the weights it last used across relaunches.
    """

    def __init__(
        self,
        device: str = "cpu",
        recall_weights: Callable[[str], WeightsChoice | None] | None = None,
        remember_weights: Callable[[str, WeightsChoice], None] | None = None,
    ) -> None:
        self.model_name: str | None = None
        self.weights: WeightsChoice | None = None
        self.module: Any = None  # torch.nn.Module built for (model_name, weights)
        self.image: Any = None  # explorer.activations.LoadedImage
        self.image_label: str = ""
        self.node: str | None = None
        self.device: str = device
        self.knockouts: tuple[str, ...] = ()  # explorer.explain.knockout specs, in order
        self.training = TrainingRun()
        self._recall = recall_weights
        self._remember = remember_weights
        self.model_changed = Event("model_changed")
        self.weights_changed = Event("weights_changed")
        self.module_changed = Event("module_changed")
        self.image_changed = Event("image_changed")
        self.node_changed = Event("node_changed")
        self.device_changed = Event("device_changed")
        self.knockouts_changed = Event("knockouts_changed")
        self.build_failed = Event("build_failed")
        self.message = Event("message")

    # ----- model and weights -------------------------------------------------------------

    def set_model(self, name: str, weights: WeightsChoice | None = None) -> None:
        """Look at ``name``; its weights are ``weights``, else the ones it last used."""
        if name == self.model_name:
            if weights is not None:
                self.set_weights(weights)  # same model: keep the node, views and image
            return
        if weights is None:
            weights = self._recall(name) if self._recall is not None else None
        elif self._remember is not None:
            self._remember(name, weights)  # chosen with the model ("open in explorer")
        self.model_name = name
        self.weights = weights
        self.module = None
        self.node = None
        had_knockouts, self.knockouts = bool(self.knockouts), ()
        self.model_changed.emit(self)
        self.weights_changed.emit(self)
        self.module_changed.emit(self)
        self.node_changed.emit(self)
        if had_knockouts:
            self.knockouts_changed.emit(self)

    def set_weights(self, weights: WeightsChoice) -> None:
        """Run the current model with other weights; the module is rebuilt by the app."""
        if self.model_name is None or weights == self.weights:
            return
        self.weights = weights
        self.module = None
        if self._remember is not None:
            self._remember(self.model_name, weights)
        self.weights_changed.emit(self)
        self.module_changed.emit(self)

    def set_module(self, name: str, weights: WeightsChoice, module: Any,
                   requested: WeightsChoice | None = None) -> bool:
        """Deliver the module built for ``(name, weights)``; False if the user has moved on.

        ``requested`` is the choice the build was asked for when it differs from
        ``weights`` (ImageNet wanted, random given because it cannot be had offline): the
        module is accepted for that request, and the fallback is not remembered.
        """
        asked = requested if requested is not None else weights
        if name != self.model_name or (self.weights is not None and asked != self.weights):
            return False
        resolved = self.weights != weights
        # The module first, so a subscriber to weights_changed already sees it.
        self.module = module
        if resolved:
            # The builder resolved the default (shipped, ImageNet or seeded random weights).
            remember = self.weights is None and requested is None
            self.weights = weights
            if remember and self._remember is not None:
                self._remember(name, weights)
            self.weights_changed.emit(self)
        self.module_changed.emit(self)
        return True

    def module_failed(self, name: str, weights: WeightsChoice | None, message: str) -> bool:
        """The build for ``(name, weights)`` failed; views say so if it is still wanted."""
        if name != self.model_name or weights != self.weights:
            return False
        self.build_failed.emit(self, message)
        return True

    # ----- image, node, device -----------------------------------------------------------

    def set_image(self, image: Any, label: str = "") -> None:
        if image is self.image and label == self.image_label:
            return
        self.image = image
        self.image_label = label
        self.image_changed.emit(self)

    def set_node(self, node: str | None) -> None:
        if node == self.node:
            return
        self.node = node
        self.node_changed.emit(self)

    def set_device(self, device: str) -> None:
        if device == self.device:
            return
        self.device = device
        self.device_changed.emit(self)

    def set_knockouts(self, specs: tuple[str, ...] | list[str]) -> None:
        """The knockout lab's list of parts switched off (specs the lab understands)."""
        specs = tuple(specs)
        if specs == self.knockouts:
            return
        self.knockouts = specs
        self.knockouts_changed.emit(self)

    def notify(self, text: str) -> None:
        self.message.emit(text)
