"""The evaluation kinds: one registry, ``KINDS``, name -> :class:`EvalKind` (``eval.kind=<name>``).

An evaluation kind says how an evaluation's rankings are judged and what runs around them; every
stage asks its entry, none switches on the kind's name:

* ``relevance`` (:class:`qrexp.evals.protocol.Relevance`): :data:`~qrexp.evals.protocol.JUDGED`
  (graded qrels, pytrec_eval measures ``eval.measures``, queries without a relevant document left
  out, identical query/doc ids dropped) or :data:`~qrexp.evals.protocol.GOLD_UNITS` (gold units = 1,
  R@k / Success@k / R_all@k at ``eval.ks``, abstentions and questions without gold left out and
  reported as gold coverage). The headline measures, the viewer's grading and the preflight's
  measure check follow from it.
* ``options``: the EvalConfig fields only this kind reads (e.g. ``claim_queries``). They enter its
  run ids; the run ids of the other kinds leave them out. ``ignore_identical_ids`` is added for
  kinds whose relevance has ``identical_ids`` (:attr:`EvalKind.fields`).
* ``queries``: how the loaded examples become the ranked queries (CLIPPER: each claim its own query,
  ``eval.claim_queries``); None keeps them as loaded.
* ``qa``: the QA prompt plan of one cut-off k (:class:`QAPlan`): questions answered and judged
  (:func:`answer_plan`, LongMemEval) or claims verified per pair (:func:`claim_plan`, CLIPPER);
  None: QA is not defined for the kind.

How to add a kind: one ``KINDS.register("name")(EvalKind(...))`` entry (below, or in the module that
defines its pieces, imported before the config is built) and a ``conf/eval/<name>.yaml`` with
``kind: name``; when its data format is new, also its loader (qrexp.data: one file and its LOADERS
line). A kind picks one of the two relevance rules (or a new Relevance) and a QA plan (the two
above, or one function returning a QAPlan). tests/model/experiment/test_new_eval_kind.py does it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from qrexp.engine.chat import Messages
from qrexp.evals import protocol
from qrexp.evals.metrics import evaluate_run, retrieval_metrics
from qrexp.evals.protocol import GOLD_UNITS, JUDGED, Relevance
from qrexp.evals.qa_lme import lme_prompts
from qrexp.evals.qa_clipper import claim_examples, verification_jobs
from qrexp.measures import normalise_all
from qrexp.registry import Registry
from qrexp.types import Example, Qrels, Run


@dataclass(frozen=True)
class QAPlan:
    """The QA prompts of one cut-off k.

    ``jobs``: None when each example's question is answered and judged (one prompt per example,
    LongMemEval), else the claim-verification jobs of qrexp.evals.qa_clipper.verification_jobs
    (several prompts per example; scored as pair accuracy). ``prompts``: the chat prompts;
    ``names``: one unique name per prompt (qid, or pair/claim), without the "@k" suffix.
    """
    jobs: list[dict[str, Any]] | None
    prompts: list[Messages]
    names: list[str]


PlanFn = Callable[[Sequence[Example], Run | None, int | None], QAPlan]   # (examples, run, k)


def answer_plan(examples: Sequence[Example], run: Run | None, k: int | None) -> QAPlan:
    """LongMemEval answer prompts over each question's top-``k`` units (``run=None``: all units)."""
    return QAPlan(None, lme_prompts(examples, run, k), [ex.qid for ex in examples])


def claim_plan(examples: Sequence[Example], run: Run | None, k: int | None) -> QAPlan:
    """CLIPPER claim-verification prompts over each query's top-``k`` chapters (``run=None``: all)."""
    jobs = verification_jobs(examples, run, k)
    return QAPlan(jobs, [j["prompt"] for j in jobs], [f"{j['pair']}/{j['claim']}" for j in jobs])


def clipper_queries(examples: Sequence[Example], e: Any) -> list[Example]:
    """CLIPPER pairs -> the ranked queries: each claim its own query under ``e.claim_queries ==
    "per_claim"`` (the paper's protocol, :func:`qrexp.evals.qa_clipper.claim_examples`), else the pairs."""
    return claim_examples(examples) if e.claim_queries == "per_claim" else list(examples)


@dataclass(frozen=True)
class EvalKind:
    """One row of the evaluation-kind table (see the module docstring)."""
    description: str
    relevance: Relevance
    options: tuple[str, ...] = ()                                   # EvalConfig fields only this kind reads
    queries: Callable[[Sequence[Example], Any], list[Example]] | None = None   # (examples, eval config)
    qa: PlanFn | None = None                                        # QA prompt plan; None: no QA

    @property
    def fields(self) -> tuple[str, ...]:
        """The kind-specific EvalConfig fields this kind reads (they enter its run ids)."""
        identical = ("ignore_identical_ids",) if self.relevance.identical_ids else ()
        return identical + self.options

    def ranked(self, examples: Sequence[Example], e: Any) -> list[Example]:
        """The queries ranked for loaded ``examples`` under the EvalConfig ``e``."""
        return list(examples) if self.queries is None else self.queries(examples, e)

    def headline(self, measures: Sequence[str], ks: Sequence[int]) -> list[str]:
        """The retrieval measures a summary shows, in qrexp.measures names: the configured (trec_eval)
        ``measures`` for judged kinds, R@k at the cut-offs ``ks`` (ascending) otherwise. Raises
        ValueError for an unknown measure name (judged kinds)."""
        return normalise_all(measures) if self.relevance.judged else [f"R@{k}" for k in sorted(ks)]

    def qrels(self, examples: Sequence[Example], graded: bool) -> Qrels:
        """The judgements scored against (qrels.trec): :func:`qrexp.evals.protocol.qrels_of`."""
        return protocol.qrels_of(examples, self.relevance, graded)

    def score(self, run: Run, examples: Sequence[Example], measures: Sequence[str], ks: Sequence[int],
              graded: bool) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """(per query, means) of ``run``: pytrec_eval ``measures`` over the scored qrels with missing
        queries counted 0 (judged), else unit recall at ``ks`` (qrexp.evals.metrics.retrieval_metrics)."""
        if self.relevance.judged:
            return evaluate_run(run, self.qrels(examples, graded), measures, missing="zero")
        return retrieval_metrics(run, protocol.gold_sets(examples), ks)


KINDS: Registry[EvalKind] = Registry("evaluation kind")
KINDS.register("retrieval")(EvalKind(
    "BEIR-style re-ranking: graded qrels, trec_eval measures (eval.measures)", JUDGED))
KINDS.register("lme")(EvalKind(
    "LongMemEval: recall of the gold units at eval.ks; QA answers judged (contains or LLM judge)",
    GOLD_UNITS, qa=answer_plan))
KINDS.register("clipper")(EvalKind(
    "CLIPPER: recall of the gold chapters at eval.ks; claim verification scored as pair accuracy",
    GOLD_UNITS, options=("claim_queries",), queries=clipper_queries, qa=claim_plan))


def kind_fields() -> list[str]:
    """Every kind-specific EvalConfig field of the registered kinds, sorted."""
    return sorted({f for name in KINDS for f in KINDS.get(name).fields})


def qa_plan(kind: str, examples: Sequence[Example], run: Run | None, k: int | None) -> QAPlan:
    """The QA plan of evaluation kind ``kind`` at cut-off ``k``; ValueError when the kind defines no QA."""
    entry = KINDS.get(kind)
    if entry.qa is None:
        with_qa = [n for n in KINDS if KINDS.get(n).qa is not None]
        raise ValueError(f"QA is defined for eval.kind {' and '.join(with_qa)}, not {kind!r}")
    return entry.qa(examples, run, k)
