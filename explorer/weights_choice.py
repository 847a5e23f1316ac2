"""Which weights a model runs with, and where they came from: a plain value, no torch, no
Qt, and the memory of each model's last choice across relaunches (``weights.json``).

The session, the weights selector, the settings and the loader all speak in these; they
live apart from them so none has to import another.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any, Literal, get_args

from explorer.files import WriteError, write_json

WEIGHTS_FILE = "weights.json"

WeightsKind = Literal["random", "imagenet", "shipped", "run", "file", "saved"]
WEIGHTS_KINDS: tuple[str, ...] = get_args(WeightsKind)


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
        if self.kind == "saved":
            return "saved in the program"
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
        if not isinstance(values, dict) or values.get("kind") not in WEIGHTS_KINDS:
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


@dataclasses.dataclass(frozen=True)
class Selection:
    """What the user asked to look at: a model and its weights (None: the model's default).

    ``source`` is a registry name today; the loader also admits models that are not (a
    file, another library's model), named by their source.
    """

    source: str
    weights: WeightsChoice | None = None


class WeightsMemory:
    """The weights each model last ran with, in ``config_dir()/weights.json``.

    Written atomically; read tolerantly: a file that is not a JSON object of valid choices
    counts as empty (bad entries are dropped) with one warning in ``warning``. A remembered
    run checkpoint or file that has gone is not recalled.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        if path is None:
            from explorer.settings import config_dir

            path = config_dir() / WEIGHTS_FILE
        self.path = Path(path)
        self.warning: str | None = None
        self._choices: dict[str, WeightsChoice] = self._read()

    def _read(self) -> dict[str, WeightsChoice]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self._warn(f"cannot read {self.path} ({exc.strerror or exc}); weights choices start afresh")
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._warn(f"{self.path} is not a JSON object; weights choices start afresh")
            return {}
        choices = {}
        for name, value in data.items():
            choice = WeightsChoice.from_dict(value)
            if choice is None:
                self._warn(f"{self.path}: ignoring an invalid weights choice for {name!r}")
                continue
            choices[str(name)] = choice
        return choices

    def _warn(self, text: str) -> None:
        if self.warning is None:
            self.warning = text
            warnings.warn(text, stacklevel=3)

    def recall(self, name: str) -> WeightsChoice | None:
        choice = self._choices.get(name)
        if choice is not None and choice.path is not None and not Path(choice.path).is_file():
            return None
        return choice

    def remember(self, name: str, choice: WeightsChoice) -> None:
        if self._choices.get(name) == choice:
            return
        self._choices[name] = choice
        try:
            self._write()
        except OSError as exc:
            # The choice still holds for this session; only its memory is lost.
            self._warn(str(exc) if isinstance(exc, WriteError) else f"cannot save weights choices to {self.path} ({exc.strerror or exc})")

    def _write(self) -> None:
        data = {name: choice.to_dict() for name, choice in sorted(self._choices.items())}
        write_json(self.path, data, indent=1, action="save weights choices to")
