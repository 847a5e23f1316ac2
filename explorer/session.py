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

Invariant: ``loaded`` is ``None`` or was built for ``selection``. Changing the model or the
weights drops it at once (views show a loading state) until ``deliver`` hands over the
loaded model for exactly that selection; a late one for a selection the user has left is
ignored (``deliver`` returns False).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from explorer.weights_choice import Selection, WeightsChoice

__all__ = ["Event", "RunState", "Selection", "Session", "TrainingRun", "WeightsChoice"]
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
    """The explorer's selection and loaded model, image, node, device and knockouts, plus
    the run.

    The model's identity is in two values and nowhere else: ``selection`` (what the user
    asked for: a model and a weights choice, None for the model's default) and ``loaded``
    (the :class:`~explorer.loading.LoadedModel` built for exactly that selection, or None
    while it loads). Views read them and keep no copies.

    Events (each callback gets the session, then the event's argument if any):
        model_changed(change): the model's identity changed. ``change`` says how:
            ``"model"`` another model was chosen (loaded, node and knockouts were reset),
            ``"weights"`` the same model with other weights (loaded dropped until built),
            ``"loaded"`` the loaded model for the selection arrived (``loaded`` is set; the
            weights it holds may be a resolved default or a fallback, see its notice),
            ``"failed"`` it cannot be built (``load_error`` says why; ``loaded`` is None).
        image_changed: another input image (or none).
        node_changed: another current node (or none).
        device_changed: another compute device.
        knockouts_changed: another list of knockout specs (every view shows the network
            with them; another model empties the list). Weights are never changed by them.
        message(text): a one-line notice for the status bar.

    One model click fires model_changed twice ("model", then "loaded") and message once.
    ``remember_weights`` and ``recall_weights`` are plain callables the app wires to the
    settings, so each model gets back the weights it last used across relaunches.
    """

    def __init__(
        self,
        device: str = "cpu",
        recall_weights: Callable[[str], WeightsChoice | None] | None = None,
        remember_weights: Callable[[str, WeightsChoice], None] | None = None,
    ) -> None:
        self.selection: Selection | None = None
        self.loaded: Any = None  # explorer.loading.LoadedModel for ``selection``, or None
        self.load_error: str | None = None
        self.image: Any = None  # explorer.activations.LoadedImage
        self.image_label: str = ""
        self.node: str | None = None
        self.device: str = device
        self.knockouts: tuple[str, ...] = ()  # explorer.explain.knockout specs, in order
        self.training = TrainingRun()
        self._recall = recall_weights
        self._remember = remember_weights
        self.model_changed = Event("model_changed")
        self.image_changed = Event("image_changed")
        self.node_changed = Event("node_changed")
        self.device_changed = Event("device_changed")
        self.knockouts_changed = Event("knockouts_changed")
        self.message = Event("message")

    # ----- reading the identity ------------------------------------------------------------

    @property
    def model_name(self) -> str | None:
        """The selected model's name (registry name or source), or None."""
        return self.selection.source if self.selection is not None else None

    @property
    def weights(self) -> WeightsChoice | None:
        """The weights shown: the loaded model's, else the selected ones (None: default)."""
        if self.loaded is not None:
            return self.loaded.weights
        return self.selection.weights if self.selection is not None else None

    @property
    def module(self) -> Any:
        """The loaded ``nn.Module`` (eval mode), or None while it loads."""
        return self.loaded.module if self.loaded is not None else None

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
        self.selection = Selection(name, weights)
        self.loaded = None
        self.load_error = None
        self.node = None
        self.knockouts = ()
        self.model_changed.emit(self, "model")

    def set_weights(self, weights: WeightsChoice) -> None:
        """Run the current model with other weights; the app loads them."""
        if self.selection is None or weights == self.weights:
            return
        self.selection = Selection(self.selection.source, weights)
        self.loaded = None
        self.load_error = None
        if self._remember is not None:
            self._remember(self.selection.source, weights)
        self.model_changed.emit(self, "weights")

    def deliver(self, loaded: Any) -> bool:
        """Take the :class:`~explorer.loading.LoadedModel` built for the selection; False
        (and nothing changes) when the user has moved on since it was asked for."""
        if self.selection is None or loaded.selection != self.selection:
            return False
        # A resolved default (shipped, ImageNet, seeded random) is remembered, and so is
        # what an explicit choice that failed fell back to; a default that fell back
        # (ImageNet offline) is not: next time it is tried again.
        resolved_default = loaded.requested is None and not loaded.fallback
        replaced_choice = loaded.requested is not None and loaded.fallback
        if self._remember is not None and (resolved_default or replaced_choice):
            self._remember(self.selection.source, loaded.weights)
        self.loaded = loaded
        self.load_error = None
        self.model_changed.emit(self, "loaded")
        return True

    def load_failed(self, selection: Selection, message: str) -> bool:
        """Nothing could be built for ``selection``; views say so if it is still wanted."""
        if selection != self.selection:
            return False
        self.loaded = None
        self.load_error = message
        self.model_changed.emit(self, "failed")
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
        """The parts switched off (knockout specs), in order; every view shows them."""
        specs = tuple(specs)
        if specs == self.knockouts:
            return
        self.knockouts = specs
        self.knockouts_changed.emit(self)

    def notify(self, text: str) -> None:
        self.message.emit(text)
