"""Generation prompts against the model's window, checked before any forward pass of a method.

The retrieval prompts are checked up front by :func:`qrexp.engine.window.fit_window`; this module
does the same for the prompts a method *generates* from, which otherwise are measured only after the
ranking (QA answers, :mod:`qrexp.evals.qa_window`) or never (RankGPT's listwise windows):

* QA answer prompts (the evaluation kind's QA plan, qrexp.evals.kinds: LongMemEval answers,
  CLIPPER claim verification) at every cut-off k of
  ``eval.qa.top_k``, and the full context. A top-k prompt holds the k units the ranking puts first,
  unknown before ranking, so each example is bounded: the prompt over its k *longest* units (the
  worst case) and over its k *shortest* (the best case). Full context is exact (both cases agree).
* RankGPT: a sliding window of ``window`` passages (each cut to ``max_words`` words) plus
  ``max_new_tokens``; bounded the same way by the example's ``window`` longest / shortest passages.

A prompt whose best case does not fit fails for sure: under ``eval.qa.overflow=error`` (QA) and
always for RankGPT (it has no truncation), ValueError names the count, the longest and the fix,
before any work. A prompt whose worst case alone does not fit may fail: logged with its count
(the exact QA check still runs before generation; ``truncate_middle`` truncates those, recorded).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from qrexp.evals.rankgpt import RankGPTRanker, rankgpt_messages
from qrexp.evals.llm import HFGenerator
from qrexp.evals.kinds import qa_plan
from qrexp.experiment.config import RunConfig
from qrexp.types import Doc, Example, Run


def qa_examples(examples: Sequence[Example], limit: int | None) -> list[Example]:
    """The questions QA answers: the first ``limit`` (CLIPPER claims: the first ``limit`` pairs, both
    claims), as :func:`qrexp.experiment.qa_stage.answer_questions` selects them."""
    if not limit:
        return list(examples)
    keep = set(list(dict.fromkeys(ex.meta.get("pair", ex.qid) for ex in examples))[:limit])
    return [ex for ex in examples if ex.meta.get("pair", ex.qid) in keep]


def _by_length(examples: Sequence[Example], count: Callable[[Doc], int], longest: bool) -> Run:
    """A run that puts each example's longest (or shortest) units first."""
    sign = 1.0 if longest else -1.0
    return {ex.qid: {d.doc_id: sign * count(d) for d in ex.docs} for ex in examples}


def _rankgpt_prompts(examples: Sequence[Example], ranker: RankGPTRanker, count: Callable[[Doc], int],
                     longest: bool) -> list[Any]:
    out = []
    for ex in examples:
        docs = sorted(ex.docs, key=count, reverse=longest)[:ranker.window]
        out.append(rankgpt_messages(ex.query, [passage(d) for d in docs], ranker.max_words))
    return out


def passage(doc: Doc) -> str:
    """RankGPT's passage text (its BEIR format: "Title: <title> Content: <text>" when titled)."""
    return f"Title: {doc.title} Content: {doc.text}" if doc.title else doc.text


def check_generation_windows(cfg: RunConfig, method: str, examples: Sequence[Example], qa: bool,
                             load: Callable[[], tuple[Any, Any]], log: Callable[[str], None] = print) -> None:
    """Bound the generation prompts of ``method`` on ``examples`` (module docstring): ``qa`` when the
    method answers questions (full context included), RankGPT when ``method == "rankgpt"``. ``load()``
    gives (model, tokenizer) of the generating model, called only when there is something to check
    (the method loads the model next). Raises ValueError for prompts that cannot fit."""
    if not examples or not (qa or method == "rankgpt"):
        return
    model, tok = load()
    gen = HFGenerator(model, tok)
    if gen.window is None:
        return
    if method == "rankgpt":
        ranker = RankGPTRanker(gen)
        words = lambda d: len(tok(" ".join(passage(d).split()[:ranker.max_words]), add_special_tokens=False)
                              ["input_ids"])
        cases = [_rankgpt_prompts(examples, ranker, words, longest) for longest in (True, False)]
        _judge(f"{method}: RankGPT window prompts ({ranker.window} passages of up to {ranker.max_words} words)",
               gen, cases, ranker.max_new_tokens, "error", log,
               "RankGPT has no truncation; use shorter passages (truncate_words) or a longer-context model")
    if qa:
        q = cfg.eval.qa
        chosen = qa_examples(examples, q.limit)
        units = lambda d: len(tok(d.text, add_special_tokens=False)["input_ids"])
        for k in [None] if method == "full-context" else list(q.top_k):
            runs = [None, None] if k is None else [_by_length(chosen, units, longest) for longest in (True, False)]
            cases = [qa_plan(cfg.eval.kind, chosen, run, k).prompts for run in runs]
            _judge(f"{method}: QA prompts " + ("over the full context" if k is None else f"over the top-{k} units"),
                   gen, cases, q.max_new_tokens, q.overflow, log,
                   "set eval.qa.overflow=truncate_middle, lower eval.qa.top_k or use a longer-context model",
                   exact=k is None)


def _judge(what: str, gen: HFGenerator, cases: list[list[Any]], max_new_tokens: int, policy: str,
           log: Callable[[str], None], fix: str, exact: bool = False) -> None:
    budget = int(gen.window) - int(max_new_tokens)
    worst, best = ([len(gen.encode(p)) for p in prompts] for prompts in cases)
    sure = [n for n in best if n > budget]
    maybe = [n for n in worst if n > budget]
    log(f"[window] {what}: {len(worst)} prompts, up to {max(worst)} tokens + {max_new_tokens} new in the window "
        f"of {gen.window}; {len(sure)} cannot fit" + ("" if exact else f", {len(maybe)} may not fit (longest units "
                                                     "ranked first)"))
    if sure and policy == "error":
        bound = "" if exact else " even over their shortest units"
        raise ValueError(f"{what}: {len(sure)} of {len(best)} prompts exceed the model's window{bound} "
                         f"({max(sure)} + {max_new_tokens} new tokens > {gen.window}); {fix}")
