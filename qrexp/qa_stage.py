"""Long-context QA for an evaluation run: generate from the top-k units of a ranking (or the full
context) with the scored model, then judge (LongMemEval) or parse TRUE/FALSE (CLIPPER).

Judges: ``llm`` = LongMemEval's per-question-type yes/no prompts sent to an OpenAI-compatible
endpoint (e.g. a vLLM server with Llama-3.1-8B-Instruct, as the paper code); ``contains`` = an
offline string check (the gold answer appears in the response), for the demo and tests.
"""
from __future__ import annotations

from typing import Any, Sequence

from .config import RunConfig
from .llm import HFGenerator, OpenAIGenerator
from .qa import clipper_generate, evaluate_lme, lme_generate, lme_metrics, pair_accuracy
from .types import Example, Run


def _generator(cfg: RunConfig) -> HFGenerator:
    from .stages import _load
    model, tok = _load(cfg.model)
    gen = HFGenerator(model, tok)
    gen.progress = cfg.progress
    return gen


def contains_label(answer: Any, response: str) -> bool:
    """Offline stand-in for the LLM judge: the normalized answer occurs in the response."""
    norm = lambda s: " ".join(str(s).lower().replace(",", " ").split())
    return norm(answer) in norm(response)


def _judge_lme(cfg: RunConfig, examples: Sequence[Example], responses: dict[str, str]):
    qa = cfg.eval.qa
    if qa.judge == "llm":
        if not qa.judge_url or not qa.judge_model:
            raise ValueError("eval.qa.judge=llm needs eval.qa.judge_url and eval.qa.judge_model")
        judge = OpenAIGenerator(qa.judge_url, qa.judge_model, workers=8)     # 8 requests in flight
        judge.progress = cfg.progress
        return evaluate_lme(examples, responses, judge)
    if qa.judge != "contains":
        raise ValueError(f"eval.qa.judge must be llm or contains, got {qa.judge!r}")
    rows = [{"qid": ex.qid, "question_type": ex.meta.get("question_type", "unknown"),
             "abstention": bool(ex.meta.get("abstention")), "answer": ex.answer,
             "hypothesis": responses[ex.qid], "label": contains_label(ex.answer, responses[ex.qid])}
            for ex in examples]
    return rows, lme_metrics(rows)


def answer_questions(cfg: RunConfig, method: str, examples: Sequence[Example], run: Run | None,
                     log=print) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """QA metrics ("accuracy@k" / "pair_accuracy@k"; no suffix for the full context) and per-query rows."""
    qa, gen = cfg.eval.qa, _generator(cfg)
    examples = list(examples)[: qa.limit] if qa.limit else list(examples)
    ks: list[int | None] = [None] if run is None else list(qa.top_k)
    metrics: dict[str, float] = {}
    rows_by_qid: dict[str, dict[str, Any]] = {}
    for k in ks:
        suffix = "" if k is None else f"@{k}"
        if cfg.eval.kind == "lme":
            responses = lme_generate(examples, run, k, gen, qa.max_new_tokens)
            rows, m = _judge_lme(cfg, examples, responses)
            metrics[f"accuracy{suffix}"] = m["accuracy"]
            keep = ("hypothesis", "label")
        elif cfg.eval.kind == "clipper":
            rows = clipper_generate(examples, run, k, gen, qa.max_new_tokens)
            m = pair_accuracy(rows)
            metrics[f"pair_accuracy{suffix}"] = m["pair_accuracy"]
            metrics[f"parse_failures{suffix}"] = m["parse_failures"]
            keep = ("true_pred", "false_pred", "correct")
        else:
            raise ValueError(f"QA is defined for eval.kind lme and clipper, not {cfg.eval.kind!r}")
        for row in rows:
            rows_by_qid.setdefault(row["qid"], {"qid": row["qid"]}).update(
                {f"{key}{suffix}": row[key] for key in keep})
        log(f"[qa] {method}{suffix}: {', '.join(f'{k}={v:.3f}' for k, v in metrics.items() if k.endswith(suffix) and v is not None)}")
    return metrics, list(rows_by_qid.values())
