"""TREC run files (``qid Q0 docid rank score tag``) <-> Run ``{qid: {doc_id: score}}``.

Ranking convention (defined once, :func:`qrexp.types.rank_by_score`, used by metrics, baselines, QA
and this module): score descending, equal scores broken by doc id ascending. trec_eval and
pytrec_eval ignore the rank column, keep scores as 32-bit floats and break ties by doc id
*descending*, so a written run makes its scores strictly decreasing float32 values in our order
(see :func:`rank_scores`): scoring the file with trec_eval gives exactly the ranking qrexp evaluated.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from qrexp.io.files import atomic_write_text
from qrexp.io.jsonio import read_text
from qrexp.types import Run, rank_by_score


def _float32(value: float) -> float:
    """The nearest 32-bit float, as a Python float (exact in repr, in double and in C's float)."""
    return float(np.float32(value))


def rank_scores(scores: Mapping[str, float], qid: str = "?") -> list[tuple[str, float]]:
    """[(doc_id, written score)] in :func:`qrexp.types.rank_by_score` order (score descending, doc id
    ascending), strictly decreasing as 32-bit floats; a NaN score raises ValueError naming query and doc.

    trec_eval (and pytrec_eval) hold run scores as C ``float``: doubles closer than float32's
    spacing tie there and are re-ordered by doc id descending. So each score is rounded to the
    nearest float32, and one not below the previous written score becomes the next float32 below
    it: untied scores change by at most half a float32 step (none for float32 model scores), ties
    by a few steps, and every reader that sorts by score sees the ranking qrexp evaluated.
    """
    out: list[tuple[str, float]] = []
    previous = math.inf
    for doc_id in rank_by_score(scores, f"run: query {qid!r}", "doc"):
        score = _float32(scores[doc_id])
        if score >= previous:
            score = float(np.nextafter(np.float32(previous), np.float32(-np.inf)))
        if score >= previous:          # only -inf ties are left: no float below them
            raise ValueError(f"run: query {qid!r}, doc {doc_id!r}: tied score {score} cannot be "
                             "made strictly decreasing")
        out.append((str(doc_id), score))
        previous = score
    return out


def read_trec_run(path: str | os.PathLike) -> Run:
    """Parse a TREC run file -> Run {qid: {doc_id: score}} (the rank column is ignored, as trec_eval
    does). ValueError naming the file and line number for a line without 6 fields, a score that is
    not a number or NaN, or a doc listed twice for one query."""
    run: Run = {}
    text = read_text(path)                      # UTF-8, a byte-order mark dropped
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.split()
        if len(cols) != 6:
            raise ValueError(f"{path} line {lineno}: expected 6 fields 'qid Q0 docid rank score tag', "
                             f"got {len(cols)}")
        qid, _, doc_id, _, score_text, _ = cols
        try:
            score = float(score_text)
        except ValueError:
            raise ValueError(f"{path} line {lineno} (qid={qid}): field 'score' is not a number: "
                             f"{score_text!r}") from None
        if math.isnan(score):
            raise ValueError(f"{path} line {lineno} (qid={qid}): field 'score' is NaN")
        scores = run.setdefault(qid, {})
        if doc_id in scores:
            raise ValueError(f"{path} line {lineno} (qid={qid}): doc {doc_id!r} listed twice")
        scores[doc_id] = score
    return run


def write_trec_run(run: Mapping[str, Mapping[str, float]], path: str | os.PathLike,
                   tag: str = "qrexp") -> Path:
    """Atomically write ``run``: queries sorted by id, docs ranked (see module doc), ranks from 1.

    Scores are :func:`rank_scores` (float32, strictly decreasing in our order), written with
    ``repr`` so that reading the file back gives exactly the floats trec_eval ranks by.
    """
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag {tag!r} must be non-empty and contain no whitespace")
    lines = []
    for qid in sorted(run):
        scores = {str(d): float(s) for d, s in run[qid].items()}
        for doc_id, score in scores.items():
            if math.isnan(score):
                raise ValueError(f"run: query {qid!r}, doc {doc_id!r}: score is NaN")
            if not doc_id or any(c.isspace() for c in doc_id):
                raise ValueError(f"run: query {qid!r}: doc id {doc_id!r} is empty or has whitespace")
        if not str(qid) or any(c.isspace() for c in str(qid)):
            raise ValueError(f"run: query id {qid!r} is empty or has whitespace")
        for rank, (doc_id, score) in enumerate(rank_scores(scores, str(qid)), start=1):
            lines.append(f"{qid} Q0 {doc_id} {rank} {score!r} {tag}\n")
    return atomic_write_text(path, "".join(lines))


def write_trec_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | os.PathLike) -> Path:
    """Atomically write TREC qrels (``qid 0 docid relevance``), queries and docs sorted by id, so
    ``trec_eval -c qrels.trec run.trec`` scores a run folder without the data set at hand."""
    lines = []
    for qid in sorted(qrels, key=str):
        for doc_id in sorted(qrels[qid], key=str):
            rel = qrels[qid][doc_id]
            if isinstance(rel, bool) or int(rel) != rel:
                raise ValueError(f"qrels: query {qid!r}, doc {doc_id!r}: relevance {rel!r} is not an integer")
            lines.append(f"{qid} 0 {doc_id} {int(rel)}\n")
    return atomic_write_text(path, "".join(lines))
