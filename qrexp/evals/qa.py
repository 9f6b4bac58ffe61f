"""Long-context QA on retrieved units: top-k selection, LongMemEval answer prompts, judging and accuracy.

* LongMemEval: the top-k rounds go back in date order, grouped by session, in the prompt format of
  the QRHead / LongMemEval generation code (JSON turns per session, "Current Date", greedy, 500 new
  tokens; built by qrexp.evals.qa_lme, which loads no model library); responses are judged yes/no
  with LongMemEval's per-question-type prompts (evaluate_qa.py, judge output capped at 10 tokens,
  label = "yes" in the lower-cased reply).
* CLIPPER claim verification: qrexp.evals.qa_clipper (each claim its own query, first <answer> tag, pair
  accuracy).
* Full-context baseline: pass ``run=None`` to use every unit.
Prompt texts (qrexp.evals.qa_prompts) are carried over verbatim from those repositories.
"""
from __future__ import annotations

from statistics import mean
from typing import Any, Mapping, Sequence

from qrexp.engine.chat import user_turn
from qrexp.evals.llm import Generator, generate_all
from qrexp.evals.qa_lme import lme_prompts
from qrexp.evals.qa_prompts import LME_ABSTENTION_TEMPLATE, LME_JUDGE_TEMPLATES
from qrexp.types import Example, Run

LME_MAX_NEW_TOKENS, JUDGE_MAX_NEW_TOKENS = 500, 10


# ---------------------------------------------------------------- LongMemEval

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
