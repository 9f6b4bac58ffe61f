"""What the cached scorer keys and plans, before any forward pass: the prompts of each example (built
once per content), the score-cache keys of its DocScores and document TokenScores, the document token
positions and the budget plan (:mod:`qrexp.engine.cache_plan`) that decides whose token scores are kept.

:class:`ExampleKeys` is the base of :class:`qrexp.engine.scorer.ExampleScorer`, which adds the
forward passes and the scores. Keys: the prompt token ids actually scored and the loaded model's
weights fingerprint (:func:`qrexp.engine.score_cache.scores_key`).
"""
from __future__ import annotations

from contextlib import ExitStack, nullcontext
from typing import ContextManager, Sequence

import torch

from qrexp.engine.cache_plan import CachePlan, check_token_dtype, plan_cache
from qrexp.engine.models import model_fingerprint
from qrexp.engine.prompt import PromptBuilder
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.score_cache import ScoreCache, scores_key
from qrexp.engine.scoring import ScoringOptions
from qrexp.io.locks import LockTimeout
from qrexp.types import Example, Prompt


def content_key(ex: Example) -> tuple:
    """What a prompt is built from: qid, query and the documents (ids, titles, texts) in order."""
    return ex.qid, ex.query, tuple((d.doc_id, d.title, d.text) for d in ex.docs)


def compact_spans(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Document spans re-based onto the concatenated document tokens (:meth:`ExampleKeys.doc_tokens`)."""
    out, at = [], 0
    for s, e in spans:
        out.append((at, at + e - s))
        at += e - s
    return out


class ExampleKeys:
    """Prompts, cache keys, shapes and the cache plan of one retriever's examples (no forward pass).

    ``max_bytes``: the disk budget of one data set's records (None: unbounded); ``token_dtype``:
    "float32" or "float16" (part of the token-score key). Raises ValueError for another dtype."""

    def __init__(self, retriever: QRRetriever, cache: ScoreCache | None = None,
                 max_bytes: int | None = None, token_dtype: str = "float32") -> None:
        self.retriever = retriever
        self.token_dtype = check_token_dtype(token_dtype)
        self.cache = cache
        self.max_bytes = max_bytes
        self.plan: CachePlan | None = None
        self._admitted: set[tuple] | None = None
        self._prompts: dict[tuple, Prompt] = {}     # keyed by content, not qid alone
        self._nulls: dict[tuple, Prompt] = {}
        self._model_id: dict | None = None
        self._unbounded: PromptBuilder | None = None  # the retriever's builder without the window check

    @property
    def model_id(self) -> dict:
        """The loaded model's identity incl. weights fingerprint (computed once per scorer)."""
        if self._model_id is None:
            self._model_id = model_fingerprint(self.retriever.model)
        return self._model_id

    def _key(self, kind: str, ex: Example, **extra) -> str:
        """Key of what is computed: real and null prompt tokens + spans, model, settings."""
        r = self.retriever
        settings = {k: v for k, v in r.settings_dict().items() if k not in ("calibrate", "mask_sigma")}
        model = {k: v for k, v in self.model_id.items() if k != "name"}   # a label computes nothing
        return scores_key(kind, [self.prompt(ex), self.null_prompt(ex)], model=model,
                          settings=settings, **extra)

    def prompt(self, ex: Example) -> Prompt:
        """The scoring prompt of ``ex`` (built once per content)."""
        key = content_key(ex)
        if key not in self._prompts:
            self._prompts[key] = self.retriever.build_prompt(ex.query, ex.docs, ex.qid)
        return self._prompts[key]

    def prompt_length(self, ex: Example) -> int:
        """Tokens of ``ex``'s scoring prompt, for the window check (qrexp.engine.window.fit_window):
        the prompt is tokenized once and, when it fits the model's window, kept for the cache keys
        and the forward pass, so a rerun on a filled cache tokenizes each prompt once, not twice.
        Raises ValueError (naming the example) for no documents, an empty query or a span that
        cannot be located; never for the length itself."""
        key = content_key(ex)
        if key not in self._prompts:
            b = self.retriever.builder
            if self._unbounded is None:
                self._unbounded = PromptBuilder(b.tokenizer, b.settings, None)
            prompt = self._unbounded.build(ex.query, ex.docs, ex.qid)
            if b.max_length is not None and len(prompt.input_ids) > b.max_length:
                return len(prompt.input_ids)            # never scored as is: the window check decides
            self._prompts[key] = prompt
        return len(self._prompts[key].input_ids)

    def null_prompt(self, ex: Example) -> Prompt:
        """The null-query prompt of ``ex`` (the calibration pass reads it)."""
        key = content_key(ex)
        if key not in self._nulls:
            self._nulls[key] = self.retriever.build_prompt(self.retriever.null_query, ex.docs, ex.qid)
        return self._nulls[key]

    def doc_scores_key(self, ex: Example, opts: ScoringOptions) -> str:
        """The score-cache key of ``ex``'s DocScores under ``opts`` (calibrate, mask sigma)."""
        return self._key("doc_scores", ex, calibrate=opts.calibrate, mask_sigma=opts.mask_sigma)

    def token_scores_key(self, ex: Example) -> str:
        """The score-cache key of ``ex``'s document TokenScores (model, prompts, settings)."""
        return self._key("doc_token_scores", ex, token_dtype=self.token_dtype)

    def doc_tokens(self, ex: Example) -> torch.Tensor:
        """Prompt positions of the document tokens [T_doc] (spans concatenated in document order)."""
        return torch.cat([torch.arange(s, e) for s, e in self.prompt(ex).doc_spans])

    def doc_scores_shape(self, ex: Example) -> tuple[int, int, int]:
        """(D, L, H) of ``ex``'s DocScores."""
        r = self.retriever
        return (len(self.prompt(ex).doc_spans), r.n_layers, r.n_heads)

    def token_scores_shape(self, ex: Example) -> tuple[int, int, int, int]:
        """(2, L, H, T_doc) of ``ex``'s document TokenScores."""
        r = self.retriever
        return (2, r.n_layers, r.n_heads, len(self.doc_tokens(ex)))

    def plan_for(self, examples: Sequence[Example], opts: ScoringOptions,
                 tokens: bool | None = None) -> CachePlan:
        """Fix (and return) what ``examples`` will store, before any forward pass: DocScores always,
        token scores when ``tokens`` (default: ``opts.aggregation == "paper"``) for the first
        examples that fit ``max_bytes``. Raises ValueError when the DocScores alone do not fit."""
        need = opts.aggregation == "paper" if tokens is None else tokens
        r = self.retriever
        self.plan = plan_cache(r.n_layers, r.n_heads, [len(self.prompt(ex).doc_spans) for ex in examples],
                               [len(self.doc_tokens(ex)) for ex in examples],
                               tokens_needed=need, max_bytes=self.max_bytes, token_dtype=self.token_dtype)
        self._admitted = {content_key(ex) for ex in examples[:self.plan.token_examples]}
        return self.plan

    def keeps_tokens(self, ex: Example) -> bool:
        """Whether ``ex``'s token scores are kept (the plan admitted it; no plan: no budget)."""
        return content_key(ex) in self._admitted if self._admitted is not None else self.max_bytes is None

    def stores_tokens(self, ex: Example) -> bool:
        """Whether the cache policy keeps ``ex``'s token scores (:meth:`keeps_tokens` with a cache)."""
        return self.cache is not None and self.keeps_tokens(ex)

    # ---- compute locks (processes sharing one cache) ---------------------------------------------
    def claim(self, ex: Example) -> ContextManager:
        """The lock on computing ``ex``'s full pass (:meth:`ScoreCache.lock` of its ``forward`` key,
        the same for every calibrate / mask setting); waits while another process holds it. Re-read
        the cache once it is held. Without a cache: no lock."""
        return nullcontext() if self.cache is None else self.cache.lock(self._key("forward", ex))

    def try_claims(self, examples: Sequence[Example], stack: ExitStack) -> list[Example]:
        """The examples of ``examples`` whose compute lock this process got without waiting (held on
        ``stack`` until it closes); those another process is computing are left out (a later
        :meth:`claim` waits for them). Without a cache: all of them."""
        if self.cache is None:
            return list(examples)
        got = []
        for ex in examples:
            try:
                stack.enter_context(self.cache.lock(self._key("forward", ex), wait=False))
            except LockTimeout:
                continue
            got.append(ex)
        return got
