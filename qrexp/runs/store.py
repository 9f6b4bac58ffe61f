"""The run store: one self-describing folder per run, atomic writes and provenance (the pandas view
of a store is qrexp.runs.table).

Layout: ``<root>/<run_id>/`` holds whatever the pipeline writes (config.json, per_query.jsonl,
run.trec, heads.json, ...) and, as its last write, ``metrics.json``: a run is finished iff a valid
metrics.json exists (qrexp.experiment.run_logging keeps that order; a corrupt one means "recompute").
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from qrexp.runs.provenance import provenance
from qrexp.io.files import atomic_write_bytes, atomic_write_text, canonical_json, dumps_json, dumps_jsonl
from qrexp.io.redact import is_secret_name, redact

METRICS_FILE = "metrics.json"
USED_BY_FILE = "used_by.json"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")


# ----------------------------------------------------------------------------- run ids and secrets
def _lookup(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"run_id: prefix key {dotted!r} is not in the config")
        node = node[part]
    return node


def _slug(value: Any) -> str:
    text = str(value).split("/")[-1].lower()
    return re.sub(r"[^a-z0-9.]+", "-", text).strip("-.")[:40] or "x"


def run_id(semantic_config: Mapping[str, Any], prefix_keys: Sequence[str] = (), digits: int = 10) -> str:
    """``<slug of each prefix key value>-<first digits of sha256(canonical JSON)>``.

    ``prefix_keys`` are dotted paths ("model.name") used only for readability; the hash covers the
    whole config with credentials redacted (a rotated token keeps the run). The caller leaves out
    paths, logger and output settings.
    """
    digest = hashlib.sha256(canonical_json(redact(semantic_config, env=False)).encode("utf-8")).hexdigest()[:digits]
    return "-".join([_slug(_lookup(semantic_config, k)) for k in prefix_keys] + [digest])


def is_secret_key(name: str) -> bool:
    """A credential-like name (``qrexp.io.redact.is_secret_name``: api_key, hf_token; not max_new_tokens)."""
    return is_secret_name(name)


def strip_secrets(config: Any) -> Any:
    """A copy of a nested config without credential-named keys, with URL userinfo, token query
    values and environment secrets masked in every string (``qrexp.io.redact.redact``)."""
    return redact(config, drop_keys=True)


# ----------------------------------------------------------------------------- the store
class RunStore:
    """Run folders under ``root``; every write is atomic."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._started: dict[str, float] = {}

    def run_dir(self, run_id: str) -> Path:
        """``<root>/<run_id>`` (not created); ValueError for an id that is not a safe folder name."""
        if not _SAFE_ID.match(run_id) or ".." in run_id:
            raise ValueError(f"run store: unsafe run id {run_id!r}")
        return self.root / run_id

    def path(self, run_id: str, name: str) -> Path:
        """The path of file ``name`` (relative, may contain "/") inside the run folder; ValueError
        for an absolute name or one that climbs out with ".."."""
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"run store: file name {name!r} must stay inside the run folder")
        return self.run_dir(run_id) / rel

    def finished_record(self, run_id: str, warn=None) -> dict[str, Any] | None:
        """The metrics.json record of a finished run, or None when the run is not finished.

        A metrics.json that does not parse or lacks a field is not a finish marker: ``warn``
        (default: warnings.warn) gets one line and the run counts as unfinished (it is recomputed).
        """
        path = self.path(run_id, METRICS_FILE)
        if not path.is_file():
            return None
        try:
            record = check_metrics_record(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError) as err:
            message = f"{path}: corrupt metrics.json ({err}); the run will be recomputed"
            (warn or (lambda m: warnings.warn(m, stacklevel=3)))(message)
            return None
        return record

    def is_finished(self, run_id: str, warn=None) -> bool:
        """True iff the run has a valid metrics.json (:meth:`finished_record`)."""
        return self.finished_record(run_id, warn) is not None

    def read_metrics(self, run_id: str) -> dict[str, Any]:
        """The metrics.json record of a finished run (ValueError naming the file if corrupt)."""
        path = self.path(run_id, METRICS_FILE)
        try:
            return check_metrics_record(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as err:
            raise ValueError(f"{path}: corrupt metrics.json ({err})") from None

    def mark_used(self, run_id: str, experiment: str) -> None:
        """Record that ``experiment`` uses this run (a finished run can serve several experiments)."""
        used = read_used_by(self.run_dir(run_id))
        if experiment not in used:
            self.write_json(run_id, USED_BY_FILE, sorted(used + [experiment]))

    def start(self, run_id: str, config: Mapping[str, Any] | None = None) -> Path:
        """Create the folder, write config.json (secrets stripped) and start the wall clock."""
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        stale = folder / METRICS_FILE      # a corrupt marker (finished_record said so) goes first
        if stale.is_file() and self.finished_record(run_id, warn=lambda m: None) is None:
            stale.unlink()
        if config is not None:
            self.write_json(run_id, "config.json", strip_secrets(config))
        self._started[run_id] = time.monotonic()
        return folder

    def write_bytes(self, run_id: str, name: str, data: bytes) -> Path:
        """Write ``data`` to file ``name`` of the run atomically (qrexp.io.files); returns its path."""
        return atomic_write_bytes(self.path(run_id, name), data)

    def write_text(self, run_id: str, name: str, text: str) -> Path:
        """Write UTF-8 ``text`` to file ``name`` of the run atomically; returns its path."""
        return atomic_write_text(self.path(run_id, name), text)

    def write_json(self, run_id: str, name: str, obj: Any) -> Path:
        """Write ``obj`` as indented, key-sorted JSON (qrexp.io.files.dumps_json) atomically; NaN,
        inf or a non-JSON value raise an error naming ``<run_id>/<name>`` and the field path."""
        return self.write_text(run_id, name, dumps_json(obj, f"{run_id}/{name} $"))

    def write_jsonl(self, run_id: str, name: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        """Write ``rows`` as JSON Lines, keys sorted (qrexp.io.files.dumps_jsonl), atomically."""
        return self.write_text(run_id, name, dumps_jsonl(rows, f"{run_id}/{name}"))

    def finish(self, run_id: str, metrics: Mapping[str, Any], n: int, config: Mapping[str, Any],
               extra: Mapping[str, Any] | None = None, wall_time_s: float | None = None,
               device: str | None = None) -> Path:
        """Write metrics.json (metrics, n, config, provenance); this marks the run finished, so it
        must be the run's last write (after every artifact and tracker call a resume would skip).

        ``wall_time_s`` defaults to the time since ``start(run_id)`` in this process, else None.
        """
        if wall_time_s is None and run_id in self._started:
            wall_time_s = time.monotonic() - self._started[run_id]
        record = {"run_id": run_id, "metrics": dict(metrics), "n": int(n),
                  "config": strip_secrets(dict(config)), "extra": dict(extra or {}),
                  "wall_time_s": wall_time_s, **provenance(device)}
        return self.write_json(run_id, METRICS_FILE, record)


def read_used_by(folder: Path, warn=None) -> list[str]:
    """The experiments recorded in ``folder/used_by.json``; a corrupt file counts as none (one
    line to ``warn``, default warnings.warn) and is rewritten by the next ``mark_used``."""
    path = Path(folder) / USED_BY_FILE
    if not path.is_file():
        return []
    try:
        used = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(used, list) and all(isinstance(u, str) for u in used):
            return used
        problem = "not a list of experiment names"
    except (ValueError, UnicodeDecodeError) as err:
        problem = str(err)
    (warn or (lambda m: warnings.warn(m, stacklevel=3)))(f"{path}: corrupt used_by.json ({problem}); ignored")
    return []


_RECORD_FIELDS = {"metrics": Mapping, "n": int, "config": Mapping}


def check_metrics_record(record: Any) -> dict[str, Any]:
    """``record`` itself when it is a metrics.json object with fields metrics (object), n (int) and
    config (object); else ValueError naming the first missing or mistyped field (no file named:
    callers add the path)."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for name, kind in _RECORD_FIELDS.items():
        if not isinstance(record.get(name), kind):
            raise ValueError(f"field {name!r} missing or not a {kind.__name__}")
    return record

