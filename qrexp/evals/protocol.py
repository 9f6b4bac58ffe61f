"""Evaluation protocol rules applied between a method's ranking and its metrics, each one counted.

Conventions (recorded in every run's metrics.json under ``extra.protocol``):
  * Missing queries: a judged query with no (or an empty) ranking counts as 0 on every measure and
    the mean is over every judged query. This is ``trec_eval -c``; BEIR's evaluation and
    pytrec_eval skip such queries instead (:data:`MISSING_QUERIES`).
  * Queries with no relevant document (no judgement > 0, e.g. an instance with empty ``gt_docs``)
    are left out of the retrieval metrics, as BEIR's loader does (it keeps only queries in its qrels);
    their number is ``n_no_relevant``. Long-context tasks (unit recall) use one rule for the same
    thing, :func:`left_out_reason`: a LongMemEval abstention question, a LongMemEval question whose
    evidence sessions are all absent from its history, a CLIPPER pair without a ``source`` (HF
    release rows). Loaders say why in ``meta["no_gold"]`` (abstention: ``meta["abstention"]``);
    :func:`gold_coverage` counts the reasons next to the metrics, so ``n`` (all examples, as QA
    uses them) and the number behind each recall mean are both on record.
  * Identical ids (BEIR ``ignore_identical_ids``, default true as in BEIR's EvaluateRetrieval):
    for data sets whose queries are also corpus documents (ArguAna, Quora) a candidate whose id
    equals the query id is dropped from the ranking before it is scored and written to run.trec;
    ``n_identical_dropped`` counts them. Applies to judged (BEIR-style) evaluations only.
Which rules an evaluation kind follows is its :class:`Relevance` (qrexp.evals.kinds.KINDS):
:data:`JUDGED` (graded qrels, BEIR-style) or :data:`GOLD_UNITS` (long-context unit recall).
  * Queries with leading or trailing whitespace are counted (``n_queries_edge_whitespace``): the chat
    prompt style renders them stripped (qrexp.engine.prompt.chat_query), as trimming chat templates do.
  * Gold ids that are not among a query's candidates stay gold (recall cannot reach 1 there);
    they are counted (``n_gold_outside_candidates``) and warned about before any work.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, MutableMapping, Sequence

from qrexp.types import Example, Qrels, Run

MISSING_QUERIES = ("zero: a judged query missing from the run counts 0 on every measure, mean over "
                   "all judged queries (trec_eval -c; BEIR and pytrec_eval skip such queries)")


@dataclass(frozen=True)
class Relevance:
    """Where an evaluation's relevance comes from and which protocol rules follow from it.

    ``judged``: graded judgements (``meta["qrels"]`` with ``data.qrels=true``, else 1 per gold id),
    scored by pytrec_eval's measures; otherwise gold units = 1, scored by unit recall at cut-offs
    (R@k, Success@k, R_all@k) with :func:`left_out_reason` deciding who is left out.
    ``identical_ids``: the ``ignore_identical_ids`` rule applies. ``no_relevant``: how a query
    without anything relevant is named in warnings.
    """
    judged: bool
    identical_ids: bool
    no_relevant: str


JUDGED = Relevance(judged=True, identical_ids=True, no_relevant="no relevant document")
GOLD_UNITS = Relevance(judged=False, identical_ids=False, no_relevant="no gold unit (or abstention)")


def judgements(ex: Example, graded: bool = True) -> dict[str, int]:
    """The judgements of an example: graded ``meta["qrels"]`` (``graded``, the data config's
    ``qrels`` field), else relevance 1 for each gold id."""
    if graded:
        if "qrels" not in ex.meta:
            raise ValueError(f"example {ex.qid}: data.qrels=true but its loader gives no graded qrels "
                             "(meta['qrels']); set data.qrels=false to judge by the gold ids")
        return dict(ex.meta["qrels"])
    return {d: 1 for d in ex.gold}


def left_out_reason(example: Example) -> str | None:
    """Why a long-context ``example`` has no gold units for recall (None: it has some)."""
    if example.meta.get("abstention"):
        return "abstention question"
    if not example.gold:
        return str(example.meta.get("no_gold") or "no gold unit")
    return None


def has_relevant(ex: Example, rules: Relevance, graded: bool = False) -> bool:
    """Whether the example enters retrieval metrics: for ``rules.judged`` a judgement > 0
    (:func:`judgements`), otherwise no :func:`left_out_reason` (gold units, not an abstention)."""
    if not rules.judged:
        return left_out_reason(ex) is None
    return any(r > 0 for r in judgements(ex, graded).values())


def gold_coverage(examples: Sequence[Example]) -> dict:
    """{"n": examples, "with_gold": examples scored by recall, "left_out": {reason: count}}."""
    reasons = Counter(r for r in map(left_out_reason, examples) if r is not None)
    return {"n": len(examples), "with_gold": len(examples) - sum(reasons.values()),
            "left_out": dict(sorted(reasons.items()))}


def report_gold_coverage(examples: Sequence[Example], metrics: MutableMapping[str, float],
                         log: Callable[[str], None] = print) -> dict:
    """Log who recall leaves out; drop the recall means (NaN) when no example has gold.

    Side effects: one ``log`` line when some example is left out; ``metrics`` loses its NaN entries
    when nothing could be scored. Returns {"gold_coverage": gold_coverage(examples)} for the run's
    extra record.
    """
    cov = gold_coverage(examples)
    if cov["left_out"]:
        parts = "; ".join(f"{k} x{v}" for k, v in cov["left_out"].items())
        log(f"[evaluate] recall over {cov['with_gold']} of {cov['n']} examples; left out: {parts}")
    if cov["with_gold"] == 0:
        for name in [k for k, v in metrics.items() if isinstance(v, float) and math.isnan(v)]:
            del metrics[name]
    return {"gold_coverage": cov}


def scored_qrels(examples: Sequence[Example], graded: bool) -> Qrels:
    """Qrels of the examples that have a relevant document (the others are left out)."""
    return {ex.qid: judgements(ex, graded) for ex in examples if has_relevant(ex, JUDGED, graded)}


def gold_sets(examples: Sequence[Example]) -> dict[str, set[str]]:
    """Gold unit ids per query; abstention questions get an empty set (left out of recall; see
    :func:`report_gold_coverage` for how the left-out ones are reported)."""
    return {ex.qid: set() if ex.meta.get("abstention") else set(ex.gold) for ex in examples}


def qrels_of(examples: Sequence[Example], rules: Relevance, graded: bool) -> Qrels:
    """The judgements metrics are computed against (and qrels.trec holds): :func:`scored_qrels`
    (judged; queries without a relevant document left out) or gold units = 1 (unit recall;
    abstention questions and questions without gold left out)."""
    if rules.judged:
        return scored_qrels(examples, graded)
    return {qid: {d: 1 for d in sorted(gold)} for qid, gold in gold_sets(examples).items() if gold}


def drop_identical_ids(run: Run) -> tuple[Run, int]:
    """The run without any candidate whose doc id equals its query id, and how many were dropped."""
    out, dropped = {}, 0
    for qid, scores in run.items():
        kept = {d: s for d, s in scores.items() if d != qid}
        dropped += len(scores) - len(kept)
        out[qid] = kept
    return out, dropped


def data_counts(examples: Sequence[Example], rules: Relevance, graded: bool = False) -> dict[str, int]:
    """Counts of the data that the protocol rules touch (see the module docstring); raises
    ValueError when ``graded`` qrels are asked for and an example has none."""
    outside_q = outside_ids = identical = 0
    for ex in examples:
        missing = ex.gold - set(ex.doc_ids)
        outside_q += bool(missing)
        outside_ids += len(missing)
        identical += ex.qid in ex.doc_ids
    counts = {"n_examples": len(examples),
              "n_queries_edge_whitespace": sum(ex.query != ex.query.strip() for ex in examples),
              "n_no_relevant": sum(not has_relevant(ex, rules, graded) for ex in examples),
              "n_gold_outside_candidates": outside_ids, "n_queries_gold_outside": outside_q}
    if rules.identical_ids:
        counts["n_candidates_equal_query_id"] = identical
    return counts


def warnings_of(name: str, counts: Mapping[str, int], rules: Relevance) -> list[str]:
    """Human-readable warnings for the counts of :func:`data_counts` (empty when all is clean)."""
    out = []
    if counts["n_gold_outside_candidates"]:
        out.append(f"data {name}: {counts['n_gold_outside_candidates']} gold id(s) of "
                   f"{counts['n_queries_gold_outside']} quer(y/ies) are not among their candidates; "
                   "they stay gold, so recall cannot reach 1 on those queries")
    if counts["n_no_relevant"]:
        out.append(f"data {name}: {counts['n_no_relevant']} of {counts['n_examples']} queries have "
                   f"{rules.no_relevant}; they are left out of the retrieval metrics (as BEIR does)")
    return out


def record(rules: Relevance, ignore_identical_ids: bool, counts: Mapping[str, int], n_scored: int,
           n_dropped: int | None) -> dict[str, Any]:
    """The ``protocol`` entry of metrics.json."""
    rec: dict[str, Any] = {"missing_queries": MISSING_QUERIES, "n_scored": n_scored, **counts}
    if rules.identical_ids:
        rec.update(ignore_identical_ids=ignore_identical_ids, n_identical_dropped=n_dropped or 0)
    return rec
