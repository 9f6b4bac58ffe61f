"""Re-score a run folder's run.trec against its qrels.trec with pytrec_eval (independently of qrexp)
and compare with its metrics.json and per_query.jsonl. Used by a test and by the end-of-session
check in conftest.py, which re-scores every run file any test wrote.

Measures: trec_eval names in metrics.json (ndcg_cut_10, recall_5, ...) directly; long-context
``recall@k`` = trec_eval recall_k, ``recall_any@k`` = success_k, ``recall_all@k`` = [recall_k == 1].
Queries judged but missing from the run count 0 (qrexp's convention, trec_eval -c).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytrec_eval

TREC_KEY = re.compile(r"^(ndcg_cut|ndcg|recall|P|map_cut|map|success|recip_rank|Rprec)(_\d+)?$")
RECALL_KEY = re.compile(r"^(recall|recall_any|recall_all)@(\d+)$")


def _pytrec_measure(key: str) -> tuple[str, str] | None:
    """metrics.json key -> (pytrec_eval measure, output key), or None if not a ranking measure."""
    m = RECALL_KEY.match(key)
    if m:
        name = {"recall": "recall", "recall_any": "success", "recall_all": "recall"}[m.group(1)]
        return f"{name}.{m.group(2)}", f"{name}_{m.group(2)}"
    if TREC_KEY.match(key):
        return key, key
    return None


def _value(key: str, out: dict) -> float:
    m = RECALL_KEY.match(key)
    value = out[_pytrec_measure(key)[1]]
    return float(value == 1.0) if m and m.group(1) == "recall_all" else value


def rescore_run_folder(folder: str | Path) -> list[str]:
    """Mismatches (empty when run.trec reproduces metrics.json and per_query.jsonl exactly)."""
    folder = Path(folder)
    record = json.loads((folder / "metrics.json").read_text())
    with open(folder / "qrels.trec") as fq, open(folder / "run.trec") as fr:
        qrels, run = pytrec_eval.parse_qrel(fq), pytrec_eval.parse_run(fr)
    problems = []
    for qid, scores in run.items():          # the file's scores alone fix the order: no float32 ties
        values = sorted(np.float32(s) for s in scores.values())
        if any(a == b for a, b in zip(values, values[1:])):
            problems.append(f"{folder.name}: query {qid} has tied float32 scores in run.trec")
    keys = {k: _pytrec_measure(k) for k in record["metrics"]}
    keys = {k: v for k, v in keys.items() if v is not None}
    if not keys:
        return problems
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {m for m, _ in keys.values()})
    per_query = evaluator.evaluate({q: r for q, r in run.items() if q in qrels})
    rows = {}
    if (folder / "per_query.jsonl").is_file():
        rows = {r["qid"]: r for r in map(json.loads, (folder / "per_query.jsonl").read_text().splitlines())}
    for key in keys:
        values = {q: (_value(key, per_query[q]) if q in per_query else 0.0) for q in qrels}
        mean = sum(values[q] for q in qrels) / len(qrels)
        if abs(mean - record["metrics"][key]) > 1e-12:
            problems.append(f"{folder.name}: {key} = {record['metrics'][key]} in metrics.json, "
                            f"{mean} from run.trec")
        for qid, value in values.items():
            if qid in rows and key in rows[qid] and rows[qid][key] != value:
                problems.append(f"{folder.name}: query {qid} {key} = {rows[qid][key]} in per_query.jsonl, "
                                f"{value} from run.trec")
    return problems


def scored_run_folders(root: str | Path) -> list[Path]:
    """Run folders under ``root`` (any depth) holding metrics.json, run.trec and qrels.trec."""
    return sorted(p.parent for p in Path(root).rglob("run.trec")
                  if (p.parent / "metrics.json").is_file() and (p.parent / "qrels.trec").is_file())
