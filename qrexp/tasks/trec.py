"""TREC run files (``qid Q0 docid rank score tag``) <-> Run ``{qid: {doc_id: score}}``.

Ranking convention (shared with qrexp.metrics): score descending, equal scores broken by doc id
ascending. Readers, like trec_eval, trust the score column and ignore the rank column.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

from qrexp.tasks.jsonio import read_text, write_text
from qrexp.types import Run


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Doc ids by score descending, ties by doc id ascending."""
    return sorted(scores, key=lambda d: (-scores[d], d))


def read_trec_run(path: str | os.PathLike) -> Run:
    """Parse a TREC run file; a malformed line raises an error naming the file and line number."""
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

    Scores are written with ``repr`` so that reading the file back gives the same floats.
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
        for rank, doc_id in enumerate(ranked(scores), start=1):
            lines.append(f"{qid} Q0 {doc_id} {rank} {scores[doc_id]!r} {tag}\n")
    return write_text("".join(lines), path)
