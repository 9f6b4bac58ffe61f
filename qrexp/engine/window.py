"""Prompt lengths against the model's context window, checked for the whole data set before any forward.

With the paper's BEIR protocol (BM25 top-200, 400 words) most prompts exceed a small model's window
(SmolLM2: 8,192 tokens). Instead of failing at the first such query after minutes of work, every
example's retrieval prompt is tokenized up front (tokenizer only, no model call), the length
distribution and the number over the window are printed, and then, by ``policy``:
  * "fail" (default): stop at once with that count and what to change;
  * "truncate": drop each over-long example's lowest first-stage candidates (``meta["first_stage"]``
    scores: the BM25 run) until its prompt fits; the kept ones stay in their presented order and
    ``meta["window"]`` records {"tokens": before, "kept": n, "dropped": [doc ids]}. Examples without
    first-stage scores (LongMemEval, CLIPPER: no ranking to cut by) are refused.
"""
from __future__ import annotations

import dataclasses
import statistics
from typing import Callable, Sequence

from qrexp.engine.prompt import PromptBuilder
from qrexp.types import Doc, Example, rank_by_score

POLICIES = ("fail", "truncate")


def prompt_length(builder: PromptBuilder, query: str, docs: Sequence[Doc]) -> int:
    """Tokens of the retrieval prompt for ``query`` over ``docs`` (tokenizer only)."""
    text, _, _, add_special = builder.render(query, docs)
    return len(builder.tokenizer(text, add_special_tokens=add_special)["input_ids"])


def _truncate(builder: PromptBuilder, ex: Example, window: int, tokens: int) -> Example:
    scores = ex.meta.get("first_stage")
    if not scores or set(scores) != set(ex.doc_ids):
        raise ValueError(f"example {ex.qid}: prompt has {tokens} tokens, more than the window of {window}, and "
                         "no first-stage scores to truncate by; use shorter or fewer documents")
    by_rank = rank_by_score(scores, f"example {ex.qid} first stage", "doc")
    lo, hi = 0, len(by_rank)                      # largest m whose top-m prompt fits: lo fits (or 0), hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        keep = set(by_rank[:mid])
        if prompt_length(builder, ex.query, [d for d in ex.docs if d.doc_id in keep]) <= window:
            lo = mid
        else:
            hi = mid
    if lo == 0:
        raise ValueError(f"example {ex.qid}: even its best candidate alone exceeds the window of {window} tokens")
    keep = set(by_rank[:lo])
    docs = tuple(d for d in ex.docs if d.doc_id in keep)
    meta = {**ex.meta, "window": {"tokens": tokens, "kept": lo, "dropped": [d for d in by_rank[lo:]]}}
    return dataclasses.replace(ex, docs=docs, gold=frozenset(g for g in ex.gold if g in keep), meta=meta)


def fit_window(examples: Sequence[Example], builder: PromptBuilder, window: int | None, policy: str = "fail",
               log: Callable[[str], None] = print, progress: bool = True,
               length: Callable[[Example], int] | None = None) -> list[Example]:
    """Check (and with ``policy="truncate"`` fit) every example's prompt to ``window`` tokens.

    ``length``: an example's prompt tokens (default :func:`prompt_length` with ``builder``); the cached
    scorer's ``prompt_length`` keeps the tokenized prompt, so scoring does not tokenize it again.

    Prints one line: prompt length min / median / max and how many of n exceed the window. Returns the
    examples (truncated ones replaced). Raises ValueError, before any forward pass, when ``policy`` is
    "fail" and any prompt is too long (the message gives the count and the longest), or when an example
    cannot be truncated (see the module docstring). ``window`` None: nothing to check.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown window policy {policy!r} (known: {', '.join(POLICIES)})")
    if window is None or not examples:
        return list(examples)
    from tqdm.auto import tqdm
    length = length or (lambda ex: prompt_length(builder, ex.query, ex.docs))
    lengths = [length(ex) for ex in tqdm(examples, desc="prompt lengths", disable=not progress, leave=False)]
    over = [i for i, n in enumerate(lengths) if n > window]
    log(f"[window] prompt tokens over {len(examples)} examples: min {min(lengths)}, median "
        f"{int(statistics.median(lengths))}, max {max(lengths)}, total {sum(lengths)}; {len(over)} exceed the "
        f"window of {window}")
    if not over:
        return list(examples)
    if policy == "fail":
        worst = max(over, key=lambda i: lengths[i])
        raise ValueError(f"{len(over)} of {len(examples)} prompts exceed the model's window of {window} tokens "
                         f"(longest: example {examples[worst].qid}, {lengths[worst]} tokens); lower top_k or "
                         "truncate_words, or set data.fit_window=truncate to drop the lowest first-stage candidates")
    out = list(examples)
    for i in over:
        out[i] = _truncate(builder, examples[i], window, lengths[i])
    dropped = sum(len(out[i].meta["window"]["dropped"]) for i in over)
    log(f"[window] truncated {len(over)} examples: {dropped} lowest first-stage candidates dropped in all "
        "(per example: meta['window'])")
    return out


def window_record(examples: Sequence[Example]) -> dict:
    """{qid: number of candidates dropped} for the truncated examples (for a run's extra record)."""
    return {ex.qid: len(ex.meta["window"]["dropped"]) for ex in examples if "window" in ex.meta}
