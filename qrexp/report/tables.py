"""Leaderboard tables: finished runs (``qrexp.runs.table.load_runs``) -> ours / paper / delta table
(rendered and written by qrexp.report.render as Markdown, LaTeX and CSV).

A table is pure data: a TableSpec says which runs fill which cell. Cell (row, col) holds
``metric * scale`` of the run whose config matches ``filters``, ``row_key == row``,
``col_key == col`` (when a col_key is given) and ``column_filters[col]``; the metric may be set
per column (``column_metrics``). Several matching runs are allowed only if they agree. Missing
cells stay NaN and render as an en dash, never as 0. Runs that disagree raise an error naming the
config keys they differ in and the override or filter that selects one. The paper's numbers live in
results/paper/<table>.yaml and load with ``paper_numbers``.
"""
from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import yaml

from qrexp.measures import canonical_key
from qrexp.io.package_data import package_data

SOURCES = ("ours", "paper", "delta")
PAPER_DIR = package_data("paper")          # results/paper/, shipped in the package
# config keys a report narrows to the values of the config it runs with (qrexp.experiment.report_scope)
SCOPE_PREFIXES = ("eval.data.", "eval.qa.limit", "model.name", "seed")


@dataclass(frozen=True)
class TableSpec:
    """Which runs fill which cell of one table (see the module docstring); pure data, no I/O.

    ``paper`` holds the paper's numbers {row: {col: value}} on the table's scale (0-100 by default,
    ``scale`` multiplies the 0-1 metric); ``column_metrics`` / ``column_filters`` override the
    metric and add filters for single columns."""
    name: str                                   # file stem: results/tables/<name>.{md,tex,csv}
    title: str
    row_key: str                                # config key whose value labels the row
    metric: str                                 # measure, e.g. "nDCG@10" (trec_eval names accepted)
    col_key: str | None = None                  # config key whose value labels the column
    filters: Mapping[str, Any] = field(default_factory=dict)
    scale: float = 100.0
    digits: int = 1
    row_order: Sequence[str] = ()
    col_order: Sequence[str] = ()
    paper: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    column_metrics: Mapping[str, str] = field(default_factory=dict)
    column_filters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    average: str | None = None                  # column filled with the mean of the others (all present)


def config_label(value: Any) -> str:
    """The label a config value gets in a table cell or header: 16.0 -> "16", None / NaN -> "none"
    (a null setting such as mask_sigma=null is a label of its own), anything else ``str(value)``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    # a null config value (e.g. mask_sigma=null) is a label of its own, shown as "none"
    return "none" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def find_column(df: pd.DataFrame, key: str, prefix: str, table: str) -> str:
    """The column of ``df`` (a load_runs frame) holding ``key``: ``key`` itself or ``<prefix>.<key>``
    (prefix "config", "metrics", "extra"). Raises KeyError naming table ``table``, the key and the
    closest column names."""
    for name in (key, f"{prefix}.{key}"):
        if name in df.columns:
            return name
    close = difflib.get_close_matches(f"{prefix}.{key}", [str(c) for c in df.columns], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"table {table}: no column {key!r} or {prefix}.{key!r} in the runs{hint}")


def filter_mask(df: pd.DataFrame, filters: Mapping[str, Any], table: str) -> pd.Series:
    """Boolean mask [len(df)]: rows whose config matches every ``{config key: value}`` of ``filters``,
    compared as :func:`config_label` (so 16 matches 16.0, None matches "none"). Raises KeyError
    (:func:`find_column`) for a key no column holds."""
    keep = pd.Series(True, index=df.index)
    for key, value in filters.items():
        keep &= df[find_column(df, key, "config", table)].map(config_label) == config_label(value)
    return keep


def _metric_column(df: pd.DataFrame, metric: str, table: str) -> str:
    """The ``metrics.<name>`` column holding ``metric`` in any vocabulary ("ndcg_cut_10" = "nDCG@10")."""
    wanted = canonical_key(metric)
    for col in df.columns:
        if str(col).startswith("metrics.") and canonical_key(str(col)[len("metrics."):]) == wanted:
            return col
    return find_column(df, metric, "metrics", table)


def _cell(runs: pd.DataFrame, metric: str, where: str, table: str) -> float:
    if runs.empty:
        return math.nan
    values = runs[_metric_column(runs, metric, table)].astype(float)
    distinct = {round(v, 12) for v in values if not math.isnan(v)}
    if len(distinct) > 1:
        keys = differing_keys(runs)
        hint = ("; ".join(f"they differ in {k} ({', '.join(v)}): select one with "
                          + (f"the override {k}=<value>" if k.startswith(SCOPE_PREFIXES)
                             else f"the table filter {{{k}: <value>}}") for k, v in keys.items())
                or "their configs are equal: remove the duplicate run folder")
        raise ValueError(f"table {table}, {where}: runs {list(runs['run_id'])} disagree on {metric}; {hint}")
    return distinct.pop() if distinct else math.nan


def _uncut_cell(runs: pd.DataFrame, metric: str, where: str, table: str) -> float:
    """A run without a cut-off (full context: "Acc", not "Acc@5") fills every "@k" column of its
    measure: the paper prints the full-context accuracy in the k columns. NaN when it has none."""
    try:
        return _cell(runs, metric.split("@")[0], where, table)
    except KeyError:
        return math.nan


def differing_keys(runs: pd.DataFrame) -> dict[str, list[str]]:
    """{config key: its distinct labels} for the config keys on which ``runs`` differ."""
    out: dict[str, list[str]] = {}
    for column in runs.columns:
        if str(column).startswith("config."):
            labels = sorted({config_label(v) for v in runs[column]})
            if len(labels) > 1:
                out[str(column)[len("config."):]] = labels
    return out


def _ordered(given: Sequence[str], paper: Sequence[str], seen: Sequence[str]) -> list[str]:
    if given:
        return [str(x) for x in given]
    out = list(dict.fromkeys(str(x) for x in paper))
    return out + sorted(str(x) for x in set(seen) if str(x) not in out and str(x))


def build_table(runs_df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Index (row, source) with source in ours/paper/delta (only "ours" when the spec has no paper
    numbers); one column per column label; NaN where a value is missing; delta = ours - paper."""
    df = runs_df
    if not df.empty:
        df = df[filter_mask(df, spec.filters, spec.name)]
    row_col = find_column(df, spec.row_key, "config", spec.name) if not df.empty else None
    col_col = (find_column(df, spec.col_key, "config", spec.name)
               if spec.col_key is not None and not df.empty else None)
    rows = _ordered(spec.row_order, list(spec.paper), [] if df.empty else df[row_col].map(config_label))
    paper_cols = [c for r in spec.paper.values() for c in r]
    cols = _ordered(spec.col_order, paper_cols, [] if col_col is None else df[col_col].map(config_label))
    cols += [spec.average] if spec.average and spec.average not in cols else []
    ours = pd.DataFrame(math.nan, index=rows, columns=cols)
    for row in rows:
        in_row = df[df[row_col].map(config_label) == row] if not df.empty else df
        for col in cols:
            if col == spec.average:
                continue
            runs = in_row
            if col_col is not None and not runs.empty:
                runs = runs[runs[col_col].map(config_label) == col]
            if col in spec.column_filters and not runs.empty:
                runs = runs[filter_mask(runs, spec.column_filters[col], spec.name)]
            metric = spec.column_metrics.get(col, spec.metric)
            value = _cell(runs, metric, f"row {row!r}, column {col!r}", spec.name)
            if math.isnan(value) and "@" in metric and not runs.empty:
                value = _uncut_cell(runs, metric, f"row {row!r}, column {col!r}", spec.name)
            ours.loc[row, col] = value * spec.scale
        if spec.average:
            others = ours.loc[row, [c for c in cols if c != spec.average]]
            ours.loc[row, spec.average] = others.mean() if others.notna().all() else math.nan
    parts = {"ours": ours}
    if spec.paper:
        paper = pd.DataFrame([[float(spec.paper.get(r, {}).get(c, math.nan)) for c in cols] for r in rows],
                             index=rows, columns=cols)
        parts.update(paper=paper, delta=ours - paper)
    table = pd.concat(parts, names=["source", spec.row_key]).swaplevel(0, 1)
    order = [(r, s) for r in rows for s in SOURCES if s in parts]
    return table.reindex(pd.MultiIndex.from_tuples(order, names=[spec.row_key, "source"]))


# ----------------------------------------------------------------------------- paper numbers
def load_paper_table(table_name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The validated YAML record of one paper table (title, metric, columns, default_model, rows)."""
    path = Path(root or PAPER_DIR) / f"{table_name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise FileNotFoundError(f"no paper table {table_name!r} at {path} (known: {', '.join(known)})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("title", "columns", "rows"):
        if not isinstance(data, dict) or key not in data:
            raise ValueError(f"{path}: missing field {key!r}")
    seen = set()
    for i, entry in enumerate(data["rows"], 1):
        where = f"{path}: row {i} ({entry.get('row')!r}, model {entry.get('model')!r})"
        if "row" not in entry or len(entry.get("values", ())) != len(data["columns"]):
            raise ValueError(f"{where}: needs 'row' and {len(data['columns'])} values")
        if (entry.get("model"), entry["row"]) in seen:
            raise ValueError(f"{where}: duplicate row")
        seen.add((entry.get("model"), entry["row"]))
    return data


def paper_numbers(table_name: str, model: str | None = None,
                  root: str | os.PathLike | None = None) -> dict[str, dict[str, float]]:
    """{row: {col: value}} for one model (default: the file's default_model); rows with no model
    (e.g. BM25) are shared by all models. Missing values are absent, not zero."""
    data = load_paper_table(table_name, root)
    model = model or data.get("default_model")
    models = {e.get("model") for e in data["rows"]} - {None}
    if model is not None and models and model not in models:
        raise KeyError(f"paper table {table_name}: no model {model!r} (known: {', '.join(sorted(models))})")
    out: dict[str, dict[str, float]] = {}
    for entry in data["rows"]:
        if entry.get("model") in (None, model):
            out[str(entry["row"])] = {str(c): float(v) for c, v in zip(data["columns"], entry["values"])
                                      if v is not None}
    return out
