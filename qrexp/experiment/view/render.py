"""Render the viewer's pages with Jinja2 (autoescaped templates in qrexp/view/templates) and write
the folder: index.html, q/<group>/<query>.html, assets/ (plotly.js from the plotly package, our
viewer.js and viewer.css) and runs/<run id>/{config,metrics}.json copies that every number links to.
"""
from __future__ import annotations

import hashlib
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from qrexp.experiment.view.collect import Experiment
from qrexp.experiment.view.drill import Group
from qrexp.experiment.view.figures import experiment_figures, head_heatmap, plotly_js_path, primary_metric

HERE = Path(__file__).resolve().parent
RUN_FILES = ("config.json", "metrics.json")


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                       undefined=StrictUndefined, keep_trailing_newline=True)


def page_name(qid: str) -> str:
    """A file name for a query id: itself when safe, else a slug plus a short hash."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}", qid):
        return f"{qid}.html"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", qid)[:40].strip("._") or "q"
    return f"{slug}-{hashlib.sha256(qid.encode()).hexdigest()[:8]}.html"


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or isinstance(v, bool) \
        or not isinstance(v, (int, float)) else float(v)


def _run_table(runs: pd.DataFrame, swept: list[str], gid_of: dict[str, str]) -> dict:
    """Rows of one eval's runs with the metrics that eval has (0-100 when all values lie in [0, 1])."""
    metric_cols = [c for c in runs.columns if c.startswith("metrics.")
                   and runs[c].map(lambda v: _num(v) is not None).any()]
    scale = {c: 100.0 if runs[c].map(lambda v: _num(v) is None or 0 <= v <= 1).all() else 1.0
             for c in metric_cols}
    rows = []
    for _, r in runs.iterrows():
        rows.append({"run_id": r["run_id"], "method": r.get("config.method"),
                     "swept": [r.get(f"config.{k}") for k in swept],
                     "metrics": [None if _num(r[c]) is None else _num(r[c]) * scale[c] for c in metric_cols],
                     "n": r["n"], "wall": "" if _num(r.get("wall_time_s")) is None else f"{r['wall_time_s']:.1f}",
                     "group": gid_of.get(r["run_id"], "")})
    return {"metric_names": [c[len("metrics."):] for c in metric_cols], "rows": rows}


def _experiment_context(e: Experiment, runs_root: Path, gid_of: dict[str, str]) -> dict:
    runs = e.runs.sort_values(["config.eval.name", "config.method", "run_id"]) if not e.runs.empty else e.runs
    run_tables = [{"eval": name, **_run_table(part, e.swept, gid_of)}
                  for name, part in (runs.groupby("config.eval.name", sort=True) if not runs.empty else [])]
    heatmaps = []
    for i, rid in enumerate(e.detections):
        path = runs_root / rid / "heads.json"
        if path.is_file():
            heatmaps.append((rid, head_heatmap(path, f"{e.name}-heads-{i}", "")))
    return {"name": e.name, "tables": e.tables, "swept": e.swept, "run_tables": run_tables,
            "heatmaps": heatmaps,
            "figures": experiment_figures(runs, e.swept, f"{e.name}-fig", _metric_of(e)) if not runs.empty else []}


def _metric_of(e: Experiment):
    """Each run's metric in the figures: the one the experiment's first table shows, else its headline."""
    if not e.tables:
        return primary_metric
    return lambda row: e.tables[0].metric_of(row) or primary_metric(row)


def _query_data(g: Group, ex, defaults: tuple[int, int]) -> dict:
    runs = []
    for gr in g.runs:
        sh = gr.shading.get(ex.qid)
        reason = gr.note if sh is None else sh.reason
        runs.append({"run_id": gr.run_id, "label": gr.label, "ranking": gr.ranking.get(ex.qid, []),
                     "metrics": {k: v for k, v in gr.per_query.get(ex.qid, {}).items()
                                 if k != "qid" and _num(v) is not None},
                     "values": None if sh is None or reason else sh.values,
                     "pieces": None if sh is None or reason else sh.pieces, "reason": reason})
    keys = sorted({r["pieces"] for r in runs if r["pieces"]})
    return {"qid": ex.qid, "gold": g.gold.get(ex.qid, {}), "runs": runs, "defaults": list(defaults),
            "docs": {d.doc_id: {"title": d.title, "text": d.text} for d in ex.docs},
            "pieces": {k: g.pieces[k][ex.qid] for k in keys if ex.qid in g.pieces.get(k, {})}}


def _defaults(g: Group) -> tuple[int, int]:
    """Left: qrhead (else the first run); right: icr (else the next run)."""
    methods = [r.method for r in g.runs]
    left = methods.index("qrhead") if "qrhead" in methods else 0
    right = methods.index("icr") if "icr" in methods else (left + 1) % max(1, len(methods))
    return left, right


def _group_context(g: Group, all_runs: pd.DataFrame) -> dict:
    by_id = all_runs.set_index("run_id") if not all_runs.empty else all_runs
    metrics = [primary_metric(by_id.loc[r.run_id]) if r.run_id in by_id.index else None for r in g.runs]
    queries = []
    for ex in g.examples:
        values = [(_num(r.per_query.get(ex.qid, {}).get(m)) if m else None, r.run_id)
                  for r, m in zip(g.runs, metrics)]
        text = ex.query if len(ex.query) <= 110 else ex.query[:107] + "..."
        queries.append({"qid": ex.qid, "href": f"q/{g.gid}/{page_name(ex.qid)}", "text": text,
                        "n_gold": len(g.gold.get(ex.qid, {})), "cells": values})
    labels = [f"{r.label} ({m})" if m else r.label for r, m in zip(g.runs, metrics)]
    return {"gid": g.gid, "eval_name": g.eval_name, "n": len(g.examples), "error": g.error,
            "queries": queries, "run_labels": labels}


def render(out: Path, all_runs: pd.DataFrame, experiments: list[Experiment], groups: list[Group],
           runs_root: Path, runs_label: str) -> int:
    """Write every page and asset into the (empty) folder ``out``; returns the number of pages."""
    env = _env()
    assets = out / "assets"
    assets.mkdir(parents=True)
    shutil.copyfile(plotly_js_path(), assets / "plotly.min.js")
    for name in ("viewer.js", "viewer.css"):
        shutil.copyfile(HERE / "static" / name, assets / name)
    for rid in all_runs["run_id"] if not all_runs.empty else []:
        (out / "runs" / rid).mkdir(parents=True)
        for name in RUN_FILES:
            if (runs_root / rid / name).is_file():
                shutil.copyfile(runs_root / rid / name, out / "runs" / rid / name)
    gid_of = {r.run_id: g.gid for g in groups for r in g.runs}
    stage = all_runs.get("config.stage", pd.Series(dtype=object))
    ctx = {"experiments": [_experiment_context(e, runs_root, gid_of) for e in experiments],
           "groups": [_group_context(g, all_runs) for g in groups], "runs_label": runs_label,
           "n_runs": len(all_runs), "n_eval": int((stage == "evaluate").sum()),
           "n_detect": int(stage.astype(str).str.startswith("detect").sum())}
    (out / "index.html").write_text(env.get_template("index.html").render(**ctx), encoding="utf-8")
    pages, query_tpl = 1, env.get_template("query.html")
    for g in groups:
        defaults = _defaults(g)
        folder = out / "q" / g.gid
        folder.mkdir(parents=True, exist_ok=True)
        for ex in g.examples:
            gold = g.gold.get(ex.qid, {})
            html = query_tpl.render(qid=ex.qid, gid=g.gid, eval_name=g.eval_name, query=ex.query,
                                    gold_text=", ".join(gold) or "none (abstention)",
                                    data=_query_data(g, ex, defaults))
            (folder / page_name(ex.qid)).write_text(html, encoding="utf-8")
            pages += 1
    return pages
