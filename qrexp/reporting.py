"""Report stage: run folders -> pandas -> leaderboard tables (Markdown, LaTeX, CSV), each with a
short interpretation line that checks the spec's claims (e.g. "qrhead > icr") on our numbers.

Spec keys: the TableSpec fields, plus ``paper_table`` / ``paper_model`` (reference numbers from
results/paper), ``claims``: [[row_a, ">", row_b, column], ...], and ``select``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .config import RunConfig
from .report import TableSpec, build_table, paper_numbers, write_table
from .stages import store_of
from .store import atomic_write_text, load_runs

_EXTRA_KEYS = ("paper_table", "paper_model", "claims", "select", "row_label")


def experiment_run_ids(cfg: RunConfig) -> list[str]:
    """The evaluation runs this experiment's config names (finished or not)."""
    from .config import evals_of
    from .evaluation import eval_id
    return [eval_id(one, m) for one in evals_of(cfg) for m in one.eval.methods]


def spec_from_dict(data: Mapping[str, Any]) -> tuple[TableSpec, list, str, str | None]:
    """TableSpec, claims, which runs to use ("experiment": this config's runs; "all": every run in
    the store narrowed by the spec's filters, for sweeps), and an optional row-label template over
    config keys, e.g. "{method}-{heads.detect}"."""
    data = dict(data)
    extra = {k: data.pop(k, None) for k in _EXTRA_KEYS}
    if extra["paper_table"]:
        data["paper"] = paper_numbers(extra["paper_table"], extra["paper_model"])
    for key in ("row_order", "col_order"):
        if key in data:
            data[key] = [str(x) for x in data[key]]
    if extra["row_label"]:
        data["row_key"] = "row_label"
    return TableSpec(**data), list(extra["claims"] or []), extra["select"] or "experiment", extra["row_label"]


def check_claims(table: pd.DataFrame, claims: list, digits: int) -> list[str]:
    """One sentence per claim: holds / does not hold / cannot be checked, with the numbers."""
    ours = table.xs("ours", level="source") if "source" in (table.index.names or []) else table
    lines = []
    for a, op, b, col in claims:
        va, vb = (ours.loc[str(r), col] if str(r) in ours.index else math.nan for r in (a, b))
        if any(isinstance(v, float) and math.isnan(v) for v in (va, vb)):
            lines.append(f"{a} {op} {b} on {col}: cannot be checked (missing run)")
            continue
        holds = va > vb if op == ">" else va >= vb
        verdict = "holds" if holds else "does NOT hold"
        lines.append(f"{a} {op} {b} on {col}: {verdict} ({va:.{digits}f} vs {vb:.{digits}f})")
    return lines


def write_report(cfg: RunConfig, log=print) -> list[Path]:
    all_runs = load_runs(store_of(cfg).root)
    mine = experiment_run_ids(cfg)
    own = all_runs[all_runs["run_id"].isin(mine)] if not all_runs.empty else all_runs
    out_dir = Path(cfg.report.out or Path(cfg.out_dir) / "tables")
    written = []
    for data in cfg.report.tables:
        spec, claims, select, row_label = spec_from_dict(data)
        runs = all_runs if select == "all" else own
        if row_label and not runs.empty:
            runs = runs.assign(row_label=[_format_label(row_label, r) for _, r in runs.iterrows()])
        table = build_table(runs, spec)
        paths = write_table(table, spec, out_dir)
        notes = check_claims(table, claims, spec.digits)
        n = _sample_sizes(runs, spec)
        if notes or n:
            md = paths["md"].read_text()
            md += "\n" + (f"Sample sizes: {n}.\n" if n else "")
            md += "".join(f"- {line}\n" for line in notes)
            atomic_write_text(paths["md"], md)
        log(f"[report] {paths['md']}\n{paths['md'].read_text()}")
        written.append(paths["md"])
    return written


def _format_label(template: str, row: pd.Series) -> str:
    """Fill "{method}-{heads.detect}" from a load_runs row (config.* columns; missing -> "")."""
    import re
    def value(m):
        v = row.get(f"config.{m.group(1)}")
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    return re.sub(r"\{([^}]+)\}", value, template)


def _sample_sizes(runs: pd.DataFrame, spec: TableSpec) -> str:
    """'eval: n' for the runs a table draws on (the number of queries behind each cell)."""
    if runs.empty or "n" not in runs.columns:
        return ""
    col = f"config.{spec.col_key}" if spec.col_key else None
    if col and col in runs.columns:
        sizes = runs.groupby(col)["n"].max()
        return ", ".join(f"{k} n={int(v)}" for k, v in sizes.items())
    return f"n={int(runs['n'].max())}"
