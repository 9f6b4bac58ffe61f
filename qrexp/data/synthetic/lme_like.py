"""LongMemEval-style chat histories with planted personal facts, in the official file format.

Each record is one question with its own haystack of 6-10 dated sessions (2-4 rounds each):
evidence sessions (id ``answer_<hex>_<n>``, evidence user turns marked ``has_answer: true``),
sessions carrying distractor facts about other people, and filler chat. Splits:
``detect`` (single-session-user), ``multi-session`` (two-hop over two sessions),
``knowledge-update`` (old value, then the newer value that answers), ``temporal-reasoning``
(the date of an event, or which of two events came first). What each split asks and which facts
it plants: :mod:`qrexp.data.synthetic.lme_plans`; this module lays the facts out in sessions, dates
them, fits the word budget and writes the records.
"""
from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

from qrexp.data.synthetic import lme_phrases as P
from qrexp.data.synthetic import names as N
from qrexp.data.synthetic.filler_chat import FILLER
from qrexp.data.synthetic.lme_plans import PLANNERS, fix_articles
from qrexp.data.synthetic.common import hex_id, rng_for, word_count
from qrexp.io.files import write_json

SPLITS = {"detect": "single-session-user", "multi-session": "multi-session",
          "knowledge-update": "knowledge-update", "temporal-reasoning": "temporal-reasoning"}
MIN_WORDS, MAX_WORDS = 490, 1100   # whole haystack + question: ~640-1430 tokens at 1.3/word
SESSIONS = (6, 10)
ROUNDS = (2, 4)


def _day(d: dt.date) -> str:
    return f"{N.MONTHS[d.month - 1]} {d.day}"


def _lme_date(t: dt.datetime) -> str:
    """LongMemEval date text, e.g. '2023/05/20 (Sat) 02:21' (locale independent)."""
    return f"{t:%Y/%m/%d} ({N.WEEKDAYS[t.weekday()][:3]}) {t:%H:%M}"


def _layout(rng: random.Random, plan: dict) -> list[dict]:
    """Sessions as {topic, rounds, inserts}, with evidence kept in chronological order."""
    n_ev, n_dis = len(plan["evidence"]), len(plan["distract"])
    n = rng.randint(max(SESSIONS[0], n_ev + n_dis + 2), SESSIONS[1])
    topics = rng.sample(range(len(FILLER)), n)
    slots = rng.sample(range(n), n_ev + n_dis)
    ev_pos, dis_pos = sorted(slots[:n_ev]), slots[n_ev:]
    sessions = [{"topic": t, "rounds": rng.randint(*ROUNDS), "insert": None, "gold": False}
                for t in topics]
    for pos, item in zip(ev_pos, plan["evidence"]):
        sessions[pos].update(insert=item, gold=True)
    for pos, item in zip(dis_pos, plan["distract"]):
        sessions[pos]["insert"] = item
    return sessions


def _render(rng: random.Random, sessions: list[dict], start: dt.datetime) -> list[dict]:
    """Dates, turns and fact insertions; returns sessions with 'date', 'turns', 'event_day'."""
    t = start
    for s in sessions:
        t = t + dt.timedelta(days=rng.randint(1, 5), minutes=rng.randint(-300, 300))
        s["date"] = t
        pairs = FILLER[s["topic"]][:s["rounds"]]
        host = rng.randrange(len(pairs)) if s["insert"] else -1
        turns = []
        for i, (user, reply) in enumerate(pairs):
            u = {"role": "user", "content": user}
            if i == host:
                text, offset = s["insert"]
                if offset is not None:
                    s["event_day"] = (t - dt.timedelta(days=offset)).date()
                    text = text.format(d=_day(s["event_day"]))
                u["content"] = rng.choice(P.ASIDES).format(fact=text, req=user)
            if s["gold"]:
                u["has_answer"] = i == host
            a = {"role": "assistant", "content": reply}
            if s["gold"]:
                a["has_answer"] = False
            turns += [u, a]
        s["turns"] = turns
    return sessions


def _words(sessions: list[dict], question: str) -> int:
    """Word estimate before rendering: filler rounds, inserted facts (+4 for date and aside)."""
    return word_count(question) + sum(
        sum(word_count(FILLER[s["topic"]][i][j]) for i in range(s["rounds"]) for j in (0, 1))
        + (word_count(s["insert"][0]) + 4 if s["insert"] else 0) for s in sessions)


def _fit_budget(sessions: list[dict], question: str) -> None:
    """Add filler rounds while under MIN_WORDS, then drop rounds (then filler sessions) while
    over MAX_WORDS."""
    while _words(sessions, question) < MIN_WORDS:
        shortest = min(range(len(sessions)), key=lambda i: sessions[i]["rounds"])
        if sessions[shortest]["rounds"] == ROUNDS[1]:
            break
        sessions[shortest]["rounds"] += 1
    while _words(sessions, question) > MAX_WORDS:
        longest = max(range(len(sessions)), key=lambda i: sessions[i]["rounds"])
        if sessions[longest]["rounds"] > ROUNDS[0]:
            sessions[longest]["rounds"] -= 1
        elif len(sessions) > SESSIONS[0] and any(not s["insert"] for s in sessions):
            sessions.remove(next(s for s in sessions if not s["insert"]))
        else:
            break


def _session_id(rng: random.Random, gold: bool, qhex: str, k: int) -> str:
    if gold:
        return f"answer_{qhex}_{k}"
    if rng.random() < 0.5:
        tag = "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGH") for _ in range(5))
        return f"sharegpt_{tag}_{rng.randint(0, 9)}"
    return f"ultrachat_{rng.randint(100000, 999999)}"


def _attempt(seed: int, split: str, index: int, attempt: int) -> tuple | None:
    """(rng, plan, rendered sessions), or None when the draw has no well-defined answer."""
    rng = rng_for("lme", seed, split, index, attempt)
    plan = PLANNERS[split](rng)
    plan["evidence"] = [(fix_articles(t), off) for t, off in plan["evidence"]]
    plan["distract"] = [(fix_articles(t), off) for t, off in plan["distract"]]
    sessions = _layout(rng, plan)
    _fit_budget(sessions, plan["question"])
    start = dt.datetime(2023, rng.randint(1, 8), rng.randint(1, 28), rng.randint(8, 20),
                        rng.randint(0, 59))
    _render(rng, sessions, start)
    gold = [s for s in sessions if s["gold"]]
    if plan["kind"] == "when":
        plan["answer"] = _day(gold[0]["event_day"])
    elif plan["kind"] == "first":
        days = [s["event_day"] for s in gold]
        if days[0] == days[1]:
            return None   # same day: "which came first" has no answer; draw again
        plan["answer"] = plan["shorts"][0] if days[0] < days[1] else plan["shorts"][1]
    return rng, plan, sessions


def make_record(seed: int, split: str, index: int) -> dict:
    """One LongMemEval record for ``split``; depends only on (seed, split, index)."""
    if split not in SPLITS:
        raise ValueError(f"generate_lme: unknown split {split!r} (known: {', '.join(SPLITS)})")
    attempt = 0
    while (got := _attempt(seed, split, index, attempt)) is None:
        attempt += 1
    rng, plan, sessions = got
    qhex = ("gpt4_" if rng.random() < 0.3 else "") + hex_id(rng)
    ids, k = [], 0
    for s in sessions:
        k += s["gold"]
        ids.append(_session_id(rng, s["gold"], qhex.removeprefix("gpt4_"), k))
    qdate = sessions[-1]["date"] + dt.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 9))
    return {
        "question_id": qhex,
        "question_type": SPLITS[split],
        "question": plan["question"],
        "answer": plan["answer"],
        "question_date": _lme_date(qdate),
        "haystack_session_ids": ids,
        "haystack_dates": [_lme_date(s["date"]) for s in sessions],
        "haystack_sessions": [s["turns"] for s in sessions],
        "answer_session_ids": [i for i, s in zip(ids, sessions) if s["gold"]],
    }


def generate_lme(n_questions: int, seed: int, split: str) -> list[dict]:
    """``n_questions`` LongMemEval records of one split (detect, multi-session, knowledge-update,
    temporal-reasoning), deterministic in ``seed``; question ids are unique within the list."""
    records, seen = [], set()
    index = 0
    while len(records) < n_questions:
        rec = make_record(seed, split, index)
        index += 1
        if rec["question_id"] not in seen:
            seen.add(rec["question_id"])
            records.append(rec)
    return records


def write_lme(records: list[dict], path: str | os.PathLike) -> Path:
    """Write records as one JSON array (the official file layout), atomically."""
    return write_json(path, records, indent=1, sort_keys=False)
