"""LongMemEval (official JSON array: longmemeval_s / _m / _oracle) -> one Example per question.

Retrieval unit (``unit``):
  * "round" (the paper's): one user message plus the assistant replies that follow it, in order.
    doc_id ``<session_id>_r<k>`` (k from 1 within the session), text ``"user: ...\\nassistant: ..."``.
    Turns before a session's first user message form a round of their own.
  * "session": the whole session, doc_id = session id, same "role: content" lines.
Gold: units of evidence sessions (``answer_session_ids``) holding a turn with ``has_answer: true``;
if no evidence unit of the question is marked, every unit of the evidence sessions (and
``meta["gold_fallback"] = True``). Abstention questions (id ending in "_abs") are kept with
``meta["abstention"] = True``; evaluation leaves them out of retrieval metrics.
``meta["units"]`` maps doc_id -> {session_id (the unit's session occurrence id), file_session_id (the id in
the file), session_index, date, round, has_answer, evidence, turns} so QA can
put retrieved units back in date order (see :func:`date_order`).

Quirks of the official files (longmemeval_s_cleaned.json, longmemeval_oracle.json), all loaded:
  * a history may repeat a filler session id (same content, another date; 13 questions of _s):
    each occurrence is its own unit (:func:`occurrence_ids`: ``<id>#2`` ...); evidence and has_answer
    are read per occurrence; ``meta["duplicate_sessions"]`` counts the repeats;
  * answers may be numbers (kept as text: ``"4"``); abstention ids end in ``_abs``; evidence ids
    contain "answer" like any other id (nothing is parsed from ids but ``_abs``);
  * haystack dates are not in chronological order: :func:`date_order` sorts by date;
  * empty sessions give no unit (``meta["empty_sessions"]``); empty turn contents are kept;
  * an evidence id absent from the history is listed in ``meta["absent_evidence_sessions"]``; a
    question left with no gold unit says why in ``meta["no_gold"]`` and evaluation reports it
    (:func:`qrexp.evals.protocol.gold_coverage`) instead of dropping it silently.
:func:`load_lme` warns once per file with the counts.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from typing import Any, Iterable, Sequence

from qrexp.io.jsonio import Rec, check_id, choice_filter, read_records
from qrexp.types import Doc, Example

QUESTION_TYPES = ("single-session-user", "single-session-assistant", "single-session-preference",
                  "multi-session", "temporal-reasoning", "knowledge-update")
UNITS = ("round", "session")


def _turns(rec: Rec, s: int, session: Any) -> list[dict[str, Any]]:
    if not isinstance(session, list):
        raise rec.error(f"field 'haystack_sessions'[{s}] must be a list of turns, got {type(session).__name__}")
    for t, turn in enumerate(session):
        where = f"field 'haystack_sessions'[{s}][{t}]"
        if not isinstance(turn, dict):
            raise rec.error(f"{where} must be an object, got {type(turn).__name__}")
        for key in ("role", "content"):
            if not isinstance(turn.get(key), str):
                raise rec.error(f"{where}: missing or non-string field {key!r}")
    return session


def split_rounds(turns: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group turns into rounds: a new round starts at every user turn."""
    rounds: list[list[dict[str, Any]]] = []
    for turn in turns:
        if turn["role"] == "user" or not rounds:
            rounds.append([])
        rounds[-1].append(turn)
    return rounds


def _render(turns: Iterable[dict[str, Any]]) -> str:
    return "\n".join(f"{t['role']}: {t['content']}" for t in turns)


def _check_parallel(rec: Rec) -> tuple[list[str], list[str], list[Any]]:
    ids = rec.get("haystack_session_ids", list)
    dates = rec.get("haystack_dates", list)
    sessions = rec.get("haystack_sessions", list)
    if not len(ids) == len(dates) == len(sessions):
        raise rec.error("fields 'haystack_session_ids', 'haystack_dates', 'haystack_sessions' differ in "
                        f"length ({len(ids)}, {len(dates)}, {len(sessions)})")
    for name, values in (("haystack_session_ids", ids), ("haystack_dates", dates)):
        bad = [v for v in values if not isinstance(v, str)]
        if bad:
            raise rec.error(f"field {name!r} must list strings, got {bad[0]!r}")
    for i, sid in enumerate(ids):                    # unit ids are <session id>_r<k>
        check_id(sid, rec.where, f"haystack_session_ids[{i}]")
    return ids, dates, sessions


def occurrence_ids(ids: Sequence[str]) -> list[str]:
    """One unit id per haystack position: a session id's first occurrence keeps it, a repeat gets
    ``<id>#<n>`` (n = 2, 3, ...; skipping ids the history already uses). ["a", "b", "a"] -> ["a", "b", "a#2"]."""
    taken, count, out = set(ids), Counter(), []
    for sid in ids:
        count[sid] += 1
        uid, n = sid, count[sid]
        if n > 1:
            uid = f"{sid}#{n}"
            while uid in taken:
                n += 1
                uid = f"{sid}#{n}"
            taken.add(uid)
        out.append(uid)
    return out


def question_to_example(rec: Rec, unit: str = "round") -> Example:
    """Convert one LongMemEval question record (see the module docstring for units and gold)."""
    if unit not in UNITS:
        raise ValueError(f"unknown LongMemEval unit {unit!r} (known: {', '.join(UNITS)})")
    qid = rec.get("question_id", str)
    qtype = rec.get("question_type", str)
    question = rec.get("question", str)
    answer = rec.get("answer", (str, int, float))
    qdate = rec.get("question_date", str)
    evidence = rec.get("answer_session_ids", list)
    ids, dates, sessions = _check_parallel(rec)
    evidence_set = {str(e) for e in evidence}
    docs: list[Doc] = []
    units: dict[str, dict[str, Any]] = {}
    empty = 0
    for s, (sid, uid, date, session) in enumerate(zip(ids, occurrence_ids(ids), dates, sessions)):
        turns = _turns(rec, s, session)
        empty += not turns
        groups = [turns] if unit == "session" else split_rounds(turns)
        for k, group in enumerate(groups, start=1):
            if not group:
                continue
            doc_id = uid if unit == "session" else f"{uid}_r{k}"
            docs.append(Doc(doc_id=doc_id, text=_render(group)))
            units[doc_id] = {"session_id": uid, "file_session_id": sid, "session_index": s, "date": date,
                             "round": None if unit == "session" else k,
                             "has_answer": any(t.get("has_answer") is True for t in group),
                             "evidence": sid in evidence_set,
                             "turns": [{"role": t["role"], "content": t["content"]} for t in group]}
    marked = {d for d, u in units.items() if u["evidence"] and u["has_answer"]}
    gold = marked or {d for d, u in units.items() if u["evidence"]}
    absent = sorted(evidence_set - set(ids))
    meta = {"question_type": qtype, "question_date": qdate, "answer": str(answer),
            "abstention": qid.endswith("_abs"), "unit": unit, "units": units,
            "answer_session_ids": [str(e) for e in evidence], "gold_fallback": not marked,
            "duplicate_sessions": len(ids) - len(set(ids)), "empty_sessions": empty,
            "absent_evidence_sessions": absent}
    if not gold:
        meta["no_gold"] = (f"evidence session(s) {absent[:3]} not in the history" if absent
                           else "evidence sessions hold no turns" if evidence_set else "no answer_session_ids")
    return Example(qid=qid, query=question, docs=tuple(docs), gold=frozenset(gold),
                   answer=str(answer), meta=meta)


def load_lme(path: str | os.PathLike, question_types: Sequence[str] | str | None = None,
             limit: int | None = None, unit: str = "round") -> list[Example]:
    """Load a LongMemEval JSON file (the official array of question records) -> one Example per
    question; filter by ``question_types``, then keep the first ``limit``.

    ``unit``: "round" (one user turn + replies, the QRHead paper's unit) or "session"; units, gold
    and ``meta`` as in the module docstring. Source: LongMemEval (Wu et al. 2025) file format, paper
    Section 4. Raises ValueError naming file, record and field for a malformed record, an unknown
    ``unit`` or question type, a repeated question id; FileNotFoundError for a missing file.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown LongMemEval unit {unit!r} (known: {', '.join(UNITS)})")
    wanted = choice_filter(question_types, QUESTION_TYPES, "LongMemEval question_type")
    examples: list[Example] = []
    seen: set[str] = set()
    for rec in read_records(path, id_field="question_id"):
        if wanted is not None and rec.get("question_type", str) not in wanted:
            continue
        if limit is not None and len(examples) >= limit:
            break
        ex = question_to_example(rec, unit=unit)
        if ex.qid in seen:
            raise rec.error(f"field 'question_id': duplicate question id {ex.qid!r}")
        seen.add(ex.qid)
        examples.append(ex)
    _warn_quirks(path, examples)
    return examples


def _warn_quirks(path: str | os.PathLike, examples: Sequence[Example]) -> None:
    counts = {"repeat a session id": sum(e.meta["duplicate_sessions"] > 0 for e in examples),
              "name an evidence session absent from the history": sum(
                  bool(e.meta["absent_evidence_sessions"]) for e in examples),
              "have an empty session": sum(e.meta["empty_sessions"] > 0 for e in examples)}
    found = [f"{n} question(s) {what}" for what, n in counts.items() if n]
    if found:
        warnings.warn(f"{path}: {'; '.join(found)} (loaded; see qrexp.data.lme)", stacklevel=3)


def date_order(example: Example, doc_ids: Iterable[str]) -> list[str]:
    """``doc_ids`` sorted by session date, then haystack position, then round (LME dates sort as text)."""
    units = example.meta["units"]
    doc_ids = list(doc_ids)
    missing = [d for d in doc_ids if d not in units]
    if missing:
        raise KeyError(f"example {example.qid}: unknown unit id(s) {missing[:3]}")
    return sorted(doc_ids, key=lambda d: (units[d]["date"], units[d]["session_index"], units[d]["round"] or 0))
