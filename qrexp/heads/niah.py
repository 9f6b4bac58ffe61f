"""The NIAH retrieval score of Wu et al. 2024 ("retrieval heads", the RetHead baseline).

Greedy-decode the answer to a needle-in-a-haystack prompt. At generated token w (step t), head h
copies when the key position j of its largest attention (from the query row that predicted w) lies
inside the needle and the prompt holds w at j. A head's score for one run is |needle positions it
copied| / |needle tokens|; the head's retrieval score is the mean over the runs answered correctly
(ROUGE-1 recall of the answer > 0.5). Heads scoring > 0.1 are "retrieval heads".

This needs a model and generation, so it is not a detection objective of :mod:`qrexp.heads.objectives` (those
take precomputed DocScores); rank its HeadScores with :func:`qrexp.heads.objectives.rank_heads`. Source: Wu et al. 2024,
"Retrieval Head Mechanistically Explains Long-Context Factuality", and their detection code.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from qrexp.data.niah import full_context
from qrexp.engine.chat import render_chat
from qrexp.engine.generate import GenerationTrace, greedy_generate
from qrexp.engine.prompt import token_span
from qrexp.types import Example

# Wu et al.'s detection prompt (their repo), as a template over the haystack and the question.
NIAH_TEMPLATE = ("This is a very long story book: <book> {context} </book>.\n"
                 "Based on the content of the book, Question: {question}\nAnswer:")
_WORD = re.compile(r"[^\W_]+")


class NiahCase(NamedTuple):
    """One NIAH run: the haystack with the needle already in it, the needle, question, answer."""
    context: str
    needle: str
    question: str
    answer: str


class NiahScores(NamedTuple):
    """HeadScores [L, H] (mean over correct runs; zeros if none), runs answered correctly, all runs."""
    scores: torch.Tensor
    n_correct: int
    n_runs: int


@dataclass(frozen=True)
class NiahPrompt:
    """A tokenized NIAH prompt; needle_span is the needle's half-open token range in ``ids``."""
    text: str
    ids: list[int]
    needle_span: tuple[int, int]


def case_from_example(example: Example) -> NiahCase:
    """A :mod:`qrexp.data.niah` Example -> NiahCase (full context, meta["needle"], query, answer)."""
    needle = example.meta.get("needle")
    if not needle or not example.answer:
        field = "meta['needle']" if not needle else "answer"
        raise ValueError(f"NIAH example {example.qid}: missing {field}")
    return NiahCase(full_context(example), str(needle), example.query, str(example.answer))


def as_case(case, where: str = "NIAH case") -> NiahCase:
    """A NiahCase from any 4-sequence (context, needle, question, answer) of strings."""
    if isinstance(case, NiahCase):
        return case
    items = tuple(case) if isinstance(case, (tuple, list)) else ()
    if len(items) != 4 or not all(isinstance(x, str) for x in items):
        raise ValueError(f"{where}: expected (context, needle, question, answer) strings, "
                         f"got {type(case).__name__}")
    return NiahCase(*items)


def build_niah_prompt(tokenizer, case: NiahCase, chat: bool = True, template: str = NIAH_TEMPLATE,
                      where: str = "NIAH case") -> NiahPrompt:
    """Fill ``template``, render it as one chat user turn (:func:`qrexp.engine.chat.render_chat`;
    plain text with the tokenizer's own special tokens when chat=False), tokenize, and locate the
    needle's tokens by char offsets -> NiahPrompt (``needle_span`` half-open, in tokens).

    Raises ValueError (naming ``where``) when the template lacks {context} or {question}, the needle
    is empty, absent from or repeated in the rendered prompt, or the tokenizer has no chat template
    while ``chat`` is True."""
    for slot in ("{context}", "{question}"):
        if slot not in template:
            raise ValueError(f"NIAH template lacks the {slot} slot")
    if not case.needle.strip():
        raise ValueError(f"{where}: empty needle")
    body = template.format(context=case.context, question=case.question)
    text = render_chat(tokenizer, body) if chat else body
    start = text.find(case.needle)
    if start < 0:
        raise ValueError(f"{where}: needle {case.needle[:40]!r} not found in the rendered prompt")
    if text.find(case.needle, start + 1) >= 0:
        raise ValueError(f"{where}: needle {case.needle[:40]!r} occurs more than once in the prompt")
    enc = tokenizer(text, add_special_tokens=not chat, return_offsets_mapping=True)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    span = token_span(offsets, start, start + len(case.needle), f"{where}, needle")
    return NiahPrompt(text, list(enc["input_ids"]), span)


def rouge1_recall(prediction: str, reference: str) -> float:
    """ROUGE-1 recall: clipped unigram overlap / reference unigrams.

    Tokens are lowercased runs of letters and digits (rouge_score's default tokenizer for ASCII
    text, without stemming). An empty prediction scores 0.
    """
    ref = Counter(_WORD.findall(reference.lower()))
    if not ref:
        raise ValueError(f"rouge1_recall: reference {reference!r:.60} has no word tokens")
    pred = Counter(_WORD.findall(prediction.lower()))
    return sum(min(n, pred[w]) for w, n in ref.items()) / sum(ref.values())


def copy_scores(trace: GenerationTrace, prompt_ids: Sequence[int],
                needle_token_span: tuple[int, int]) -> torch.Tensor:
    """One run's copy score per head -> HeadScores [L, H] in [0, 1].

    Head h copies needle position j at step t if trace.argmax[t, l, h] == j, j lies in the needle
    span and prompt_ids[j] == trace.token_ids[t]; each needle position counts once per head.
    """
    if trace.argmax is None:
        raise ValueError("copy_scores: the trace has no attention argmax "
                         "(run greedy_generate with capture_last_row=True)")
    arg = trace.argmax.cpu().long()                                    # [S, L, H]
    steps, n_layers, n_heads = arg.shape
    if steps != len(trace.token_ids):
        raise ValueError(f"copy_scores: {steps} argmax steps for {len(trace.token_ids)} tokens")
    s, e = (int(x) for x in needle_token_span)
    if not 0 <= s < e <= len(prompt_ids):
        raise ValueError(f"copy_scores: needle span ({s}, {e}) outside a {len(prompt_ids)}-token prompt")
    prompt = torch.as_tensor(list(prompt_ids), dtype=torch.long)
    tokens = torch.as_tensor(trace.token_ids, dtype=torch.long)[:, None, None]
    inside = (arg >= s) & (arg < e)
    offset = (arg - s).clamp(0, e - s - 1)                              # position within the needle
    copied = inside & (prompt[offset + s] == tokens)                    # [S, L, H]
    head = torch.arange(n_layers * n_heads).view(1, n_layers, n_heads).expand_as(arg)
    hit = torch.zeros(n_layers * n_heads * (e - s), dtype=torch.bool)
    hit[(head * (e - s) + offset)[copied]] = True
    return hit.view(n_layers, n_heads, e - s).sum(-1).float() / (e - s)


class NiahRun(NamedTuple):
    """One case's outcome: answered correctly, and then its copy scores HeadScores [L, H] (else None)."""
    correct: bool
    copy: torch.Tensor | None


def score_niah_case(model, tokenizer, case: NiahCase | tuple[str, str, str, str], max_new_tokens: int = 50,
                    threshold: float = 0.5, chat: bool = True, template: str = NIAH_TEMPLATE,
                    stop_ids: Iterable[int] | None = None, where: str = "NIAH case") -> NiahRun:
    """One greedy generation of up to ``max_new_tokens`` for ``case``: correct when
    rouge1_recall(generated text, answer) > threshold, then its :func:`copy_scores` [L, H] (float32).
    Raises ValueError (naming ``where``) for a malformed case (:func:`as_case`, :func:`build_niah_prompt`)."""
    case = as_case(case, where)
    prompt = build_niah_prompt(tokenizer, case, chat, template, where=where)
    trace = greedy_generate(model, tokenizer, prompt.ids, max_new_tokens, capture_last_row=True,
                            stop_ids=None if stop_ids is None else list(stop_ids))
    if rouge1_recall(trace.text, case.answer) > threshold:
        return NiahRun(True, copy_scores(trace, prompt.ids, prompt.needle_span))
    return NiahRun(False, None)


def combine_niah_runs(runs: Iterable[NiahRun], shape: tuple[int, int]) -> NiahScores:
    """NiahScores of the runs in order: the mean copy score [L, H] over the correct ones (summed in
    run order, so equal runs give bit-equal scores), zeros of ``shape`` when none is correct.
    Raises ValueError for no runs."""
    total, n_correct, n_runs = None, 0, 0
    for run in runs:
        n_runs += 1
        if run.correct:
            total = run.copy if total is None else total + run.copy
            n_correct += 1
    if n_runs == 0:
        raise ValueError("niah_retrieval_scores: no cases")
    return NiahScores(torch.zeros(shape) if total is None else total / n_correct, n_correct, n_runs)


def niah_retrieval_scores(model, tokenizer, cases: Iterable[NiahCase | tuple[str, str, str, str]],
                          max_new_tokens: int = 50, threshold: float = 0.5, chat: bool = True,
                          template: str = NIAH_TEMPLATE, stop_ids: Iterable[int] | None = None,
                          progress: bool = False) -> NiahScores:
    """Wu et al.'s retrieval score of every head over ``cases`` (see the module doc).

    A run counts as answered correctly when rouge1_recall(generated text, answer) > threshold.
    Returns NiahScores: HeadScores [L, H] in [0, 1] (mean copy score over the correct runs; zeros
    when none is correct), the number of correct runs, all runs. Runs one greedy generation of up
    to ``max_new_tokens`` per case (:func:`score_niah_case`; tqdm bar when ``progress``). Raises
    ValueError for no cases or a malformed case (:func:`as_case`, :func:`build_niah_prompt`).
    """
    stops = None if stop_ids is None else list(stop_ids)
    runs = (score_niah_case(model, tokenizer, case, max_new_tokens, threshold, chat, template, stops,
                            where=f"NIAH case {i}")
            for i, case in enumerate(tqdm(cases, desc="niah score", disable=not progress)))
    return combine_niah_runs(runs, (model.config.num_hidden_layers, model.config.num_attention_heads))
