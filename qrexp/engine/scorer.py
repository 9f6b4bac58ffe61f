"""Per-example scoring shared by head detection and retrieval evaluation, cached on disk.

One forward pair per example (real and null query sharing the document prefix) gives the raw
TokenScores [L, H, T_prefix] of both; from them the scorer keeps (:mod:`qrexp.engine.score_cache`):

- DocScores [D, L, H] float32 for the call's (calibrate, mask sigma), always: detection with any
  objective and k, and per-head aggregation with any head set, read only these (exact).
- document TokenScores [2, L, H, T_doc] (calibrated c, raw s), only for examples the budget plan
  admits (:meth:`ExampleScorer.plan_for`, :mod:`qrexp.engine.cache_plan`) and only when the
  aggregation reads them (``paper``: heads summed, then masked). float32 by default (equal to the
  reference); with ``token_dtype="float16"`` the paper aggregation always scores from float16-rounded
  rows (:func:`half_round`, relative rounding <= 2^-11), cached or fresh, so its numbers do not
  depend on the budget or on what was cached before.

Options travel per call (:class:`ScoringOptions`). Keys: the prompt token ids actually scored and
the loaded model's weights fingerprint (:mod:`qrexp.engine.score_keys`).

``batch_size`` > 1: :meth:`ExampleScorer.prefetch` runs up to that many uncached examples per
left-padded forward (:mod:`qrexp.engine.batched`; exact against batch 1 to 1e-5: no part of any key).
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Iterable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from qrexp.engine.cache_records import half_round
from qrexp.engine.rerank import rerank
from qrexp.engine.retriever import QRRetriever, as_headset
from qrexp.engine.score_cache import ScoreCache
from qrexp.engine.score_keys import ExampleKeys, compact_spans, content_key
from qrexp.engine.scoring import ScoringOptions, calibrate, doc_scores_per_head, span_scores
from qrexp.types import Example, HeadSet, Run

CALIBRATED = ScoringOptions(calibrate=True)      # token passes always include the null query


class ExampleScorer(ExampleKeys):
    """Cached per-example scores for one retriever (model + prompt settings).

    ``max_bytes``: disk budget of one data set's records (None: unbounded); token scores are kept
    for the examples the last :meth:`plan_for` admits (no plan: all if unbounded, else none).
    ``compress``: zlib over token records (-9 to -16%, ~13 MB/s of CPU; off by default).
    ``token_dtype``: "float32" (exact, default) or "float16" (half the disk; in the token key).
    ``batch_size``: examples per forward in :meth:`rank` / :meth:`iter_doc_scores` (exact).
    ``forwards`` counts pass pairs run (real + null = one, per example)."""

    def __init__(self, retriever: QRRetriever, cache: ScoreCache | None = None,
                 max_bytes: int | None = None, compress: bool = False,
                 token_dtype: str = "float32", batch_size: int = 1) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"ExampleScorer: batch_size must be an int >= 1, got {batch_size!r}")
        super().__init__(retriever, cache, max_bytes, token_dtype)
        self.compress = compress
        self.batch_size = batch_size
        self._memo: dict[tuple, torch.Tensor] = {}    # token scores of the last batch (or example)
        self._ready: dict[tuple, torch.Tensor] = {}   # DocScores / head-set rows a prefetch filled
        self.forwards = 0

    # ---- token scores ----------------------------------------------------------------------------
    def _remember(self, ex: Example, tokens: torch.Tensor) -> None:
        self._memo[content_key(ex)] = tokens
        while len(self._memo) > self.batch_size:
            self._memo.pop(next(iter(self._memo)))

    def doc_token_scores(self, ex: Example) -> torch.Tensor | None:
        """Document TokenScores [2, L, H, T_doc] (calibrated, raw; float16-rounded) from memory or
        the cache; None when not kept (no forward pass)."""
        if content_key(ex) in self._memo:
            return self._memo[content_key(ex)]
        if self.cache is None:
            return None
        tokens = self.cache.get_tokens(self.token_scores_key(ex), self.token_scores_shape(ex))
        if tokens is not None:
            self._remember(ex, tokens)
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

    def _check_prompt(self, ex: Example, scored) -> None:
        if scored.input_ids != self.prompt(ex).input_ids:
            raise RuntimeError(f"example {ex.qid}: the prompt changed between two builds (a chat "
                               "template rendering time-dependent text?); its scores cannot be keyed")

    def _keep(self, ex: Example, opts: ScoringOptions, real: torch.Tensor, null: torch.Tensor,
              scored) -> torch.Tensor:
        """Store DocScores for ``opts`` (and token scores if kept) from one full pass pair's raw
        TokenScores [L, H, T_prefix]; returns the DocScores [D, L, H]."""
        self.forwards += 1
        self._check_prompt(ex, scored)
        real, null = real.cpu(), null.cpu()
        ds = doc_scores_per_head(calibrate(real, null if opts.calibrate else None),
                                 self.prompt(ex).doc_spans, opts.mask_sigma)
        if self.cache is not None:
            self.cache.put(self.doc_scores_key(ex, opts), ds)
        if self.keeps_tokens(ex):
            idx = self.doc_tokens(ex)
            tokens = self._stored(torch.stack([real[..., idx] - null[..., idx], real[..., idx]]))
            if self.cache is not None:
                self.cache.put_tokens(self.token_scores_key(ex), tokens, self.compress, self.token_dtype)
            self._remember(ex, tokens)
        return ds

    def _forward(self, ex: Example, opts: ScoringOptions) -> torch.Tensor:
        """One full pass pair: stores DocScores for ``opts`` (and token scores if kept); returns them."""
        return self._keep(ex, opts, *self.retriever.raw_token_scores(ex.query, ex.docs, ex.qid, CALIBRATED))

    def _stored(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token scores as the cache holds them: float32 unchanged, or float16-rounded rows."""
        return half_round(tokens) if self.token_dtype == "float16" else tokens.to(torch.float32)

    def _subset_rows(self, ex: Example, real: torch.Tensor, null: torch.Tensor | None) -> torch.Tensor:
        """Calibrated document-token rows [K, T_doc] of a head-subset pass (rounded as stored)."""
        idx = self.doc_tokens(ex)
        return self._stored(calibrate(real.cpu()[:, idx], None if null is None else null.cpu()[:, idx]))

    # ---- batches ---------------------------------------------------------------------------------
    def prefetch(self, examples: Sequence[Example], opts: ScoringOptions, heads: HeadSet | None = None,
                 doc_scores_only: bool = False) -> None:
        """Run the passes that reading ``examples`` with :meth:`headset_scores` (``heads``, ``opts``)
        or, with ``doc_scores_only``, :meth:`doc_scores` would run one by one, as batched forwards of
        ``batch_size`` examples: full passes (DocScores, token scores where kept) for what the cache
        lacks, head-subset passes for the paper aggregation of examples whose token scores are not
        kept. The results are held for the next reads of these examples (cache entries are written
        as batch 1 writes them). Cached examples cost no pass; each content is computed once."""
        self._ready.clear()
        full, subset, seen = [], [], set()
        for ex in examples:
            key = content_key(ex)
            if key in seen:
                continue
            seen.add(key)
            if opts.aggregation == "per_head" or doc_scores_only:
                value = self._cached_doc_scores(ex, opts)
                if value is None:
                    full.append(ex)
                else:
                    self._ready[(key, opts)] = value
            elif self.doc_token_scores(ex) is None:
                (full if self.keeps_tokens(ex) else subset).append(ex)
        r = self.retriever
        with ExitStack() as held:       # examples another process is computing are read later
            full = [ex for ex in self.try_claims(full, held) if not self._found(ex, opts, doc_scores_only)]
            for start in range(0, len(full), self.batch_size):
                part = full[start:start + self.batch_size]
                for ex, out in zip(part, r.raw_token_scores_batch(part, CALIBRATED)):
                    self._ready[(content_key(ex), opts)] = self._keep(ex, opts, *out)
        hs = as_headset(heads, r.n_layers, r.n_heads)
        for start in range(0, len(subset), self.batch_size):
            part = subset[start:start + self.batch_size]
            for ex, (real, null, scored) in zip(part, r.headset_rows_batch(part, hs, opts)):
                self.forwards += 1
                self._check_prompt(ex, scored)
                self._ready[(content_key(ex), opts, hs.heads)] = self._subset_rows(ex, real, null)

    def _found(self, ex: Example, opts: ScoringOptions, doc_scores_only: bool) -> bool:
        """Whether what a prefetch computes for ``ex`` was stored meanwhile (by another process);
        found DocScores are held for the next read."""
        if self.cache is None:
            return False
        if opts.aggregation == "per_head" or doc_scores_only:
            value = self.cache.get(self.doc_scores_key(ex, opts), self.doc_scores_shape(ex))
            if value is not None:
                self._ready[(content_key(ex), opts)] = value
            return value is not None
        return self.doc_token_scores(ex) is not None

    def _cached_doc_scores(self, ex: Example, opts: ScoringOptions) -> torch.Tensor | None:
        """DocScores held by a prefetch, else read from the cache (counted as a hit or a miss);
        None when absent."""
        ready = self._ready.pop((content_key(ex), opts), None)
        if ready is not None or self.cache is None:
            return ready
        value = self.cache.get(self.doc_scores_key(ex, opts), self.doc_scores_shape(ex))
        self.cache.hits, self.cache.misses = (self.cache.hits + (value is not None),
                                              self.cache.misses + (value is None))
        return value

    def _batches(self, examples: list[Example], i: int, opts: ScoringOptions, heads: HeadSet | None,
                 doc_scores_only: bool = False) -> None:
        """Prefetch the batch that starts at example ``i`` (batch_size > 1 only)."""
        if self.batch_size > 1 and i % self.batch_size == 0:
            self.prefetch(examples[i:i + self.batch_size], opts, heads, doc_scores_only)

    # ---- document scores -------------------------------------------------------------------------
    def doc_scores(self, ex: Example, opts: ScoringOptions = ScoringOptions()) -> torch.Tensor:
        """DocScores [D, L, H] with the per-head outlier mask (exact float32; cached)."""
        value = self._cached_doc_scores(ex, opts)
        if value is not None:
            return value
        with self.claim(ex):                 # another process computing it: wait, then read it
            value = None if self.cache is None else self.cache.get(self.doc_scores_key(ex, opts),
                                                                   self.doc_scores_shape(ex))
            return self._forward(ex, opts) if value is None else value

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
            with self.claim(ex):             # another process computing it: wait, then read it
                tokens = self.doc_token_scores(ex)
                if tokens is None:
                    self._forward(ex, opts)
                    tokens = self._memo[content_key(ex)]
        if tokens is not None:
            rows = tokens[0 if opts.calibrate else 1][[l for l, _ in order], [h for _, h in order]]
        else:                                            # not kept: a pass over the head subset
            rows = self._ready.pop((content_key(ex), opts, hs.heads), None)
            if rows is None:
                self.forwards += 1
                real, null, _ = r.headset_rows(ex.query, ex.docs, hs, ex.qid, opts)
                rows = self._subset_rows(ex, real, null)
        return span_scores(rows.sum(0), compact_spans(self.prompt(ex).doc_spans), opts.mask_sigma)

    def iter_doc_scores(self, examples: Iterable[Example], opts: ScoringOptions = ScoringOptions(),
                        progress: bool = True, desc: str = "scoring") -> Iterator[torch.Tensor]:
        """DocScores [D, L, H] of each example in order (cached, or ``batch_size`` per forward)."""
        examples = list(examples)
        for i, ex in enumerate(tqdm(examples, desc=desc, disable=not progress)):
            self._batches(examples, i, opts, None, doc_scores_only=True)
            yield self.doc_scores(ex, opts)

    def rank(self, examples: Sequence[Example], heads: HeadSet | None,
             opts: ScoringOptions = ScoringOptions(), progress: bool = True,
             desc: str = "ranking") -> Run:
        """Run {qid: {doc_id: score}} for a head set (the one re-ranking loop, qrexp.engine.rerank)."""
        examples = list(examples)
        at = iter(range(len(examples)))

        def score(ex: Example) -> torch.Tensor:
            self._batches(examples, next(at), opts, heads)
            return self.headset_scores(ex, heads, opts)
        return rerank(examples, score, desc, progress)
