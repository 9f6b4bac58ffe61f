"""Experiment tracking: local files in the run folder always, Weights & Biases when chosen.

Every tracker is a context manager and is always finished, also on error. W&B runs start with
``reinit="finish_previous"``: a second tracker in the same process (Hydra multirun) gets a new run
instead of silently reusing an unfinished one. Logged configs never hold keys whose name contains
key/token/secret/password.
"""
from __future__ import annotations

import abc
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from qrexp.io.redact import redacted_argv
from qrexp.runs.store import RunStore, strip_secrets

if TYPE_CHECKING:
    import pandas as pd

WANDB_MODES = ("offline", "online", "disabled")
_WANDB_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class Tracker(abc.ABC):
    """What the pipeline logs to; ``finish`` is called by ``with`` even when the body raises."""

    @abc.abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log one row of scalar metrics ({name: value}) at ``step`` (default: the next step)."""

    @abc.abstractmethod
    def log_table(self, name: str, table: pd.DataFrame) -> None:
        """Log a table under ``name`` (a CSV file locally, a W&B Table online)."""

    @abc.abstractmethod
    def log_image(self, name: str, png_path: str | os.PathLike) -> None:
        """Log the PNG file at ``png_path`` under ``name``."""

    @abc.abstractmethod
    def log_artifact(self, name: str, type: str, path: str | os.PathLike) -> None:
        """Log the file or folder ``path`` as an artifact ``name`` of kind ``type`` ("heads", "run", ...);
        FileNotFoundError if it does not exist."""

    @abc.abstractmethod
    def finish(self, exit_code: int = 0) -> None:
        """Close the tracker (``exit_code`` != 0 marks the run failed); later logging raises RuntimeError."""

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)


def _sha256(path: Path) -> str:
    """Hash of a file, or of a folder's sorted (relative path, file hash) pairs."""
    digest = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{child.relative_to(path).as_posix()}\0{_sha256(child)}\n".encode())
    else:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class LocalTracker(Tracker):
    """Writes into ``store.run_dir(run_id)``: history.jsonl (one row per log_metrics call, rewritten
    atomically, starting empty for each tracker), tables/<name>.csv, media/<name>.png and
    artifacts.json (name, type, path inside the run folder, sha256; outside files are copied in)."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self.folder = store.run_dir(run_id)
        self._history: list[dict[str, Any]] = []
        self._artifacts: list[dict[str, Any]] = []
        self.finished = False

    def _check_open(self) -> None:
        if self.finished:
            raise RuntimeError(f"tracker for run {self.run_id!r} is already finished")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._check_open()
        self._history.append({"step": len(self._history) if step is None else int(step), **metrics})
        self.store.write_jsonl(self.run_id, "history.jsonl", self._history)

    def log_table(self, name: str, table: pd.DataFrame) -> None:
        self._check_open()
        self.store.write_text(self.run_id, f"tables/{name}.csv", table.to_csv(index=False))

    def log_image(self, name: str, png_path: str | os.PathLike) -> None:
        self._check_open()
        target = self.store.path(self.run_id, f"media/{name}.png")
        if Path(png_path).resolve() != target.resolve():
            self.store.write_bytes(self.run_id, f"media/{name}.png", Path(png_path).read_bytes())

    def log_artifact(self, name: str, type: str, path: str | os.PathLike) -> None:
        self._check_open()
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"artifact {name!r}: {source} does not exist")
        try:
            rel = source.resolve().relative_to(self.folder.resolve())
        except ValueError:  # outside the run folder: copy it in so the folder stays self-contained
            rel = Path("artifacts") / name / source.name
            dest = self.store.path(self.run_id, rel.as_posix())
            if source.is_dir():  # copy beside, then swap in, so a crash leaves no half folder
                staging = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
                shutil.rmtree(staging, ignore_errors=True)
                shutil.copytree(source, staging)
                shutil.rmtree(dest, ignore_errors=True)
                os.replace(staging, dest)
            else:
                self.store.write_bytes(self.run_id, rel.as_posix(), source.read_bytes())
        entry = {"name": name, "type": type, "path": rel.as_posix(),
                 "sha256": _sha256(self.folder / rel)}
        self._artifacts = [a for a in self._artifacts if a["name"] != name] + [entry]
        self.store.write_json(self.run_id, "artifacts.json", self._artifacts)

    def finish(self, exit_code: int = 0) -> None:
        self.finished = True


class WandbTracker(Tracker):
    """One W&B run. ``mode="offline"`` records under ``<dir>/wandb/offline-run-*`` (upload later with
    ``wandb sync``); ``"disabled"`` makes every call a no-op and writes nothing."""

    def __init__(self, project: str, group: str | None = None, job_type: str | None = None,
                 tags: Iterable[str] = (), config: Mapping[str, Any] | None = None,
                 mode: str = "offline", dir: str | os.PathLike | None = None,
                 name: str | None = None) -> None:
        if mode not in WANDB_MODES:
            raise ValueError(f"wandb mode {mode!r}; expected one of {WANDB_MODES}")
        tags = [str(t) for t in tags]
        for tag in tags:                      # checked before wandb.init, which would half-start a run
            if not 1 <= len(tag) <= 64:
                raise ValueError(f"W&B tag {tag!r} is {len(tag)} characters; W&B allows 1-64")
        import wandb

        self._wandb = wandb
        if mode == "disabled":
            dir = None  # wandb would still create the folder
        if dir is not None:
            Path(dir).mkdir(parents=True, exist_ok=True)
        clean = json.loads(json.dumps(strip_secrets(dict(config or {})), default=str))
        with redacted_argv():   # W&B stores sys.argv (Hydra overrides) in the run's metadata
            self.run = wandb.init(project=project, group=group, job_type=job_type, tags=list(tags),
                                  config=clean, mode=mode, dir=None if dir is None else str(dir),
                                  name=name, reinit="finish_previous")
        self.mode = mode
        self.finished = False

    @property
    def run_id(self) -> str:
        """The W&B run's id."""
        return self.run.id

    def _check_open(self) -> None:
        if self.finished:
            raise RuntimeError(f"W&B tracker for run {self.run_id!r} is already finished")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._check_open()
        self.run.log(dict(metrics), step=step)

    def log_table(self, name: str, table: pd.DataFrame) -> None:
        self._check_open()
        self.run.log({name: self._wandb.Table(dataframe=table)})

    def log_image(self, name: str, png_path: str | os.PathLike) -> None:
        self._check_open()
        self.run.log({name: self._wandb.Image(str(png_path))})

    def log_artifact(self, name: str, type: str, path: str | os.PathLike) -> None:
        self._check_open()
        for field, value in (("name", name), ("type", type)):
            if not _WANDB_NAME.match(value):
                raise ValueError(f"W&B artifact {field} {value!r}: use letters, digits, '_', '-', '.'")
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"artifact {name!r}: {source} does not exist")
        artifact = self._wandb.Artifact(name, type=type)
        if source.is_dir():
            artifact.add_dir(str(source))
        else:
            artifact.add_file(str(source))
        self.run.log_artifact(artifact)

    def finish(self, exit_code: int = 0) -> None:
        if not self.finished:
            self.finished = True
            self.run.finish(exit_code=exit_code)


class MultiTracker(Tracker):
    """Fans every call out to several trackers; ``finish`` reaches all of them even if one fails."""

    def __init__(self, *trackers: Tracker) -> None:
        self.trackers = trackers

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for t in self.trackers:
            t.log_metrics(metrics, step)

    def log_table(self, name: str, table: pd.DataFrame) -> None:
        for t in self.trackers:
            t.log_table(name, table)

    def log_image(self, name: str, png_path: str | os.PathLike) -> None:
        for t in self.trackers:
            t.log_image(name, png_path)

    def log_artifact(self, name: str, type: str, path: str | os.PathLike) -> None:
        for t in self.trackers:
            t.log_artifact(name, type, path)

    def finish(self, exit_code: int = 0) -> None:
        errors = []
        for t in self.trackers:
            try:
                t.finish(exit_code)
            except Exception as err:  # noqa: BLE001 - finish the others, then report
                errors.append(err)
        if errors:
            raise errors[0]


def open_tracker(store: RunStore, run_id: str, wandb: Mapping[str, Any] | None = None) -> Tracker:
    """Local files always; plus W&B when ``wandb`` holds WandbTracker's keyword arguments
    (``dir`` defaults to the run folder)."""
    local = LocalTracker(store, run_id)
    if not wandb:
        return local
    options = dict(wandb)
    options.setdefault("dir", store.run_dir(run_id))
    return MultiTracker(local, WandbTracker(**options))
