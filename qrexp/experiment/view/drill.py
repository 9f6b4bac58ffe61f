"""Drill-down groups: evaluation runs over the same examples (same eval data and seed), each with
its ranking per query (run.trec), per-query metrics (per_query.jsonl) and, for attention methods,
the token shading of every document (``tokens.shade_example`` on the cached token scores).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from qrexp.evals.kinds import KINDS
from qrexp.experiment.config import RunConfig
from qrexp.experiment.data import load_data
from qrexp.experiment.context import cache_dir, scorer_of
from qrexp.experiment.methods import METHODS
from qrexp.io.trec import read_trec_run
from qrexp.types import Example, rank_by_score
from qrexp.experiment.view.collect import group_id, swept_keys
from qrexp.experiment.view.tokens import Shading, run_config, run_heads, shade_example


@dataclass
class GroupRun:
    run_id: str
    label: str
    method: str
    ranking: dict[str, list[tuple[str, float]]]          # {qid: [(doc_id, score), ...] best first}
    per_query: dict[str, dict[str, Any]]                  # {qid: per_query.jsonl row}
    shading: dict[str, Shading] = field(default_factory=dict)
    note: str | None = None                               # why a run has no token shading at all


@dataclass
class Group:
    gid: str
    eval_name: str
    examples: list[Example]
    gold: dict[str, dict[str, int]]                       # {qid: {doc_id: relevance grade}}
    runs: list[GroupRun]
    pieces: dict = field(default_factory=dict)            # {pieces key: {qid: {doc_id: [str]}}}
    error: str | None = None


def _per_query(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / "per_query.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {str(r["qid"]): r for r in rows}


def gold_of(ex: Example, graded: bool) -> dict[str, int]:
    """Relevance grades of a query's units: graded qrels (BEIR) or 1 for each gold unit."""
    if graded and ex.meta.get("qrels"):
        return {str(d): int(g) for d, g in ex.meta["qrels"].items() if int(g) > 0}
    return {d: 1 for d in sorted(ex.gold)}


def _label(row: pd.Series, keys: list[str]) -> str:
    extra = ", ".join(f"{k}={row.get('config.' + k)}" for k in keys)
    return f"{row['config.method']}" + (f" ({extra})" if extra else "")


def stored_config(folder: Path) -> dict:
    """A run folder's config.json with its data's path arguments put back from metrics.json's
    provenance (``extra.data.paths``; run ids leave paths out) and the data fingerprint dropped."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    data = (config.get("eval") or {}).get("data")
    if isinstance(data, dict):
        data.pop("fingerprint", None)
        metrics = folder / "metrics.json"
        extra = json.loads(metrics.read_text(encoding="utf-8")).get("extra") or {} if metrics.is_file() else {}
        data.setdefault("args", {}).update((extra.get("data") or {}).get("paths") or {})
    return config


def drill_groups(base: RunConfig, runs: pd.DataFrame, runs_root: Path, log=print) -> list[Group]:
    """One Group per eval data set among the finished evaluation runs ``runs`` (load_runs rows)."""
    if runs.empty:
        return []
    configs = {rid: stored_config(runs_root / rid) for rid in runs["run_id"]}
    gids = runs["run_id"].map(lambda rid: group_id(configs[rid]))
    groups, scorers = [], {}
    for gid in sorted(set(gids)):
        rows = runs[gids == gid].sort_values(["config.method", "run_id"])
        keys = [k for k in swept_keys(rows) if not k.startswith("eval.")]
        first = run_config(base, configs[rows.iloc[0]["run_id"]])
        try:
            examples = load_data(first.eval.data, cache_dir(base), first.seed)
        except (OSError, ValueError, KeyError) as err:
            groups.append(Group(gid, first.eval.name, [], {}, [], error=f"examples not loadable: {err}"))
            continue
        graded = bool(first.eval.data.qrels) or KINDS.get(first.eval.kind).relevance.judged
        group = Group(gid, first.eval.name, examples, {ex.qid: gold_of(ex, graded) for ex in examples}, [])
        attention = []
        for _, row in rows.iterrows():
            rid, method = row["run_id"], row["config.method"]
            folder = runs_root / rid
            trec = folder / "run.trec"
            run = read_trec_run(trec) if trec.is_file() else {}
            ranking = {q: [(d, s[d]) for d in rank_by_score(s, f"run: query {q!r}", "doc")] for q, s in run.items()}
            gr = GroupRun(rid, _label(row, keys), method, ranking, _per_query(folder))
            if method not in METHODS or not METHODS.get(method).attention:
                gr.note = f"{method} is not an attention method: it has no token-level scores"
            else:
                attention.append((gr, run_config(base, configs[rid]), folder))
            group.runs.append(gr)
        _shade(group, attention, scorers, base.progress, log)
        groups.append(group)
    return groups


def _shade(group: Group, attention: list, scorers: dict, progress: bool, log) -> None:
    """Fill each attention run's shading, reading each example's cached token scores once per scorer."""
    ready = []
    for gr, cfg, folder in attention:
        if not (folder / "heads.txt").is_file():
            gr.note = f"run {gr.run_id} has no heads.txt: its head set is unknown"
            continue
        key = (cfg.model, cfg.scoring.query_span, cfg.scoring.null_query)
        if key not in scorers:
            log(f"[view] loading {cfg.model.name} to read cached token scores (no forward pass)")
            scorers[key] = scorer_of(cfg)
        scorer = scorers[key]
        r = scorer.retriever
        ready.append((gr, scorer, run_heads(folder, r.n_layers, r.n_heads), cfg.scoring.calibrate,
                      _cache_plan(folder)))
    for ex in tqdm(group.examples, desc=f"view {group.eval_name}", disable=not progress or not ready):
        pairs = {}
        for gr, scorer, heads, calibrated, plan in ready:
            if id(scorer) not in pairs:
                pairs[id(scorer)] = scorer.cached_token_scores(ex)     # whatever the budget kept
            gr.shading[ex.qid] = shade_example(scorer, ex, heads, calibrated, group.pieces,
                                               pairs[id(scorer)], plan)


def _cache_plan(folder: Path) -> dict | None:
    """The score-cache plan a run recorded (metrics.json ``extra.cache``), or None."""
    metrics = folder / "metrics.json"
    if not metrics.is_file():
        return None
    plan = (json.loads(metrics.read_text(encoding="utf-8")).get("extra") or {}).get("cache")
    return plan if isinstance(plan, dict) else None
