"""The run store: one self-describing folder per run, atomic writes, provenance, and a pandas view.

Layout: ``<root>/<run_id>/`` holds whatever the pipeline writes (config.json, per_query.jsonl,
run.trec, heads.json, ...) and, last, ``metrics.json``; a run is finished iff metrics.json exists.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from qrexp.redact import is_secret_name, redact

if TYPE_CHECKING:
    import pandas as pd

METRICS_FILE = "metrics.json"
USED_BY_FILE = "used_by.json"
TRACKED_PACKAGES = ("qrexp", "torch", "transformers", "accelerate", "pytrec-eval-terrier", "wandb",
                    "pandas", "numpy", "hydra-core", "omegaconf", "datasets", "ir_datasets", "bm25s")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")


# ----------------------------------------------------------------------------- JSON and atomic writes
def _jsonable(obj: Any, where: str = "$") -> Any:
    """Plain JSON types; tuples/sets -> lists, numpy scalars -> Python; NaN/inf and others raise."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{where}: value {obj} is not finite and cannot be stored as JSON")
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [_jsonable(v, f"{where}[]") for v in sorted(obj, key=str)]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _jsonable(obj.item(), where)
    raise TypeError(f"{where}: value of type {type(obj).__name__} is not JSON-serialisable")


def canonical_json(obj: Any) -> str:
    """Key-sorted, compact JSON: equal configs give equal strings whatever the key order."""
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temp file in the same folder, fsync, then os.replace onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any, where: str = "$") -> str:
    return json.dumps(_jsonable(obj, where), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


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
    """A credential-like name (``qrexp.redact.is_secret_name``: api_key, hf_token; not max_new_tokens)."""
    return is_secret_name(name)


def strip_secrets(config: Any) -> Any:
    """A copy of a nested config without credential-named keys, with URL userinfo, token query
    values and environment secrets masked in every string (``qrexp.redact.redact``)."""
    return redact(config, drop_keys=True)


# ----------------------------------------------------------------------------- provenance
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, Any]:
    """{"git_sha": HEAD of the repo holding this package or None, "git_dirty": tracked edits or None}."""
    sha = _git("rev-parse", "HEAD")
    if not sha:
        return {"git_sha": None, "git_dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_sha": sha, "git_dirty": None if status is None else bool(status)}


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # e.g. qrexp run from a checkout, not installed
            versions[name] = getattr(sys.modules.get(name.replace("-", "_")), "__version__", None)
    return versions


def current_device() -> str:
    """The CUDA device name if torch is already loaded and sees a GPU, else "cpu" (never imports torch)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:  # noqa: BLE001 - a broken CUDA setup must not lose the results
        pass
    return "cpu"


def provenance(device: str | None = None) -> dict[str, Any]:
    return {**git_state(), "packages": package_versions(), "python": platform.python_version(),
            "platform": platform.platform(), "device": device or current_device(),
            "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


# ----------------------------------------------------------------------------- the store
class RunStore:
    """Run folders under ``root``; every write is atomic."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._started: dict[str, float] = {}

    def run_dir(self, run_id: str) -> Path:
        if not _SAFE_ID.match(run_id) or ".." in run_id:
            raise ValueError(f"run store: unsafe run id {run_id!r}")
        return self.root / run_id

    def path(self, run_id: str, name: str) -> Path:
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"run store: file name {name!r} must stay inside the run folder")
        return self.run_dir(run_id) / rel

    def is_finished(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / METRICS_FILE).is_file()

    def read_metrics(self, run_id: str) -> dict[str, Any]:
        """The metrics.json record of a finished run."""
        return json.loads(self.path(run_id, METRICS_FILE).read_text(encoding="utf-8"))

    def mark_used(self, run_id: str, experiment: str) -> None:
        """Record that ``experiment`` uses this run (a finished run can serve several experiments)."""
        path = self.path(run_id, USED_BY_FILE)
        used = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        if experiment not in used:
            self.write_json(run_id, USED_BY_FILE, sorted(used + [experiment]))

    def start(self, run_id: str, config: Mapping[str, Any] | None = None) -> Path:
        """Create the folder, write config.json (secrets stripped) and start the wall clock."""
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        if config is not None:
            self.write_json(run_id, "config.json", strip_secrets(config))
        self._started[run_id] = time.monotonic()
        return folder

    def write_bytes(self, run_id: str, name: str, data: bytes) -> Path:
        return atomic_write_bytes(self.path(run_id, name), data)

    def write_text(self, run_id: str, name: str, text: str) -> Path:
        return atomic_write_text(self.path(run_id, name), text)

    def write_json(self, run_id: str, name: str, obj: Any) -> Path:
        return self.write_text(run_id, name, dumps_json(obj, f"{run_id}/{name} $"))

    def write_jsonl(self, run_id: str, name: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        lines = [json.dumps(_jsonable(r, f"{run_id}/{name} line {i + 1} $"), sort_keys=True,
                            ensure_ascii=False) for i, r in enumerate(rows)]
        return self.write_text(run_id, name, "".join(line + "\n" for line in lines))

    def finish(self, run_id: str, metrics: Mapping[str, Any], n: int, config: Mapping[str, Any],
               extra: Mapping[str, Any] | None = None, wall_time_s: float | None = None,
               device: str | None = None) -> Path:
        """Write metrics.json (metrics, n, config, provenance); this marks the run finished.

        ``wall_time_s`` defaults to the time since ``start(run_id)`` in this process, else None.
        """
        if wall_time_s is None and run_id in self._started:
            wall_time_s = time.monotonic() - self._started[run_id]
        record = {"run_id": run_id, "metrics": dict(metrics), "n": int(n),
                  "config": strip_secrets(dict(config)), "extra": dict(extra or {}),
                  "wall_time_s": wall_time_s, **provenance(device)}
        return self.write_json(run_id, METRICS_FILE, record)


# ----------------------------------------------------------------------------- analysis
def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists become tuples so cells stay hashable."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = tuple(value) if isinstance(value, list) else value
    return flat


def load_runs(root: str | os.PathLike) -> pd.DataFrame:
    """One row per finished run: run_id, n, wall_time_s, timestamp, git_sha, git_dirty, device,
    then ``config.<dotted key>``, ``metrics.<name>`` and ``extra.<dotted key>`` columns, and
    ``used_by`` (the experiments that used the run)."""
    import pandas as pd

    rows = []
    for path in sorted(Path(root).glob(f"*/{METRICS_FILE}")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            row = {"run_id": rec.get("run_id", path.parent.name), "n": rec["n"]}
            for field in ("wall_time_s", "timestamp", "git_sha", "git_dirty", "device"):
                row[field] = rec.get(field)
            row.update(flatten(rec["config"], "config."))
            row.update(flatten(rec["metrics"], "metrics."))
            row.update(flatten(rec.get("extra") or {}, "extra."))
            used = path.parent / USED_BY_FILE
            row["used_by"] = json.loads(used.read_text(encoding="utf-8")) if used.is_file() else []
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: not a valid metrics.json ({type(err).__name__}: {err})") from None
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_id", "n"])
