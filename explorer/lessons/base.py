"""What a lesson is: a claim about CNN design with its source, a demonstration on the zoo's
real models, the number measured here beside the paper's, and what to look at (no Qt).

A *live* lesson computes its outcome when asked (milliseconds to a second: parameter and
MAC counts from the real modules, receptive fields, a forward pass). An *experiment* trains:
it ships its measured result as data (``resources/lessons/<name>.json``, with the exact
command, seed and data that produced it) and can be run again by the user
(``cnn-explorer lessons run NAME``, the tab's "Run it yourself"), shown against the shipped
result. Everything here is plain data, so the CLI prints it and the window draws it.

Honesty first: an outcome's ``verdict`` says whether the claim reproduced at this scale,
with the numbers, and what would change it when it did not.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

View = Literal["graph", "tracer", "timemachine", "training", "maps"]


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a claim comes from: ``Source("Simonyan & Zisserman 2015 (VGG)", "§2.3")``."""

    paper: str
    section: str = ""

    def __str__(self) -> str:
        return f"{self.paper} {self.section}".strip()


@dataclasses.dataclass(frozen=True)
class Figure:
    """One measured number beside the paper's.

    Attributes:
        label: what is measured ("parameters of two 3x3 layers, C = 64").
        ours: the value measured here (a number, or a short text such as "7x7").
        paper: the paper's (or the write-ups') value, as the source states it; None when the
            source gives no number.
        unit: shown after both values.
    """

    label: str
    ours: float | int | str
    paper: float | int | str | None = None
    unit: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclasses.dataclass(frozen=True)
class Series:
    """One line of a chart; ``shipped`` marks the result shipped with the app (drawn dashed
    beside a rerun's)."""

    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    shipped: bool = False


@dataclasses.dataclass(frozen=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    log_y: bool = False


@dataclasses.dataclass(frozen=True)
class Picture:
    """A small grey picture drawn on the page: ``pixels`` are rows of 0-255 ints (e.g.
    training images beside their augmented copies, as the trainer made them)."""

    title: str
    pixels: tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class Link:
    """A way into an existing view (never a copy of it): ``view`` opened on ``model``, at
    ``node`` (a node's name as the graph shows it) when given."""

    view: View
    model: str
    label: str
    node: str | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a demonstration found.

    Attributes:
        figures: the measured numbers beside the papers'.
        verdict: one or two sentences: did the claim reproduce here, with numbers; if not,
            what would change it (more depth, data, epochs).
        tables, charts: the demonstration's evidence.
        notes: anything else worth a line (caveats, where the write-ups go wrong).
        images: small pictures the demonstration shows (optional; added after the first
            release of this class, so older stored outcomes read without it).
    """

    figures: tuple[Figure, ...]
    verdict: str
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = ()
    images: tuple[Picture, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(
            figures=tuple(Figure(**f) for f in data.get("figures", ())),
            verdict=str(data.get("verdict", "")),
            tables=tuple(Table(t["title"], tuple(t["columns"]), tuple(tuple(r) for r in t["rows"]))
                         for t in data.get("tables", ())),
            charts=tuple(Chart(c["title"], c["x_label"], c["y_label"],
                               tuple(Series(s["name"], tuple(s["x"]), tuple(s["y"]), bool(s.get("shipped")))
                                     for s in c["series"]), bool(c.get("log_y")))
                         for c in data.get("charts", ())),
            notes=tuple(data.get("notes", ())),
            images=tuple(Picture(str(p["title"]), tuple(tuple(int(v) for v in row) for row in p["pixels"]))
                         for p in data.get("images", ())),
        )


Progress = Callable[[float, str], None]
"""Called with (fraction done 0-1, one line on what runs now) while an experiment trains."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A lesson's training experiment.

    Attributes:
        run: trains and returns the raw result (plain JSON data: curves, numbers). Takes a
            ``Progress`` callback and ``quick`` (a few dozen steps, for tests) and a
            ``should_stop`` callable checked between steps (returns True to stop early: then
            it raises ``ExperimentStopped``).
        outcome: the :class:`Outcome` of a raw result; with ``rerun`` (a second raw result,
            the user's) it draws both, the shipped one marked ``shipped``.
        command: the exact command that produced the shipped result.
        budget_s: what a full run is designed to take on two CPU cores (at most 600).
    """

    run: Callable[..., dict[str, Any]]
    outcome: Callable[..., Outcome]
    command: str
    budget_s: float = 600.0


class ExperimentStopped(Exception):
    """The user stopped an experiment before it finished."""


@dataclasses.dataclass(frozen=True)
class Lesson:
    """One claim about CNN design, shown and measured.

    Attributes:
        name: a short slug (``small-kernels``), what ``cnn-explorer lessons run NAME`` takes.
        number: its place in the list, 1-14.
        title: a few words ("Stacked small kernels").
        claim: the claim in one sentence, as students meet it.
        sources: the papers and sections behind it.
        paper_figure: the paper's figure or table the lesson checks ("VGG §2.3", "Fig. 6").
        look_at: what to look at on the page and in the linked views.
        links: ways into the existing views.
        demonstrate: for a live lesson, computes its :class:`Outcome` now.
        experiment: for a lesson that trains, its :class:`Experiment`.
    """

    name: str
    number: int
    title: str
    claim: str
    sources: tuple[Source, ...]
    paper_figure: str
    look_at: str
    links: tuple[Link, ...] = ()
    demonstrate: Callable[[], Outcome] | None = None
    experiment: Experiment | None = None

    @property
    def kind(self) -> Literal["live", "experiment"]:
        return "experiment" if self.experiment is not None else "live"


def shipped_path(name: str, root: Path | None = None) -> Path:
    """Where an experiment's shipped result lives: ``resources/lessons/<name>.json``."""
    from explorer.resources import resources_root

    return (root or resources_root()) / "lessons" / f"{name}.json"


def read_shipped(name: str) -> dict[str, Any] | None:
    """The shipped result document of experiment ``name`` (None when there is none or it is
    damaged: the page then says so and offers the run)."""
    from explorer.files import read_json

    try:
        document = read_json(shipped_path(name))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("result"), dict) else None


def shipped_document(name: str, result: dict[str, Any], *, command: str, seconds: float,
                     load_average: tuple[float, float], data: str) -> dict[str, Any]:
    """The document a shipped result is stored as: the raw result and how it was made."""
    import platform

    return {"lesson": name, "command": command, "seconds": round(seconds, 1),
            "load_average": [round(v, 2) for v in load_average], "data": data,
            "machine": f"{platform.machine()}, {platform.system()}", "result": result}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"
