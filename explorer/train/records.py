"""Typed run records: the metric names, written once, and the values a run leaves behind.

Everything a training run records has its schema here, so each metric's name is spelled
in one module and everything else reads attributes (``record.final.test_acc``) or these
constants (``TEST_ACC``):

- the metric names, which are also the keys of the JSON files (run records, checkpoints'
  curves, epoch summaries, ``--json`` output). They never change: records and
  checkpoints that earlier versions left in users' folders must still load.
- ``Curves``: one series per metric with one value per finished epoch, all of one length,
  and ``batch_loss`` with one value per batch over all epochs.
- ``FinalFigures``: the run's figures after its last finished epoch.
- ``EpochSummary`` (with ``LayerSummary`` and ``Histogram``): one epoch's per-layer
  summaries (``summaries.py`` records them, the time machine and the overlays read them).
- ``RunRecord``: one run, holding its curves and final figures.

Each is a frozen dataclass. ``from_dict`` builds one from stored JSON and checks every
field, raising ``RecordError`` (a ValueError) with one line naming what is wrong: a
wrong type, curves of unequal lengths, a name this schema does not know; readers skip
such a file with that line. ``to_dict`` writes the same keys back.

Plain standard-library dataclasses rather than a schema library (pydantic, msgspec): the
checks are a few dozen lines, records are small, and the core gains no dependency. No
torch and no Qt here: `cnn-explorer runs` and the runs table read records without either.

Over 400 lines because the schema is one unit on purpose: split, the metric names would
again be spelled in two modules (issue 19); each class is short and mostly its checks.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

# ----- metric names (the JSON keys) ---------------------------------------------------------

EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
TRAIN_ACC = "train_acc"
VAL_LOSS = "val_loss"
VAL_ACC = "val_acc"
TEST_LOSS = "test_loss"
TEST_ACC = "test_acc"
LR = "lr"
IMAGES_PER_S = "images_per_s"
BATCH_LOSS = "batch_loss"
BEST_TEST_ACC = "best_test_acc"
# Per-layer summaries of an epoch.
GRAD_NORM = "grad_norm"
WEIGHT_CHANGE = "weight_change"
WEIGHT_NORM = "weight_norm"

# The per-epoch series, in the order of a CSV export's columns and a log's fields.
EPOCH_SERIES = (EPOCH, TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TEST_LOSS, TEST_ACC, LR, IMAGES_PER_S)
# Every curve a record and a checkpoint carry: the per-epoch series and the per-batch loss.
CURVE_KEYS = (*EPOCH_SERIES, BATCH_LOSS)
# The final metrics (all numbers); ``FinalFigures`` also holds ``epochs`` and facts.
FINAL_METRICS = (TRAIN_ACC, VAL_ACC, TEST_ACC, BEST_TEST_ACC, TRAIN_LOSS, TEST_LOSS, IMAGES_PER_S)
# The numbers of one layer's summary.
LAYER_METRICS = (GRAD_NORM, WEIGHT_CHANGE, WEIGHT_NORM)

STATUSES = ("running", "completed", "stopped", "failed")
_MAX_DEPTH = 4  # config values: scalars, or lists/tables of them


class RecordError(ValueError):
    """A run record (or a part of one) does not match its schema."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON scalars, or lists and string-keyed tables of them, at most ``_MAX_DEPTH`` deep."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if depth >= _MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


# Characters that move the cursor, colour a terminal or reorder text: never in a name.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> bool:
    """Whether ``text`` holds no control, line-separator or bidirectional character."""
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI for c in text)


def _unknown(data: Mapping, known: Iterable[str], where: str, what: str) -> None:
    names = set(known)
    extra = [k for k in data if k not in names]
    if extra:
        raise RecordError(f"{where} has an unknown {what} {extra[0]!r}")


# ----- curves --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Curves:
    """A run's curves: one value per finished epoch in each per-epoch series (``None``
    where a run has no such figure, e.g. ``val_acc`` without a validation split), and
    ``batch_loss`` with one value per batch over all epochs.

    Built from lists or tuples; kept as tuples, all per-epoch series of one length.

    Raises:
        RecordError: the per-epoch series differ in length.
    """

    epoch: tuple[int, ...] = ()
    train_loss: tuple[float | None, ...] = ()
    train_acc: tuple[float | None, ...] = ()
    val_loss: tuple[float | None, ...] = ()
    val_acc: tuple[float | None, ...] = ()
    test_loss: tuple[float | None, ...] = ()
    test_acc: tuple[float | None, ...] = ()
    lr: tuple[float | None, ...] = ()
    images_per_s: tuple[float | None, ...] = ()
    batch_loss: tuple[float | None, ...] = ()

    def __post_init__(self) -> None:
        for name in CURVE_KEYS:
            values = getattr(self, name)
            if not isinstance(values, tuple):
                object.__setattr__(self, name, tuple(values))
        ragged = [n for n in EPOCH_SERIES if len(getattr(self, n)) != len(self.epoch)]
        if ragged:
            raise RecordError(f"curve {ragged[0]!r} has {len(getattr(self, ragged[0]))} values for "
                              f"{len(self.epoch)} epochs")

    @classmethod
    def from_dict(cls, data: Any) -> Curves:
        """The curves stored as ``data`` (a table of lists, as ``to_dict`` writes). A
        per-epoch series it lacks reads as ``None`` for every epoch.

        Raises:
            RecordError: not a table, an unknown metric, a series that is not a list of
                numbers (whole numbers for ``epoch``), or series of unequal lengths.
        """
        if not isinstance(data, Mapping):
            raise RecordError("curves is not a table of lists of numbers")
        _unknown(data, CURVE_KEYS, "curves", "metric")
        for key, values in data.items():
            if not isinstance(values, list) or not all(v is None or _is_number(v) for v in values):
                raise RecordError(f"curve {key!r} is not a list of numbers")
        if not all(_is_whole(v) for v in data.get(EPOCH, [])):
            raise RecordError(f"curve {EPOCH!r} is not a list of epoch numbers")
        epochs = len(data.get(EPOCH, []))
        return cls(**{key: data.get(key, [None] * epochs if key != BATCH_LOSS else []) for key in CURVE_KEYS})

    def to_dict(self) -> dict[str, list]:
        """The JSON form: every metric's list, by name."""
        return {key: list(getattr(self, key)) for key in CURVE_KEYS}

    @property
    def epochs(self) -> int:
        """Finished epochs the curves cover."""
        return len(self.epoch)

    def __getitem__(self, name: str) -> tuple:
        """One series by metric name (for code that picks the metric at run time).

        Raises:
            KeyError: ``name`` is not a curve.
        """
        if name not in CURVE_KEYS:
            raise KeyError(name)
        return getattr(self, name)

    def last(self, name: str) -> float | None:
        """The newest value of one series (None before the first epoch)."""
        values = self[name]
        return values[-1] if values else None

    def with_epoch(self, batch_losses: Iterable[float] = (), **values: float | None) -> Curves:
        """These curves and one more epoch: ``values`` holds one value for every per-epoch
        series, by name (``epoch=3, train_loss=0.4, ...``); ``batch_losses`` the epoch's
        per-batch losses not yet added.

        Raises:
            TypeError: a per-epoch series is missing from ``values``, or it names another.
        """
        if set(values) != set(EPOCH_SERIES):
            missing = sorted(set(EPOCH_SERIES) - set(values)) or sorted(set(values) - set(EPOCH_SERIES))
            raise TypeError(f"an epoch needs exactly the series {', '.join(EPOCH_SERIES)} ({missing[0]!r})")
        series = {key: (*getattr(self, key), values[key]) for key in EPOCH_SERIES}
        return Curves(**series, batch_loss=(*self.batch_loss, *batch_losses))

    def with_batch_losses(self, losses: Iterable[float]) -> Curves:
        """These curves with more per-batch losses (an epoch that did not finish)."""
        losses = tuple(losses)
        return dataclasses.replace(self, batch_loss=self.batch_loss + losses) if losses else self


# ----- final figures -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FinalFigures:
    """A run's figures after its last finished epoch (``epochs`` 0 and the rest None
    before the first).

    Attributes:
        epochs: epochs finished.
        train_acc, val_acc, test_acc, train_loss, test_loss, images_per_s: the last
            finished epoch's (``val_acc`` None without a validation split).
        best_test_acc: the highest test accuracy of any epoch.
        train_time_s: training time of the run (evaluation and pauses not counted).
        train_images, test_images: images in the training and test splits.
        device: where it trained.
    """

    epochs: int = 0
    train_acc: float | None = None
    val_acc: float | None = None
    test_acc: float | None = None
    best_test_acc: float | None = None
    train_loss: float | None = None
    test_loss: float | None = None
    images_per_s: float | None = None
    train_time_s: float | None = None
    train_images: int | None = None
    test_images: int | None = None
    device: str | None = None

    @classmethod
    def after(cls, curves: Curves, *, train_time_s: float | None = None, train_images: int | None = None,
              test_images: int | None = None, device: str | None = None) -> FinalFigures:
        """The figures of a run whose curves are ``curves``, with the facts given."""
        tests = [v for v in curves.test_acc if v is not None]
        return cls(
            epochs=curves.epoch[-1] if curves.epoch else 0,
            **{key: curves.last(key) for key in FINAL_METRICS if key != BEST_TEST_ACC},
            best_test_acc=max(tests) if tests else None,
            train_time_s=train_time_s,
            train_images=train_images,
            test_images=test_images,
            device=device,
        )

    @classmethod
    def from_dict(cls, data: Any) -> FinalFigures:
        """The figures stored as ``data``; a figure it lacks reads as None.

        Raises:
            RecordError: not a table, an unknown figure, or one of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise RecordError("'final' is not a table of metrics")
        _unknown(data, (f.name for f in dataclasses.fields(cls)), "'final'", "figure")
        for key, value in data.items():
            if value is None:
                continue
            if key == "device":
                ok, kind = isinstance(value, str), "text"
            elif key in ("epochs", "train_images", "test_images"):
                ok, kind = _is_whole(value) and value >= 0, "a count"
            else:
                ok, kind = _is_number(value), "a number"
            if not ok:
                raise RecordError(f"'final' {key!r} is not {kind}")
        return cls(**{k: v for k, v in data.items() if not (k == "epochs" and v is None)})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the figures that are known, by name."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def __getitem__(self, name: str) -> Any:
        """One figure by name (None when unknown for this run).

        Raises:
            KeyError: ``name`` is not a figure.
        """
        if name not in _FINAL_NAMES:
            raise KeyError(name)
        return getattr(self, name)


_FINAL_NAMES = frozenset(f.name for f in dataclasses.fields(FinalFigures))


# ----- epoch summaries -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Histogram:
    """A layer's weight histogram: ``counts`` over equal bins from ``min`` to ``max``."""

    min: float
    max: float
    counts: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.counts, tuple):
            object.__setattr__(self, "counts", tuple(self.counts))


@dataclasses.dataclass(frozen=True)
class LayerSummary:
    """One parameter's summary over an epoch (None where it was not recorded).

    Attributes:
        grad_norm: the mean gradient norm over the epoch's steps.
        weight_change: ||w - w0|| / ||w0|| since the run's start.
        weight_norm: ||w|| at the epoch's end.
        histogram: the weights' histogram at the epoch's end.
    """

    grad_norm: float | None = None
    weight_change: float | None = None
    weight_norm: float | None = None
    histogram: Histogram | None = None


@dataclasses.dataclass(frozen=True)
class EpochSummary:
    """One epoch's per-layer summaries.

    Attributes:
        layers: by parameter name (``features.0.weight``), in the model's order.
        dead_relu: by ``nn.ReLU`` module path, the share of its units dead on the probe batch.
    """

    layers: dict[str, LayerSummary] = dataclasses.field(default_factory=dict)
    dead_relu: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> EpochSummary:
        """The summary stored as ``data`` (what ``to_dict`` writes); missing parts read as empty.

        Raises:
            RecordError: a part is not a table, a layer's figures are not numbers or name
                one this schema does not know, a fraction is not a number.
        """
        if not isinstance(data, Mapping):
            raise RecordError("'summaries' is not a table")
        _unknown(data, ("layers", "dead_relu"), "'summaries'", "part")
        layers = data.get("layers", {})
        if not isinstance(layers, Mapping):
            raise RecordError("'layers' is not a table")
        typed = {}
        for name, layer in layers.items():
            typed[name] = _layer(name, layer)
        dead = data.get("dead_relu", {})
        if not isinstance(dead, Mapping) or not all(_is_number(v) for v in dead.values()):
            raise RecordError("'dead_relu' is not a table of fractions")
        return cls(typed, dict(dead))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (a layer's unrecorded figures left out)."""
        layers = {}
        for name, layer in self.layers.items():
            entry: dict[str, Any] = {k: getattr(layer, k) for k in LAYER_METRICS if getattr(layer, k) is not None}
            if layer.histogram is not None:
                h = layer.histogram
                entry["histogram"] = {"min": h.min, "max": h.max, "counts": list(h.counts)}
            layers[name] = entry
        return {"layers": layers, "dead_relu": dict(self.dead_relu)}


def _layer(name: str, data: Any) -> LayerSummary:
    bad = RecordError(f"layer {name!r}'s summary is not numbers")
    if not isinstance(data, Mapping):
        raise bad
    _unknown(data, (*LAYER_METRICS, "histogram"), f"layer {name!r}'s summary", "figure")
    if not all(_is_number(data[k]) for k in LAYER_METRICS if data.get(k) is not None):
        raise bad
    histogram = data.get("histogram")
    if histogram is not None:
        if not (isinstance(histogram, Mapping) and _is_number(histogram.get("min"))
                and _is_number(histogram.get("max")) and isinstance(histogram.get("counts"), list)
                and all(_is_number(c) for c in histogram["counts"])):
            raise bad
        histogram = Histogram(histogram["min"], histogram["max"], tuple(histogram["counts"]))
    return LayerSummary(**{k: data.get(k) for k in LAYER_METRICS}, histogram=histogram)


# ----- the run record ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One training run.

    Attributes:
        run_id: unique, sortable (start time plus model name).
        model: model name that was trained.
        config: the TrainConfig as a dict.
        status: ``running``, ``completed``, ``stopped`` or ``failed``.
        started: ISO time the run started.
        finished: ISO time it ended (None while running).
        curves: its per-epoch and per-batch curves.
        final: its figures after the last finished epoch.
        message: why a run stopped or failed.
        checkpoint: path of its last checkpoint, if any.
        name: the user's name for the run (empty: none given).

    Build one from stored data with ``from_dict``, which checks every field; change one
    with ``dataclasses.replace``. ``curves`` and ``final`` may be given in their JSON
    form (a table), which is checked as on reading.
    """

    run_id: str
    model: str
    config: dict[str, Any]
    status: str = "running"
    started: str = ""
    finished: str | None = None
    curves: Curves = dataclasses.field(default_factory=Curves)
    final: FinalFigures = dataclasses.field(default_factory=FinalFigures)
    message: str = ""
    checkpoint: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.curves, Curves):
            object.__setattr__(self, "curves", Curves.from_dict(self.curves))
        if not isinstance(self.final, FinalFigures):
            object.__setattr__(self, "final", FinalFigures.from_dict(self.final))

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """The record ``data`` (a parsed JSON document) holds; keys this version does not
        know are ignored.

        Raises:
            RecordError: a field is missing or of the wrong type (one line, naming it).
        """
        if not isinstance(data, dict):
            raise RecordError("not a run record (not a JSON object)")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("run_id", "model", "config"):
            if key not in values:
                raise RecordError(f"no {key!r}")

        def text(key: str, optional: bool = False, must_print: bool = True) -> None:
            value = values.get(key)
            if value is None and optional:
                return
            if not isinstance(value, str) or (must_print and not printable(value)):
                raise RecordError(f"{key!r} is not {'plain text' if isinstance(value, str) else 'text'}")

        for key in ("run_id", "model"):
            text(key)
        if not values["run_id"] or not values["model"]:
            raise RecordError("empty 'run_id' or 'model'")
        if values.get("status", "running") not in STATUSES:
            raise RecordError(f"'status' is not one of {', '.join(STATUSES)}")
        for key in ("started", "name"):
            if key in values:
                text(key, must_print=key != "name")
        text("finished", optional=True)
        text("checkpoint", optional=True)
        if "message" in values:
            text("message", must_print=False)
        config = values["config"]
        if not isinstance(config, dict) or not _plain(config):
            raise RecordError("'config' is not a table of options")
        values["curves"] = Curves.from_dict(values.get("curves", {}))
        values["final"] = FinalFigures.from_dict(values.get("final", {}))
        # A name an older version let through: shown without its control characters.
        if "name" in values:
            values["name"] = "".join(c if printable(c) else " " for c in values["name"]).strip()
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with the keys ``from_dict`` reads."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**data, "curves": self.curves.to_dict(), "final": self.final.to_dict()}

    @property
    def label(self) -> str:
        """Short text for a list of runs."""
        acc = self.final.test_acc
        acc_text = f"test {acc:.3f}" if acc is not None else self.status
        cfg = self.config
        if self.name:
            return f"{self.name} · {acc_text}"
        return f"{self.started[5:16].replace('T', ' ')} {self.model} {cfg.get('optimizer')} lr {cfg.get('lr')} · {acc_text}"
