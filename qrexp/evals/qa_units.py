"""Which retrieved units go into a QA prompt, and in which order (shared by every QA protocol).

A method's Run gives each unit a score; QA keeps the ``k`` best (score desc, ties by unit id:
qrexp.types.rank_by_score) and puts them back in the order the task's reference code uses: LongMemEval
rounds in date order (:func:`qrexp.data.lme.date_order`), CLIPPER chapters in chapter order
(:func:`qrexp.data.clipper.chapter_order`), or best first. ``run=None`` (full context) keeps every unit.
"""
from __future__ import annotations

from typing import Mapping

from qrexp.data.clipper import chapter_order
from qrexp.data.lme import date_order
from qrexp.types import Example, Run, rank_by_score

ORDERS = ("date", "chapter", "rank")


def select_units(example: Example, ranking: Mapping[str, float] | None, k: int | None,
                 order: str = "date") -> list[str]:
    """The ``k`` best-scored unit ids (score desc, ties by id) put in ``order``.

    "date": LongMemEval date order (session date, haystack position, round); "chapter": by chapter
    number of ids ``ch<k>``; "rank": best first. ``ranking=None`` or ``k=None`` keeps every unit.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown unit order {order!r} (known: {', '.join(ORDERS)})")
    known = set(example.doc_ids)
    if ranking is None:
        chosen = list(example.doc_ids)
    else:
        unknown = [d for d in ranking if d not in known]
        if unknown:
            raise KeyError(f"example {example.qid}: ranking names unknown unit id(s) {unknown[:3]}")
        chosen = rank_by_score(ranking, f"example {example.qid} ranking", "unit")
    if k is not None:
        if k < 1:
            raise ValueError(f"k must be >= 1 or None, got {k}")
        chosen = chosen[:k]
    if order == "date":
        return date_order(example, chosen)
    if order == "chapter":
        return chapter_order(example, chosen)
    return chosen


def ranking_of(run: Run | None, example: Example) -> Mapping[str, float] | None:
    """The example's {unit id: score} in ``run`` (None for ``run=None``: full context); KeyError if absent."""
    if run is None:
        return None
    if example.qid not in run:
        raise KeyError(f"run has no ranking for example {example.qid}")
    return run[example.qid]
