"""Per-example scoring shared by head detection and retrieval evaluation, cached on disk.

One forward pair per example (real and null query sharing the document prefix) gives the raw
TokenScores [L, H, T_prefix] of both; from them the scorer keeps (:mod:`qrexp.engine.score_cache`):

- DocScores [D, L, H] float32 for the call's (calibrate, mask sigma), always: detection with any
  objective and k, and per-head aggregation with any head set, read only these (exact).
- document TokenScores [2, L, H, T_doc] (calibrated c, raw s), float32 (exact; or float16 rows with
  ``token_dtype="float16"``), only for examples the
  budget plan admits (:meth:`ExampleScorer.plan_for`, :mod:`qrexp.engine.cache_plan`) and only when
  the aggregation reads token scores (``paper``: heads summed, then masked).

With ``token_dtype="float16"`` the paper aggregation always scores from float16-rounded rows
(:func:`half_round`, relative rounding <= 2^-11), whether they come from the cache or from a fresh
(full or head-subset) pass, so its numbers do not depend on the budget or on what was cached before;
the default float32 keeps the scores equal to the reference computation. Options travel per call (:class:`ScoringOptions`).
Keys: the prompt token ids actually scored and the loaded model's weights fingerprint (:func:`scores_key`).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from qrexp.engine.cache_plan import CachePlan, check_token_dtype, plan_cache
from qrexp.engine.models import model_fingerprint
from qrexp.engine.rerank import rerank
from qrexp.engine.retriever import QRRetriever, as_headset
from qrexp.engine.cache_records import half_round
from qrexp.engine.score_cache import ScoreCache, scores_key
from qrexp.engine.scoring import ScoringOptions, calibrate, doc_scores_per_head, span_scores
from qrexp.types import Example, HeadSet, Prompt, Run

CALIBRATED = ScoringOptions(calibrate=True)      # token passes always include the null query


class ExampleScorer:
    """Cached per-example scores for one retriever (model + prompt settings).

    ``max_bytes``: the disk budget of one data set's records (None: unbounded); token scores are
    kept only for examples admitted by the last :meth:`plan_for` (without a plan: all when
    unbounded, none under a budget). ``compress``: zlib over the token records (saves 9-16%
    measured, at ~13 MB/s of CPU per record; off by default). ``token_dtype``: "float32" (exact,
    default) or "float16" (half the disk, scores rounded as above; part of the token-score key).
    ``forwards`` counts forward passes run (real + null = one)."""

    def __init__(self, retriever: QRRetriever, cache: ScoreCache | None = None,
                 max_bytes: int | None = None, compress: bool = False,
                 token_dtype: str = "float32", batch_size: int = 1) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"ExampleScorer: batch_size must be an int >= 1, got {batch_size!r}")
        self.retriever = retriever
        self.batch_size = batch_size
        self.token_dtype = check_token_dtype(token_dtype)
        self.cache = cache
        self.max_bytes = max_bytes
        self.compress = compress
        self.plan: CachePlan | None = None
        self._admitted: set[tuple] | None = None
        self._prompts: dict[tuple, Prompt] = {}     # keyed by content, not qid alone
        self._nulls: dict[tuple, Prompt] = {}
        self._memo: tuple[tuple, torch.Tensor] | None = None   # last example's token scores
        self._model_id: dict | None = None
        self.forwards = 0

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
        key = _content(ex)
        if key not in self._prompts:
            self._prompts[key] = self.retriever.build_prompt(ex.query, ex.docs, ex.qid)
        return self._prompts[key]

    def null_prompt(self, ex: Example) -> Prompt:
        """The null-query prompt of ``ex`` (the calibration pass reads it)."""
        key = _content(ex)
        if key not in self._nulls:
            self._nulls[key] = self.retriever.build_prompt(self.retriever.null_query, ex.docs, ex.qid)
        return self._nulls[key]

    # ---- keys, shapes, plan --------------------------------------------------------------------
    def doc_scores_key(self, ex: Example, opts: ScoringOptions) -> str:
        return self._key("doc_scores", ex, calibrate=opts.calibrate, mask_sigma=opts.mask_sigma)

    def token_scores_key(self, ex: Example) -> str:
        """The score-cache key of ``ex``'s document TokenScores (model, prompts, settings)."""
        return self._key("doc_token_scores", ex, token_dtype=self.token_dtype)

    def doc_tokens(self, ex: Example) -> torch.Tensor:
        """Prompt positions of the document tokens [T_doc] (spans concatenated in document order)."""
        return torch.cat([torch.arange(s, e) for s, e in self.prompt(ex).doc_spans])

    def token_scores_shape(self, ex: Example) -> tuple[int, int, int, int]:
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
        self._admitted = {_content(ex) for ex in examples[:self.plan.token_examples]}
        return self.plan

    def keeps_tokens(self, ex: Example) -> bool:
        """Whether ``ex``'s token scores are kept (the plan admitted it; no plan: no budget)."""
        return _content(ex) in self._admitted if self._admitted is not None else self.max_bytes is None

    # ---- token scores ----------------------------------------------------------------------------
    def stores_tokens(self, ex: Example) -> bool:
        """Whether the cache policy keeps ``ex``'s token scores (:meth:`keeps_tokens` with a cache)."""
        return self.cache is not None and self.keeps_tokens(ex)

    def doc_token_scores(self, ex: Example) -> torch.Tensor | None:
        """Document TokenScores [2, L, H, T_doc] (calibrated, raw; float16-rounded) from memory or
        the cache; None when not kept (no forward pass)."""
        if self._memo is not None and self._memo[0] == _content(ex):
            return self._memo[1]
        if self.cache is None:
            return None
        tokens = self.cache.get_tokens(self.token_scores_key(ex), self.token_scores_shape(ex))
        if tokens is not None:
            self._memo = (_content(ex), tokens)
        return tokens

    def cached_token_scores(self, ex: Example) -> torch.Tensor | None:
        """Raw TokenScores (real, null) [2, L, H, T_prefix] from the cache only, zero outside the
        documents (only document tokens are kept); None when absent."""
        tokens = self.doc_token_scores(ex)
        if tokens is None:
            return None
        r, idx = self.retriever, self.doc_tokens(ex)
        pair = torch.zeros(2, r.n_layers, r.n_heads, self.prompt(ex).cont_start)
        pair[0][..., idx] = tokens[1]
        pair[1][..., idx] = tokens[1] - tokens[0]
        return pair

    def _forward(self, ex: Example, opts: ScoringOptions) -> torch.Tensor:
        """One full pass pair: stores DocScores for ``opts`` (and token scores if kept); returns them."""
        self.forwards += 1
        real, null, scored = self.retriever.raw_token_scores(ex.query, ex.docs, ex.qid, CALIBRATED)
        if scored.input_ids != self.prompt(ex).input_ids:
            raise RuntimeError(f"example {ex.qid}: the prompt changed between two builds (a chat "
                               "template rendering time-dependent text?); its scores cannot be keyed")
        real, null = real.cpu(), null.cpu()
        ts = calibrate(real, null if opts.calibrate else None)
        ds = doc_scores_per_head(ts, self.prompt(ex).doc_spans, opts.mask_sigma)
        if self.cache is not None:
            self.cache.put(self.doc_scores_key(ex, opts), ds)
        if self.keeps_tokens(ex):
            idx = self.doc_tokens(ex)
            tokens = self._stored(torch.stack([real[..., idx] - null[..., idx], real[..., idx]]))
            if self.cache is not None:
                self.cache.put_tokens(self.token_scores_key(ex), tokens, self.compress, self.token_dtype)
            self._memo = (_content(ex), tokens)
        return ds

    def _stored(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token scores as the cache holds them: float32 unchanged, or float16-rounded rows."""
        return half_round(tokens) if self.token_dtype == "float16" else tokens.to(torch.float32)

    # ---- document scores -------------------------------------------------------------------------
    def doc_scores(self, ex: Example, opts: ScoringOptions = ScoringOptions()) -> torch.Tensor:
        """DocScores [D, L, H] with the per-head outlier mask (exact float32; cached)."""
        r = self.retriever
        shape = (len(self.prompt(ex).doc_spans), r.n_layers, r.n_heads)
        if self.cache is not None:
            value = self.cache.get(self.doc_scores_key(ex, opts), shape)
            if value is not None:
                self.cache.hits += 1
                return value
            self.cache.misses += 1
        return self._forward(ex, opts)

    def headset_scores(self, ex: Example, heads: HeadSet | None,
                       opts: ScoringOptions = ScoringOptions()) -> torch.Tensor:
        """R(d) [D] for a head set (None = every head, i.e. ICR)."""
        if opts.aggregation == "per_head":
            ds = self.doc_scores(ex, opts)
            if heads is None:
                return ds.sum((1, 2))
            pairs = list(heads.heads)
            return ds[:, [l for l, _ in pairs], [h for _, h in pairs]].sum(1)
        r = self.retriever
        hs = as_headset(heads, r.n_layers, r.n_heads)
        order = sorted(hs.heads)
        tokens = self.doc_token_scores(ex)
        if tokens is None and self.keeps_tokens(ex):
            self._forward(ex, opts)
            tokens = self._memo[1]
        if tokens is not None:
            rows = tokens[0 if opts.calibrate else 1][[l for l, _ in order], [h for _, h in order]]
        else:                                            # not kept: a pass over the head subset
            self.forwards += 1
            real, null, _ = r.headset_rows(ex.query, ex.docs, hs, ex.qid, opts)
            idx = self.doc_tokens(ex)
            rows = self._stored(calibrate(real.cpu()[:, idx], None if null is None else null.cpu()[:, idx]))
        return span_scores(rows.sum(0), _compact(self.prompt(ex).doc_spans), opts.mask_sigma)

    def iter_doc_scores(self, examples: Iterable[Example], opts: ScoringOptions = ScoringOptions(),
                        progress: bool = True, desc: str = "scoring") -> Iterator[torch.Tensor]:
        examples = list(examples)
        for ex in tqdm(examples, desc=desc, disable=not progress):
            yield self.doc_scores(ex, opts)

    def rank(self, examples: Sequence[Example], heads: HeadSet | None,
             opts: ScoringOptions = ScoringOptions(), progress: bool = True,
             desc: str = "ranking") -> Run:
        """Run {qid: {doc_id: score}} for a head set (the one re-ranking loop, qrexp.engine.rerank)."""
        return rerank(examples, lambda ex: self.headset_scores(ex, heads, opts), desc, progress)


def _content(ex: Example) -> tuple:
    """What a prompt is built from: qid, query and the documents (ids, titles, texts) in order."""
    return ex.qid, ex.query, tuple((d.doc_id, d.title, d.text) for d in ex.docs)


def _compact(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Document spans re-based onto the concatenated document tokens (:meth:`ExampleScorer.doc_tokens`)."""
    out, at = [], 0
    for s, e in spans:
        out.append((at, at + e - s))
        at += e - s
    return out
