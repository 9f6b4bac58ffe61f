"""RankGPT (Sun et al. 2023, "Is ChatGPT Good at Search?"; github.com/sunnweiwei/RankGPT): listwise
re-ranking by permutation generation over sliding windows, with any :class:`qrexp.evals.llm.Generator`.

Prompt, window order and reply parsing follow the reference code (``permutation_pipeline``,
``sliding_windows``): passages ``[1]..[n]`` as user turns each acknowledged by the assistant, windows
from the bottom of the list to the top, the reply's identifiers read in order, missing ones appended.
Registered as the ``rankgpt`` ranker in :data:`qrexp.evals.baselines.RANKERS`.
"""
from __future__ import annotations

import re
from typing import Sequence

from tqdm.auto import tqdm

from qrexp.engine.chat import Messages
from qrexp.engine.rerank import Ranker
from qrexp.evals.llm import Generator
from qrexp.types import Doc, Example, Run, rank_by_score

RANKGPT_SYSTEM = ("You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to "
                  "the query.")
_BRACKETED, _NUMBER = re.compile(r"\[(\d+)\]"), re.compile(r"\d+")


def rankgpt_messages(query: str, passages: Sequence[str], max_words: int = 300) -> Messages:
    """RankGPT's permutation prompt: passages [1]..[n] as user turns, each acknowledged by the assistant."""
    n = len(passages)
    messages = [{"role": "system", "content": RANKGPT_SYSTEM},
                {"role": "user", "content": f"I will provide you with {n} passages, each indicated by number "
                 f"identifier []. \nRank the passages based on their relevance to query: {query}."},
                {"role": "assistant", "content": "Okay, please provide the passages."}]
    for i, text in enumerate(passages, start=1):
        messages.append({"role": "user", "content": f"[{i}] {' '.join(text.split()[:max_words])}"})
        messages.append({"role": "assistant", "content": f"Received passage [{i}]."})
    messages.append({"role": "user", "content": (
        f"Search Query: {query}. \nRank the {n} passages above based on their relevance to the search query. The "
        "passages should be listed in descending order using identifiers. The most relevant passages should be "
        "listed first. The output format should be [] > [], e.g., [1] > [2]. Only response the ranking results, "
        "do not say any word or explain.")})
    return messages


def parse_permutation(text: str, n: int) -> tuple[list[int], str]:
    """0-based order of ``n`` passages from a reply like "[2] > [1] > [3]" and a status.

    Identifiers are the bracketed numbers, or every number when there is none in brackets; ids out of
    1..n and repeats are dropped, missing ones appended in input order ("partial"). With no usable id
    the input order is kept ("failed").
    """
    found = _BRACKETED.findall(text) or _NUMBER.findall(text)
    order: list[int] = []
    for token in found:
        i = int(token) - 1
        if 0 <= i < n and i not in order:
            order.append(i)
    if not order:
        return list(range(n)), "failed"
    missing = [i for i in range(n) if i not in order]
    return order + missing, "partial" if missing else "ok"


def sliding_windows(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """Half-open windows [start, end) from the bottom of the list to the top, moved up by ``step``;
    the last one starts at 0. n=10, window=4, step=2 -> (6,10) (4,8) (2,6) (0,4).

    Raises ValueError unless 1 <= step < window (checked when a RankGPTRanker is built)."""
    if window < 1 or step < 1:
        raise ValueError(f"RankGPT window and step must be >= 1, got window={window}, step={step}")
    if step >= window:
        raise ValueError(f"RankGPT step={step} must be smaller than window={window}: windows that do not "
                         "overlap never carry a passage past a window boundary, so the best passage may never "
                         "reach the top (RankGPT uses window=20, step=10)")
    spans, end = [], n
    while end > 0:
        start = max(end - window, 0)
        spans.append((start, end))
        if start == 0:
            break
        end -= step
    return spans


class RankGPTRanker(Ranker):
    """Listwise permutation generation over sliding windows, ``passes`` back-to-front sweeps.

    ``input_order``: "given" (the example's doc order) or "first_stage" (``meta["first_stage"]`` scores).
    Each window is one generator call; windows at the same step of all examples are batched together.
    Passages are ``"Title: <title> Content: <text>"`` when titled (RankGPT's BEIR format) cut to
    ``max_words`` words. Final score of the doc at position i of n: n - i.
    """

    def __init__(self, generator: Generator, window: int = 20, step: int = 10, passes: int = 1,
                 max_words: int = 300, max_new_tokens: int | None = None, input_order: str = "given") -> None:
        super().__init__()
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        if input_order not in ("given", "first_stage"):
            raise ValueError(f"unknown input_order {input_order!r} (known: given, first_stage)")
        sliding_windows(1, window, step)
        self.generator, self.window, self.step, self.passes = generator, window, step, passes
        self.max_words, self.input_order = max_words, input_order
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"RankGPT max_new_tokens must be >= 1 or None, got {max_new_tokens}")
        self.max_new_tokens = 5 * window + 20 if max_new_tokens is None else max_new_tokens
        self.stats = {"windows": 0, "parse_failures": 0, "partial": 0}

    def _start(self, ex: Example) -> list[Doc]:
        if self.input_order == "given":
            return list(ex.docs)
        scores = ex.meta.get("first_stage")
        if not scores or set(scores) != set(ex.doc_ids):
            raise ValueError(f"example {ex.qid}: input_order 'first_stage' needs meta['first_stage'] for every doc")
        by_id = {d.doc_id: d for d in ex.docs}
        return [by_id[d] for d in rank_by_score(scores, f"example {ex.qid} first stage", "doc")]

    def _passage(self, doc: Doc) -> str:
        return f"Title: {doc.title} Content: {doc.text}" if doc.title else doc.text

    def score(self, example: Example) -> list[float]:
        """The final score per candidate [D] of :meth:`rank` over this example alone."""
        scores = self.rank([example])[example.qid]
        return [scores[d] for d in example.doc_ids]

    def rank(self, examples: Sequence[Example]) -> Run:
        """Run {qid: {doc_id: n - position}} after ``passes`` sweeps; windows of all examples at the
        same step go to the generator in one call (tqdm bar over windows). Counts windows, failed
        and partial replies in ``stats``."""
        orders = {ex.qid: self._start(ex) for ex in examples}
        spans = {ex.qid: sliding_windows(len(ex.docs), self.window, self.step) for ex in examples}
        depth = max((len(s) for s in spans.values()), default=0)
        bar = tqdm(total=self.passes * sum(map(len, spans.values())), desc="rankgpt", unit="window",
                   disable=not self.progress)
        for _ in range(self.passes):
            for w in range(depth):
                active = [ex for ex in examples if w < len(spans[ex.qid])]
                bar.update(len(active))
                prompts = []
                for ex in active:
                    start, end = spans[ex.qid][w]
                    passages = [self._passage(d) for d in orders[ex.qid][start:end]]
                    prompts.append(rankgpt_messages(ex.query, passages, self.max_words))
                replies = self.generator.generate(prompts, self.max_new_tokens) if prompts else []
                for ex, reply in zip(active, replies):
                    start, end = spans[ex.qid][w]
                    block = orders[ex.qid][start:end]
                    perm, status = parse_permutation(reply, len(block))
                    orders[ex.qid][start:end] = [block[i] for i in perm]
                    self.stats["windows"] += 1
                    self.stats["parse_failures"] += status == "failed"
                    self.stats["partial"] += status == "partial"
        bar.close()
        return {qid: {d.doc_id: float(len(docs) - i) for i, d in enumerate(docs)} for qid, docs in orders.items()}
