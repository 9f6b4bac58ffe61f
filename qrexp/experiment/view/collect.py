"""Collect what the viewer shows from the run store: experiments, their leaderboard tables (each
cell with its run, sample size and 95% interval), per-experiment run lists, swept keys, detection
runs, and the groups of evaluation runs that share examples (for the per-query drill-down).

Everything is read from run folders (``store.load_runs`` and the files the stages write); tables are
built by ``report.build_table`` from the same specs the report stage uses.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from qrexp.measures import normalise
from qrexp.report.tables import find_column, config_label, filter_mask, build_table
from qrexp.experiment.report import check_claims, paired_bootstrap, spec_runs
from qrexp.io.files import canonical_json
from qrexp.runs.table import load_runs

SKIP_KEYS = ("config.experiment",)


@dataclass
class Cell:
    text: str                      # formatted value ("" when missing)
    value: float | None = None
    run_id: str | None = None      # the run behind an "ours" cell, when exactly one
    n: int | None = None           # queries with a per-query value
    ci: tuple[float, float] | None = None   # 95% bootstrap interval of the mean (table scale)


@dataclass
class Table:
    name: str
    title: str
    row_key: str
    columns: list[str]
    rows: list[tuple[str, str, list[Cell]]]    # (row label, source, cells)
    claims: list[str] = field(default_factory=list)
    col_key: str | None = None
    metric: str = ""
    column_metrics: Mapping[str, str] = field(default_factory=dict)

    def metric_of(self, row: pd.Series) -> str | None:
        """The metric this table shows for a run (load_runs row), if the run has it."""
        col = row.get(f"config.{self.col_key}") if self.col_key else None
        metric = self.column_metrics.get(config_label(col), self.metric) if col is not None else self.metric
        value = row.get(f"metrics.{metric}")
        return metric if value is not None and not (isinstance(value, float) and math.isnan(value)) else None


@dataclass
class Experiment:
    name: str
    runs: pd.DataFrame                          # its evaluation runs (load_runs rows)
    tables: list[Table] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)       # config keys varied within a method/eval
    detections: list[str] = field(default_factory=list)  # detection run ids its runs used


def per_query_values(folder: Path, metric: str) -> dict[str, float]:
    """{qid: value} of ``metric`` from a run's per_query.jsonl (absent file or metric: {})."""
    path = folder / "per_query.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {str(r["qid"]): float(r[metric]) for r in rows if isinstance(r.get(metric), (int, float))}


def cell_runs(runs: pd.DataFrame, spec, row: str, col: str) -> list[str]:
    """Run ids that fill table cell (row, col): the selection ``report.build_table`` makes."""
    if runs.empty:
        return []
    df = runs[filter_mask(runs, spec.filters, spec.name)]
    df = df[df[find_column(df, spec.row_key, "config", spec.name)].map(config_label) == row]
    if spec.col_key is not None and not df.empty:
        df = df[df[find_column(df, spec.col_key, "config", spec.name)].map(config_label) == col]
    if col in spec.column_filters and not df.empty:
        df = df[filter_mask(df, spec.column_filters[col], spec.name)]
    return list(df["run_id"])


def _fmt(value: float, source: str, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = round(value, digits) + 0.0
    return f"{value:+.{digits}f}" if source == "delta" else f"{value:.{digits}f}"


def leaderboard(all_runs: pd.DataFrame, own: pd.DataFrame, data: Mapping[str, Any],
                runs_root: Path) -> Table:
    """One report table spec -> Table with ours / paper / delta cells, each "ours" cell linked to
    its run with n and a 95% percentile-bootstrap interval of the mean per-query value."""
    spec, claims, runs = spec_runs(all_runs, own, data)
    table = build_table(runs, spec)
    rows = []
    for (row, source), values in table.iterrows():
        cells = []
        for col, value in zip(table.columns, values):
            cell = Cell(_fmt(value, source, spec.digits), None if math.isnan(value) else float(value))
            ids = cell_runs(runs, spec, str(row), str(col)) if source == "ours" else []
            if len(ids) == 1:
                cell.run_id = ids[0]
                metric = normalise(spec.column_metrics.get(str(col), spec.metric))
                pq = per_query_values(runs_root / ids[0], metric)
                if pq:
                    mean, lo, hi, n = paired_bootstrap(pq, {q: 0.0 for q in pq})
                    cell.n, cell.ci = n, (lo * spec.scale, hi * spec.scale)
            cells.append(cell)
        rows.append((str(row), str(source), cells))
    notes = check_claims(table, claims, spec.digits, runs, spec, runs_root)
    return Table(spec.name, spec.title, spec.row_key, [str(c) for c in table.columns], rows, notes,
                 spec.col_key, spec.metric, dict(spec.column_metrics))


def swept_keys(runs: pd.DataFrame) -> list[str]:
    """Config keys (without the "config." prefix) that take several values within one
    (method, eval.name) group of runs: the keys a sweep varied."""
    if runs.empty or "config.method" not in runs:
        return []
    keys = [c for c in runs.columns if c.startswith("config.") and c not in SKIP_KEYS
            and c not in ("config.method", "config.eval.name")]
    by = [c for c in ("config.method", "config.eval.name") if c in runs]
    found = []
    for key in keys:
        labels = runs[key].map(config_label)
        if (labels.groupby([runs[c] for c in by]).nunique() > 1).any():
            found.append(key[len("config."):])
    return sorted(found)


def group_id(config: Mapping[str, Any]) -> str:
    """Evaluation runs over the same examples share a group: eval data, seed (short sha256)."""
    ev = config.get("eval") or {}
    key = {"data": ev.get("data"), "kind": ev.get("kind"), "seed": config.get("seed")}
    return f"{ev.get('name', 'eval')}-{hashlib.sha256(canonical_json(key).encode()).hexdigest()[:8]}"


def experiments_of(runs_root: Path, configs: Mapping[str, Any], log=print) -> tuple[pd.DataFrame, list[Experiment]]:
    """All finished runs and one Experiment per experiment name found in them (``used_by``), with
    the report tables of the names in ``configs`` ({experiment name: its RunConfig}), built from the
    runs that used the experiment (or, where those disagree in a cell, from the runs its config
    names, as the report stage does)."""
    from qrexp.experiment.report import experiment_run_ids
    all_runs = load_runs(runs_root)
    if all_runs.empty:
        return all_runs, []
    stage = all_runs.get("config.stage", pd.Series("", index=all_runs.index))
    evals = all_runs[stage == "evaluate"]
    names = sorted({n for used in evals["used_by"] for n in used} | set(configs))
    out = []
    for name in names:
        own = evals[evals["used_by"].map(lambda used: name in used)]
        exp = Experiment(name, own, swept=swept_keys(own))
        cfg = configs.get(name)
        for data in cfg.report.tables if cfg is not None else ():
            try:         # the runs that used the experiment; if they disagree, the ones its config names
                try:
                    exp.tables.append(leaderboard(all_runs, own, data, runs_root))
                except ValueError:
                    named = all_runs[all_runs["run_id"].isin(experiment_run_ids(cfg))]
                    exp.tables.append(leaderboard(all_runs, named, data, runs_root))
            except (KeyError, ValueError) as err:
                log(f"[view] experiment {name}: table {data.get('name')!r} skipped ({err})")
        col = "config.heads.detection"
        if col in own:
            exp.detections = sorted({d for d in own[col].dropna() if isinstance(d, str)})
        out.append(exp)
    return all_runs, out
