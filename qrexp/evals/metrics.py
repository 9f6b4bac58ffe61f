"""Ranking metrics: pytrec_eval wrappers (nDCG, recall, ...) and gold-set recall for long-context QA.

Conventions (the same for every metric in this module):
  * Ranking: documents are sorted by score descending; equal scores are broken by doc id ascending
    (string order), so "a" ranks before "b". pytrec_eval's own tie-break (doc id descending) never
    applies, because runs are re-scored by rank before they reach it.
  * Missing queries: a query that has judgements but no (or an empty) ranking counts as 0 on every
    measure and the mean is taken over all judged queries (``trec_eval -c``). ``missing="skip"``
    reproduces pytrec_eval and BEIR's EvaluateRetrieval, which drop such queries from both the
    per-query rows and the mean.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Mapping

import pytrec_eval

from qrexp.measures import trec_names
from qrexp.types import Qrels, Run, rank_by_score

DEFAULT_MEASURES = ("nDCG@10", "R@100")
MISSING_POLICIES = ("zero", "skip")

PerQuery = dict[str, dict[str, float]]
Means = dict[str, float]


def _by_rank(run: Run) -> dict[str, dict[str, float]]:
    """Replace scores with n - rank so pytrec_eval sees exactly our ordering."""
    out: dict[str, dict[str, float]] = {}
    for qid, scores in run.items():
        order = rank_by_score(scores, f"run: query {str(qid)!r}", "doc")
        out[str(qid)] = {str(d): float(len(order) - i) for i, d in enumerate(order)}
    return out


def integer_qrels(qrels: Mapping[str, Mapping[str, float]]) -> Qrels:
    """Qrels with int relevance; raises if a value is not integral (e.g. 1.5) or not a number."""
    out: Qrels = {}
    for qid, judged in qrels.items():
        row: dict[str, int] = {}
        for doc_id, rel in judged.items():
            if isinstance(rel, bool) or not isinstance(rel, numbers.Real):
                raise ValueError(f"qrels: query {qid!r}, doc {doc_id!r}: relevance {rel!r} is not a number")
            value = float(rel)
            if not math.isfinite(value) or value != int(value):
                raise ValueError(f"qrels: query {qid!r}, doc {doc_id!r}: relevance {rel!r} is not an integer")
            row[str(doc_id)] = int(value)
        out[str(qid)] = row
    return out


def measure_names(measures: Iterable[str]) -> list[str]:
    """The output keys pytrec_eval produces for requested measures ("ndcg_cut.5,10" -> two keys)."""
    probe = pytrec_eval.RelevanceEvaluator({"q": {"d": 1}}, {measures} if isinstance(measures, str)
                                           else set(measures))
    return sorted(probe.evaluate({"q": {"d": 1.0}})["q"])


def evaluate_run(run: Run, qrels: Mapping[str, Mapping[str, float]],
                 measures: Iterable[str] = DEFAULT_MEASURES,
                 missing: str = "zero") -> tuple[PerQuery, Means]:
    """Per-query and mean trec_eval measures of ``run`` against ``qrels``, keyed by canonical names.

    ``measures`` in ir_measures style ("nDCG@10", "R@100", "P@5", "AP") or pytrec_eval names
    ("ndcg_cut_10", "recall_100", "map", "ndcg_cut.5,10"); results are keyed "nDCG@10", "R@100", ...
    (qrexp.measures). Queries in the run but not in the qrels are ignored. See the module docstring
    for ``missing``. Raises ValueError for an unknown measure before any work.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing={missing!r}; expected one of {MISSING_POLICIES}")
    measures = [measures] if isinstance(measures, str) else list(measures)   # one name, not its letters
    if not measures:
        raise ValueError("evaluate_run: no measures requested")
    canonical = trec_names(measures)                     # {pytrec_eval name: canonical name}
    measures = list(canonical)
    qrels_int = integer_qrels(qrels)
    if not qrels_int:
        raise ValueError("evaluate_run: qrels hold no queries")
    try:
        evaluator = pytrec_eval.RelevanceEvaluator(qrels_int, set(measures))
    except ValueError as err:
        raise ValueError(f"evaluate_run: {err} (measures {measures})") from None
    per_query: PerQuery = {q: dict(v) for q, v in evaluator.evaluate(_by_rank(run)).items()}
    names = measure_names(measures)
    if missing == "zero":
        for qid in qrels_int:
            per_query.setdefault(qid, {name: 0.0 for name in names})
        counted = list(qrels_int)
    else:
        counted = [q for q in qrels_int if q in per_query]
    per_query = {q: {canonical[name]: row[name] for name in names} for q, row in
                 ((q, per_query[q]) for q in counted)}
    mean = {canonical[name]: (sum(per_query[q][canonical[name]] for q in counted) / len(counted)
                              if counted else math.nan) for name in names}
    return per_query, mean


def recall_at_k(ranked_ids: list[str], gold: Iterable[str], k: int) -> dict[str, float]:
    """Recall of a gold set in the top ``k`` of a ranked list.

    Returns {"R": fraction of gold in top-k, "Success": 1.0 if any gold is in top-k,
    "R_all": 1.0 if all are} (qrexp.measures names). ``gold`` must be non-empty.
    """
    if k < 1:
        raise ValueError(f"recall_at_k: k must be >= 1, got {k}")
    gold_set = {str(g) for g in gold}
    if not gold_set:
        raise ValueError("recall_at_k: gold set is empty")
    hits = len(gold_set.intersection(str(d) for d in ranked_ids[:k]))
    return {"R": hits / len(gold_set),
            "Success": float(hits > 0),
            "R_all": float(hits == len(gold_set))}


def retrieval_metrics(run: Run, gold: Mapping[str, Iterable[str]],
                      ks: Iterable[int] = (3, 5, 10)) -> tuple[PerQuery, Means]:
    """R / Success / R_all at each k (recall, recall_any, recall_all), keyed like "R@5", per query
    and mean.

    Queries with an empty gold set (e.g. LongMemEval abstention questions) are left out of both;
    queries with gold but no ranking in ``run`` count as 0. The mean is over the kept queries.
    """
    ks = sorted({int(ks)} if isinstance(ks, int) else set(int(k) for k in ks))
    if not ks:
        raise ValueError("retrieval_metrics: no cut-offs given")
    per_query: PerQuery = {}
    for qid, gold_ids in gold.items():
        gold_set = {str(g) for g in gold_ids}
        if not gold_set:
            continue
        ranked_ids = rank_by_score(run.get(qid, {}), f"run: query {str(qid)!r}", "doc")
        row: dict[str, float] = {}
        for k in ks:
            for name, value in recall_at_k(ranked_ids, gold_set, k).items():
                row[f"{name}@{k}"] = value
        per_query[str(qid)] = row
    names = [f"{name}@{k}" for k in ks for name in ("R", "Success", "R_all")]
    n = len(per_query)
    mean = {name: (sum(r[name] for r in per_query.values()) / n if n else math.nan) for name in names}
    return per_query, mean
