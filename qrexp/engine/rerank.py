"""The one re-ranking loop: every example's own candidates scored by a per-example scorer -> Run.

Used by the attention retriever (:meth:`qrexp.engine.retriever.QRRetriever.rerank`) and by every
baseline ranker (:class:`Ranker`, the interface of qrexp.evals.baselines.RANKERS), so progress, checks and the Run shape are the
same for all methods. Ranking ties are resolved later, where a Run is read (qrexp.types.rank_by_score:
score desc, doc id asc).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

from tqdm.auto import tqdm

from qrexp.types import Example, Run

Scorer = Callable[[Example], Sequence[float]]


def rerank(examples: Sequence[Example], score: Scorer, desc: str = "re-ranking",
           progress: bool = True) -> Run:
    """Run ``{qid: {doc_id: score}}`` with ``score(example)`` -> one float per candidate, in the
    example's doc order (a list or a 1-D tensor [D]; higher = more relevant).

    Side effect: a tqdm bar labelled ``desc`` (unit: query) unless ``progress`` is False.
    Raises ValueError naming the example when the scorer returns another number of scores than the
    example has candidates.
    """
    run: Run = {}
    for ex in tqdm(examples, desc=desc, unit="query", disable=not progress):
        scores = [float(s) for s in score(ex)]
        if len(scores) != len(ex.docs):
            raise ValueError(f"example {ex.qid}: {desc} gave {len(scores)} scores for {len(ex.docs)} candidates")
        run[ex.qid] = dict(zip(ex.doc_ids, scores))
    return run


class Ranker(ABC):
    """A baseline ranker: ``score(example)`` -> one float per candidate; ``rank(examples) -> Run`` is
    :func:`rerank` over them (examples without candidates get ``{}``). ``desc`` labels the tqdm bar,
    ``progress`` turns it on or off, ``stats`` holds the ranker's counters."""

    desc = "ranking"
    progress = True

    def __init__(self) -> None:
        self.stats: dict[str, int] = {}

    def rank(self, examples: Sequence[Example]) -> Run:
        """Run {qid: {doc_id: score}} with every candidate of every example (see :func:`rerank`)."""
        return rerank(examples, lambda ex: self.score(ex) if ex.docs else [], self.desc, self.progress)

    @abstractmethod
    def score(self, example: Example) -> list[float]:
        """One score per candidate of ``example``, in candidate order (never called without docs)."""
