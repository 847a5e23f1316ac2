"""Run history: hyperparameters, curves and final metrics of every run, as JSON files.

One file per run under ``settings.user_data_dir()/runs``, rewritten atomically after each
epoch, so a run that was killed still shows up with the epochs it finished. A corrupt file
is skipped with a warning rather than hiding every other run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from explorer import settings


@dataclasses.dataclass
class RunRecord:
    """One training run.

    Attributes:
        run_id: unique, sortable (start time plus model name).
        model: model name that was trained.
        config: the TrainConfig as a dict.
        status: ``running``, ``completed``, ``stopped`` or ``failed``.
        started: ISO time the run started.
        finished: ISO time it ended (None while running).
        curves: per-epoch lists (``epoch``, ``train_loss``, ``train_acc``, ``val_acc``,
            ``val_loss``, ``test_acc``, ``test_loss``, ``lr``, ``images_per_s``) and
            ``batch_loss`` (per batch, all epochs).
        final: final metrics (``train_acc``, ``test_acc``, ``images_per_s``, ...).
        message: why a run stopped or failed.
        checkpoint: path of its last checkpoint, if any.
        name: the user's name for the run (empty: none given).
    """

    run_id: str
    model: str
    config: dict[str, Any]
    status: str = "running"
    started: str = ""
    finished: str | None = None
    curves: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    final: dict[str, Any] = dataclasses.field(default_factory=dict)
    message: str = ""
    checkpoint: str | None = None
    name: str = ""

    @property
    def label(self) -> str:
        """Short text for a list of runs."""
        acc = self.final.get("test_acc")
        acc_text = f"test {acc:.3f}" if isinstance(acc, (int, float)) else self.status
        cfg = self.config
        if self.name:
            return f"{self.name} · {acc_text}"
        return f"{self.started[5:16].replace('T', ' ')} {self.model} {cfg.get('optimizer')} lr {cfg.get('lr')} · {acc_text}"


def runs_dir() -> Path:
    return settings.user_data_dir() / "runs"


class RunHistory:
    """Reads and writes RunRecords in a folder (default: the platform data folder)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder else runs_dir()

    def path_of(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.json"

    def save(self, record: RunRecord) -> Path:
        """Write atomically (temporary file, fsync, replace)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_of(record.run_id)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{record.run_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(dataclasses.asdict(record), f, allow_nan=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def load(self, run_id: str) -> RunRecord:
        return self._read(self.path_of(run_id))

    def _read(self, path: Path) -> RunRecord:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(RunRecord)}
        if not isinstance(data, dict):
            raise ValueError("not a run record")
        record = RunRecord(**{k: v for k, v in data.items() if k in known})
        # Only this app's records: each is named after its run.
        if record.run_id != path.stem:
            raise ValueError(f"holds run {record.run_id!r}, not {path.stem!r}")
        return record

    def list_runs(self) -> list[RunRecord]:
        """All readable runs, oldest first."""
        if not self.folder.is_dir():
            return []
        records = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                records.append(self._read(path))
            except (OSError, ValueError, TypeError) as exc:
                warnings.warn(f"skipping unreadable run record {path}: {exc}", stacklevel=2)
        return records

    def rename(self, run_id: str, name: str) -> RunRecord:
        """Give a run a name (empty: clear it); a running run keeps it (the journal reads
        the name back before each save)."""
        record = self.load(run_id)
        record.name = name.strip()
        self.save(record)
        return record

    def delete(self, run_id: str) -> None:
        self.path_of(run_id).unlink(missing_ok=True)
