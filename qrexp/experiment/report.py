"""Report stage: run folders -> pandas -> leaderboard tables (Markdown, LaTeX, CSV), each with a
short interpretation line that checks the spec's claims (e.g. "qrhead > icr") on our numbers.

Spec keys: the TableSpec fields, plus ``paper_table`` / ``paper_model`` (reference numbers from
results/paper), ``claims``: [[row_a, ">", row_b, column], ...], ``select``, and ``model`` (the model
the table is made for; default ``paper_model``: runs of another model go to ``<name>-<model>``).
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from qrexp.experiment.config import RunConfig
from qrexp.measures import canonical_key
from qrexp.report.render import column_label, to_markdown, write_table
from qrexp.report.tables import TableSpec, build_table, config_label, paper_numbers
from qrexp.runs.table import load_runs
from qrexp.experiment.stages import store_of

_EXTRA_KEYS = ("paper_table", "paper_model", "claims", "select", "row_label", "model")


def experiment_run_ids(cfg: RunConfig) -> list[str]:
    """The evaluation runs this experiment's config names (finished or not)."""
    from qrexp.experiment.config import evals_of
    from qrexp.experiment.evaluate import eval_id
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


def paired_bootstrap(a: dict[str, float], b: dict[str, float], resamples: int = 2000,
                     seed: int = 0) -> tuple[float, float, float, int]:
    """Mean per-query difference a - b over shared queries and its 95% percentile-bootstrap CI."""
    import numpy as np
    qids = sorted(set(a) & set(b))
    diff = np.array([a[q] - b[q] for q in qids], dtype=float)
    if len(diff) == 0:
        return math.nan, math.nan, math.nan, 0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(diff.mean()), float(lo), float(hi), len(diff)


def per_query(runs: pd.DataFrame, spec: TableSpec, row: str, col: str, store_root: Path) -> dict | None:
    """{qid: value} of the table cell's metric, when exactly one run fills the cell."""
    row_col = f"config.{spec.row_key}" if f"config.{spec.row_key}" in runs else spec.row_key
    cell = runs[runs[row_col].map(str) == row]
    if spec.col_key:
        cell = cell[cell[f"config.{spec.col_key}"].map(str) == col]
    if len(cell) != 1:
        return None
    metric = spec.column_metrics.get(col, spec.metric)
    path = store_root / cell.iloc[0]["run_id"] / "per_query.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = canonical_key(metric)                  # rows written before the rename say "recall@5"
    return {r["qid"]: float(v) for r in rows for k, v in r.items() if k != "qid" and canonical_key(k) == wanted}


def check_claims(table: pd.DataFrame, claims: list, digits: int, runs: pd.DataFrame | None = None,
                 spec: TableSpec | None = None, store_root: Path | None = None) -> list[str]:
    """One sentence per claim: holds / does not hold / cannot be checked, with the numbers and,
    when per-query rows are at hand, the paired-bootstrap 95% CI of the difference."""
    if not claims:
        return []
    if "ours" not in table.index.get_level_values("source"):
        return [f"{a} {op} {b} on {col}: cannot be checked (no runs)" for a, op, b, col in claims]
    ours = table.xs("ours", level="source")
    lines = []
    for a, op, b, col in claims:
        va, vb = (ours.loc[str(r), col] if str(r) in ours.index else math.nan for r in (a, b))
        if any(isinstance(v, float) and math.isnan(v) for v in (va, vb)):
            lines.append(f"{a} {op} {b} on {col}: cannot be checked (missing run)")
            continue
        holds = va > vb if op == ">" else va >= vb
        verdict = "holds" if holds else "does NOT hold"
        line = f"{a} {op} {b} on {col}: {verdict} ({va:.{digits}f} vs {vb:.{digits}f}"
        if runs is not None and not runs.empty:
            qa, qb = (per_query(runs, spec, str(r), col, store_root) for r in (a, b))
            if qa and qb:
                mean, lo, hi, n = paired_bootstrap(qa, qb)
                scale = spec.scale
                line += (f"; paired difference {mean * scale:+.{digits}f}, 95% bootstrap CI "
                         f"[{lo * scale:+.{digits}f}, {hi * scale:+.{digits}f}] over {n} queries")
        lines.append(line + ")")
    return lines


def write_report(cfg: RunConfig, log=print) -> list[Path]:
    """Write each table of ``cfg.report.tables`` to ``<out>/<name>[-<model>][-limit<N>].{md,tex,csv}``.

    A table with no finished run for this config is skipped with a log line (a committed table is
    never replaced by dashes). ``select: all`` tables keep the runs of this config's data, model
    and seed (qrexp.experiment.report_scope), and say under the table how many runs of other configs were
    left out. Returns the Markdown paths written.
    """
    from qrexp.experiment.report_scope import narrow_to_config, paper_model_for, table_stem
    all_runs = load_runs(store_of(cfg).root, warn=log)
    mine = experiment_run_ids(cfg)
    own = all_runs[all_runs["run_id"].isin(mine)] if not all_runs.empty else all_runs
    out_dir = Path(cfg.report.out or Path(cfg.out_dir) / "tables")
    written = []
    for data in cfg.report.tables:
        data, paper_note = dict(data), ""
        made_for = data.get("model") or data.get("paper_model")
        if data.get("paper_table"):
            data["paper_model"], paper_note = paper_model_for(data["paper_table"], data.get("paper_model"),
                                                              cfg.model.name)
        spec, claims, select, row_label = spec_from_dict(data)
        spec = dataclasses.replace(spec, name=table_stem(spec.name, cfg, made_for))
        runs = all_runs if select == "all" else own
        if "experiment" in spec.filters and not runs.empty:      # runs are shared between experiments
            name = spec.filters["experiment"]
            runs = runs[runs["used_by"].map(lambda used: name in used)]
            spec = dataclasses.replace(spec, filters={k: v for k, v in spec.filters.items() if k != "experiment"})
        scope_note = ""
        if select == "all":
            runs, scope_note = narrow_to_config(runs, cfg, spec, row_label)
        if row_label and not runs.empty:
            runs = runs.assign(row_label=[_format_label(row_label, r) for _, r in runs.iterrows()])
        table = build_table(runs, spec)
        ours = table[table.index.get_level_values("source") == "ours"]
        if ours.empty or ours.isna().all().all():
            target = out_dir / f"{spec.name}.md"
            kept = f"{target} left as it is" if target.is_file() else "nothing written"
            log(f"[report] {spec.name}: no finished runs of this config fill the table; {kept}")
            continue
        notes = check_claims(table, claims, spec.digits, runs, spec, store_of(cfg).root)
        n = _sample_sizes(runs, spec)
        text = (f"Sample sizes: {n}.\n" if n else "")
        text += f"Runs: {scope_note}.\n" if scope_note else ""
        text += f"Note: {paper_note}.\n" if paper_note else ""
        text += "".join(f"- {line}\n" for line in notes)
        paths = write_table(table, spec, out_dir, notes=text)    # built in memory, written once
        log(f"[report] {paths['md']}\n{to_markdown(table, spec)}" + (f"\n{text}" if text else ""))
        written.append(paths["md"])
    return written


def spec_runs(all_runs: pd.DataFrame, own: pd.DataFrame, data: Mapping[str, Any]):
    """(TableSpec, claims, runs) for one table spec: the experiment's own runs, or every run for
    ``select: all``, narrowed to those used by ``filters.experiment``, with row labels filled in."""
    spec, claims, select, row_label = spec_from_dict(data)
    runs = all_runs if select == "all" else own
    if "experiment" in spec.filters and not runs.empty:      # runs are shared between experiments
        name = spec.filters["experiment"]
        runs = runs[runs["used_by"].map(lambda used: name in used)]
        spec = dataclasses.replace(spec, filters={k: v for k, v in spec.filters.items() if k != "experiment"})
    if row_label and not runs.empty:
        runs = runs.assign(row_label=[_format_label(row_label, r) for _, r in runs.iterrows()])
    return spec, claims, runs


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
        sizes = runs.groupby(col, dropna=False)["n"].max()
        return ", ".join(f"{column_label(spec, config_label(k))} n={int(v)}" for k, v in sizes.items())
    return f"n={int(runs['n'].max())}"
