"""Long-context QA on retrieved units: top-k selection, LongMemEval answer prompts, judging and accuracy.

* LongMemEval: the top-k rounds go back in date order, grouped by session, in the prompt format of
  the QRHead / LongMemEval generation code (JSON turns per session, "Current Date", greedy, 500 new
  tokens); responses are judged yes/no with LongMemEval's per-question-type prompts (evaluate_qa.py,
  judge output capped at 10 tokens, label = "yes" in the lower-cased reply).
* CLIPPER claim verification: qrexp.evals.qa_clipper (each claim its own query, first <answer> tag, pair
  accuracy).
* Full-context baseline: pass ``run=None`` to use every unit.
Prompt texts (qrexp.evals.qa_prompts) are carried over verbatim from those repositories.
"""
from __future__ import annotations

import json
import re
from statistics import mean
from typing import Any, Mapping, Sequence

from qrexp.data.lme import date_order
from qrexp.engine.chat import Messages, user_turn
from qrexp.evals.llm import Generator, generate_all
from qrexp.evals.qa_prompts import (LME_ABSTENTION_TEMPLATE, LME_ANSWER_TEMPLATE, LME_JUDGE_TEMPLATES,
                                    LME_SESSION_TEMPLATE)
from qrexp.evals.qa_units import ranking_of, select_units
from qrexp.types import Example, Run

LME_MAX_NEW_TOKENS, JUDGE_MAX_NEW_TOKENS = 500, 10

_ROLE_LINE = re.compile(r"(user|assistant|system): ", re.S)


# ---------------------------------------------------------------- LongMemEval

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


def lme_generate(examples: Sequence[Example], run: Run | None, k: int | None, generator: Generator,
                 max_new_tokens: int = LME_MAX_NEW_TOKENS) -> dict[str, str]:
    """{qid: hypothesis} from the top-``k`` rounds of ``run`` (``run=None``: full history).

    One ``generator`` call per question (greedy, ``max_new_tokens``; tqdm bar "QA answers"). Raises
    KeyError when ``run`` lacks a question or names unknown units."""
    prompts = lme_prompts(examples, run, k)
    return dict(zip((ex.qid for ex in examples), generate_all(generator, prompts, max_new_tokens, "QA answers")))


def lme_judge_prompt(question_type: str, question: str, answer: str, response: str,
                     abstention: bool = False) -> str:
    """LongMemEval's judge prompt for this question type (the abstention prompt for "_abs" questions)."""
    if abstention:
        return LME_ABSTENTION_TEMPLATE.format(question, answer, response)
    if question_type not in LME_JUDGE_TEMPLATES:
        raise ValueError(f"no judge prompt for question_type {question_type!r} "
                         f"(known: {', '.join(LME_JUDGE_TEMPLATES)})")
    return LME_JUDGE_TEMPLATES[question_type].format(question, answer, response)


def parse_yes_no(text: str) -> bool:
    """LongMemEval's rule: the label is True when "yes" occurs in the lower-cased reply."""
    return "yes" in text.strip().lower()


def evaluate_lme(examples: Sequence[Example], responses: Mapping[str, str] | Sequence[str], judge: Generator,
                 max_new_tokens: int = JUDGE_MAX_NEW_TOKENS) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Judge every response; returns (per-question rows, metrics).

    Metrics as LongMemEval's print_qa_metrics: "accuracy" over all questions, "task_averaged_accuracy"
    (mean of the per-type means), "abstention_accuracy" (None without "_abs" questions), "per_type".
    """
    if not isinstance(responses, Mapping):
        if len(responses) != len(examples):
            raise ValueError(f"got {len(responses)} responses for {len(examples)} examples")
        responses = {ex.qid: r for ex, r in zip(examples, responses)}
    missing = [ex.qid for ex in examples if ex.qid not in responses]
    if missing:
        raise KeyError(f"no response for question(s) {missing[:3]}")
    rows = []
    for ex in examples:
        qtype = ex.meta.get("question_type")
        if qtype is None:
            raise ValueError(f"example {ex.qid}: meta lacks 'question_type' (not a LongMemEval example?)")
        rows.append({"qid": ex.qid, "question_type": qtype, "question": ex.query,
                     "abstention": bool(ex.meta.get("abstention", "_abs" in ex.qid)),
                     "answer": ex.meta.get("answer", ex.answer), "hypothesis": responses[ex.qid]})
    prompts = [user_turn(lme_judge_prompt(r["question_type"], r["question"], r["answer"], r["hypothesis"],
                                          r["abstention"])) for r in rows]
    for row, reply in zip(rows, generate_all(judge, prompts, max_new_tokens, "LLM judge")):
        row.update(judge_output=reply, label=parse_yes_no(reply))
    return rows, lme_metrics(rows)


def lme_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy overall, per question type, task-averaged and on abstention questions."""
    by_type: dict[str, list[int]] = {}
    for r in rows:
        by_type.setdefault(r["question_type"], []).append(int(r["label"]))
    abst = [int(r["label"]) for r in rows if r["abstention"]]
    return {"n": len(rows), "accuracy": _mean([int(r["label"]) for r in rows]),
            "task_averaged_accuracy": _mean([mean(v) for v in by_type.values()]),
            "abstention_accuracy": _mean(abst), "n_abstention": len(abst),
            "per_type": {t: {"accuracy": _mean(v), "n": len(v)} for t, v in sorted(by_type.items())}}


def _mean(values: Sequence[float]) -> float | None:
    return float(mean(values)) if values else None
