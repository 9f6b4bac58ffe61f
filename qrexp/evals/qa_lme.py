"""LongMemEval answer prompts over retrieved rounds, as the QRHead / LongMemEval generation code
writes them: the top-k rounds in date order, grouped by session, each session its date and a JSON
list of its turns, then "Current Date" and the question (qrexp.evals.qa_prompts.LME_ANSWER_TEMPLATE).

Kept apart from generation and judging (qrexp.evals.qa) so that building prompts, and the
evaluation-kind table that names them (qrexp.evals.kinds), load no model library.
"""
from __future__ import annotations

import json
import re
from typing import Sequence

from qrexp.data.lme import date_order
from qrexp.engine.chat import Messages, user_turn
from qrexp.evals.qa_prompts import LME_ANSWER_TEMPLATE, LME_SESSION_TEMPLATE
from qrexp.evals.qa_units import ranking_of, select_units
from qrexp.types import Example, Run

_ROLE_LINE = re.compile(r"(user|assistant|system): ", re.S)


def unit_turns(example: Example, doc_id: str, text: str | None = None) -> list[dict[str, str]]:
    """The chat turns of one LME unit as {"role", "content"}: ``meta["units"][id]["turns"]`` (the
    loader stores them), else parsed back from the ``role: content`` lines of the unit text (for
    examples built elsewhere; a content line starting with "user: " would be read as a new turn)."""
    unit = example.meta["units"][doc_id]
    if "turns" in unit:
        return [{"role": t["role"], "content": t["content"]} for t in unit["turns"]]
    if text is None:
        text = next(d.text for d in example.docs if d.doc_id == doc_id)
    turns: list[dict[str, str]] = []
    for line in text.split("\n"):
        m = _ROLE_LINE.match(line)
        if m:
            turns.append({"role": m.group(1), "content": line[m.end():]})
        elif turns:
            turns[-1]["content"] += "\n" + line
        else:
            raise ValueError(f"example {example.qid} unit {doc_id}: text does not start with 'role: '")
    return turns


def lme_history(example: Example, doc_ids: Sequence[str]) -> str:
    """Sessions of the given units in date order, each as its date and a JSON list of its turns."""
    units, text_of = example.meta["units"], {d.doc_id: d.text for d in example.docs}
    blocks: list[tuple[str, str, list[dict[str, str]]]] = []      # (session id, date, turns)
    for doc_id in date_order(example, doc_ids):
        sid = units[doc_id]["session_id"]
        if not blocks or blocks[-1][0] != sid:
            blocks.append((sid, units[doc_id]["date"], []))
        blocks[-1][2].extend(unit_turns(example, doc_id, text_of[doc_id]))
    return "".join(LME_SESSION_TEMPLATE.format(i, date, "\n" + json.dumps(turns))
                   for i, (_, date, turns) in enumerate(blocks, start=1))


def lme_answer_prompt(example: Example, doc_ids: Sequence[str]) -> Messages:
    """The answer-generation chat prompt (one user turn) over the given units."""
    text = LME_ANSWER_TEMPLATE.format(lme_history(example, doc_ids), example.meta["question_date"], example.query)
    return user_turn(text)


def lme_prompts(examples: Sequence[Example], run: Run | None, k: int | None) -> list[Messages]:
    """The answer prompt of every question over its top-``k`` rounds of ``run`` (``run=None``: full history)."""
    return [lme_answer_prompt(ex, select_units(ex, ranking_of(run, ex), k, "date")) for ex in examples]
