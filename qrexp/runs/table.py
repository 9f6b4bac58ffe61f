"""The pandas view of a run store: one row per finished run (config, metrics, extra, provenance)."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from qrexp.measures import normalise_keys
from qrexp.runs.store import METRICS_FILE, check_metrics_record, read_used_by

if TYPE_CHECKING:
    import pandas as pd


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


def load_runs(root: str | os.PathLike, warn=None) -> pd.DataFrame:
    """One row per finished run: run_id, n, wall_time_s, timestamp, git_sha, git_dirty, device,
    then ``config.<dotted key>``, ``metrics.<name>`` and ``extra.<dotted key>`` columns, and
    ``used_by`` (the experiments that used the run). A corrupt metrics.json is left out with one
    line to ``warn`` (default warnings.warn): that run is unfinished and is recomputed when rerun."""
    import pandas as pd

    rows = []
    for path in sorted(Path(root).glob(f"*/{METRICS_FILE}")):
        try:
            rec = check_metrics_record(json.loads(path.read_text(encoding="utf-8")))
            row = {"run_id": rec.get("run_id", path.parent.name), "n": rec["n"]}
            for field in ("wall_time_s", "timestamp", "git_sha", "git_dirty", "device"):
                row[field] = rec.get(field)
            row.update(flatten(rec["config"], "config."))
            row.update(flatten(normalise_keys(rec["metrics"]), "metrics."))   # one vocabulary, old runs too
            row.update(flatten(rec.get("extra") or {}, "extra."))
            row["used_by"] = read_used_by(path.parent, warn)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            message = f"{path}: corrupt metrics.json ({type(err).__name__}: {err}); run left out"
            (warn or (lambda m: warnings.warn(m, stacklevel=2)))(message)
            continue
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_id", "n"])
