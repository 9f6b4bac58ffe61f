"""Long-context QA for an evaluation run: generate from the top-k units of a ranking (or the full
context) with the scored model, then judge (LongMemEval) or parse TRUE/FALSE (CLIPPER). The prompts
are the evaluation kind's QA plan (qrexp.evals.kinds: answered questions or verified claims). Every
prompt is measured against the model's window before any generation (qrexp.evals.qa_window).

Judges: ``llm`` = LongMemEval's per-question-type yes/no prompts sent to an OpenAI-compatible
endpoint (e.g. a vLLM server with Llama-3.1-8B-Instruct, as the paper code); ``contains`` = an
offline string check (the gold answer appears in the response), for the demo and tests.
"""
from __future__ import annotations

from typing import Any, Sequence

from qrexp.experiment.config import RunConfig
from qrexp.evals.llm import OpenAIGenerator, generate_all
from qrexp.evals.kinds import qa_plan
from qrexp.evals.qa import evaluate_lme, lme_metrics
from qrexp.evals.qa_clipper import pair_accuracy, pair_rows
from qrexp.evals.qa_window import check_overflow_policy, fit_prompts, fit_summary
from qrexp.experiment.context import generator_of
from qrexp.experiment.resume import journaled
from qrexp.types import Example, Run


def contains_label(answer: Any, response: str) -> bool:
    """Offline stand-in for the LLM judge: the normalized answer occurs in the response."""
    norm = lambda s: " ".join(str(s).lower().replace(",", " ").split())
    return norm(answer) in norm(response)


def _judge_lme(cfg: RunConfig, examples: Sequence[Example], responses: dict[str, str], ckpt=None):
    qa = cfg.eval.qa
    if qa.judge == "llm":
        if not qa.judge_url or not qa.judge_model:
            raise ValueError("eval.qa.judge=llm needs eval.qa.judge_url and eval.qa.judge_model")
        judge = journaled(ckpt, OpenAIGenerator(qa.judge_url, qa.judge_model, workers=8), "judge")  # 8 in flight
        judge.progress = cfg.progress
        return evaluate_lme(examples, responses, judge)
    if qa.judge != "contains":
        raise ValueError(f"eval.qa.judge must be llm or contains, got {qa.judge!r}")
    rows = [{"qid": ex.qid, "question_type": ex.meta.get("question_type", "unknown"),
             "abstention": bool(ex.meta.get("abstention")), "answer": ex.answer,
             "hypothesis": responses[ex.qid], "label": contains_label(ex.answer, responses[ex.qid])}
            for ex in examples]
    return rows, lme_metrics(rows)


def _limited(examples: Sequence[Example], limit: int | None) -> list[Example]:
    """The first ``limit`` questions; for CLIPPER claim examples the first ``limit`` pairs (both claims)."""
    examples = list(examples)
    if not limit:
        return examples
    pairs = list(dict.fromkeys(ex.meta.get("pair", ex.qid) for ex in examples))[:limit]
    keep = set(pairs)
    return [ex for ex in examples if ex.meta.get("pair", ex.qid) in keep]


def _plan(cfg: RunConfig, examples: Sequence[Example], run: Run | None, k: int | None):
    """(verification jobs or None, prompts, prompt names) of one cut-off k."""
    suffix = "" if k is None else f"@{k}"
    plan = qa_plan(cfg.eval.kind, examples, run, k)
    return plan.jobs, plan.prompts, [f"{name}{suffix}" for name in plan.names]


def answer_questions(cfg: RunConfig, method: str, examples: Sequence[Example], run: Run | None,
                     log=print, ckpt=None) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """QA metrics and per-query rows; the keys carry "@k" (no suffix for the full context).

    Every prompt of every k is built and measured against the model's window first (policy
    ``eval.qa.overflow``, :mod:`qrexp.evals.qa_window`), then generated. LongMemEval: "accuracy";
    CLIPPER: "pair_accuracy", "true_accuracy", "false_accuracy" and the answer-tag counts of
    :func:`qrexp.evals.qa_clipper.pair_accuracy`; both: "prompts_truncated", "max_prompt_tokens".
    Raises ValueError (before any generation) for an overflowing prompt under ``error``.
    """
    qa = cfg.eval.qa
    check_overflow_policy(qa.overflow)
    gen = journaled(ckpt, generator_of(cfg), "qa")      # replies journaled: never generated twice
    examples = _limited(examples, qa.limit)
    ks: list[int | None] = [None] if run is None else list(qa.top_k)
    plans = [(k, *_plan(cfg, examples, run, k)) for k in ks]
    fitted = [fit_prompts(gen, prompts, names, qa.max_new_tokens, qa.overflow) for _, _, prompts, names in plans]
    metrics: dict[str, float] = {}
    rows_by_qid: dict[str, dict[str, Any]] = {}
    for (k, jobs, _, names), (ready, fits) in zip(plans, fitted):
        suffix = "" if k is None else f"@{k}"
        replies = generate_all(gen, ready, qa.max_new_tokens,
                               "QA answers" if jobs is None else "claim verification")
        tokens = {name: f.tokens for name, f in zip(names, fits)}
        if jobs is None:
            responses = dict(zip((ex.qid for ex in examples), replies))
            rows, m = _judge_lme(cfg, examples, responses, ckpt)
            rows = [{"qid": r["qid"], "hypothesis": r["hypothesis"], "label": r["label"],
                     "prompt_tokens": tokens.get(f"{r['qid']}{suffix}")} for r in rows]
            metrics[f"accuracy{suffix}"] = m["accuracy"]
        else:
            rows, pairs = pair_rows(jobs, replies)
            m = pair_accuracy(pairs)
            row_of = {r["qid"]: r for r in rows}
            for job, name in zip(jobs, names):
                row_of[job["qid"]][f"{job['claim'].split('_')[0]}_prompt_tokens"] = tokens.get(name)
            metrics.update({f"{key}{suffix}": m[key] for key in m if key != "n"})
            metrics[f"pairs{suffix}"] = m["n"]
        metrics.update({f"{key}{suffix}": v for key, v in fit_summary(fits).items()})
        for row in rows:
            rows_by_qid.setdefault(row["qid"], {"qid": row["qid"]}).update(
                {f"{key}{suffix}": v for key, v in row.items() if key != "qid"})
        shown = {key: v for key, v in m.items() if key in ("accuracy", "pair_accuracy", "no_answer_tag",
                                                           "several_answer_tags")}
        log(f"[qa] {method}{suffix}: {', '.join(f'{key}={v:.3f}' for key, v in shown.items() if v is not None)}"
            + (f"; {sum(f.truncated for f in fits)} prompt(s) truncated" if any(f.truncated for f in fits) else ""))
    return metrics, list(rows_by_qid.values())
