"""Score-cache sizes and the budget policy: what is stored for a data set, before any forward pass.

Per example the cache holds (record layout: :mod:`qrexp.engine.score_cache`):

- DocScores [D, L, H] float32, always: ``512 + 4*D*L*H`` bytes. Exact input of every detection
  objective, any k, any head source and per-head aggregation, so those ablations cost no forward
  pass.
- Document TokenScores [2, L, H, T_doc] float16 + row scales, only when the chosen aggregation
  reads token scores (``aggregation=paper``: heads summed before the outlier mask) and only while
  the data set stays under the byte budget: ``512 + 8*L*H + 4*L*H*T_doc`` bytes (exact; with
  ``cache.compress`` zlib shrinks it by 9-16% and the estimate is an upper bound, so the budget holds).

Examples are admitted in data-set order: the first n whose token scores fit under the budget keep
them; the rest re-run a forward pass for every head set scored on them with ``aggregation=paper``
(:meth:`CachePlan.describe` says so before the run).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from qrexp.engine.cache_records import HEADER_BYTES

GB = 1e9


def doc_scores_bytes(n_docs: int, n_layers: int, n_heads: int) -> int:
    """Bytes of one DocScores record [D, L, H] float32 (header included; stored uncompressed)."""
    return HEADER_BYTES + 4 * n_docs * n_layers * n_heads


def token_scores_bytes(doc_tokens: int, n_layers: int, n_heads: int) -> int:
    """Upper bound in bytes of one document-TokenScores record [2, L, H, T_doc]: float16 values,
    float32 row scales [2, L, H], header; before zlib compression."""
    return HEADER_BYTES + 2 * n_layers * n_heads * 4 + 2 * n_layers * n_heads * doc_tokens * 2


def estimate_cache_bytes(n_layers: int, n_heads: int, n_docs: Sequence[int] | int,
                         doc_tokens: Sequence[int] | int | None = None, *,
                         n_examples: int | None = None, token_scores: bool = False) -> int:
    """Bytes a data set adds to the score cache (what :class:`qrexp.engine.scorer.ExampleScorer`
    writes for one scoring setting), without budget.

    Args:
        n_layers, n_heads: the model's L and H (query heads).
        n_docs: candidates per example, one int per example, or one int for all (then ``n_examples``).
        doc_tokens: document tokens per example (sum of the documents' token spans in the prompt),
            one per example or one for all; needed only when ``token_scores``.
        n_examples: the number of examples when ``n_docs`` / ``doc_tokens`` are single ints.
        token_scores: whether document TokenScores are stored too (``aggregation=paper``).
    Returns:
        bytes (int); token scores counted uncompressed, so this is an upper bound when they are in.
    Raises:
        ValueError: per-example lists of different lengths, or a missing ``n_examples`` / ``doc_tokens``.

    Example (Table 2 scale: Llama-3.1-8B, 512 BEIR queries x 200 candidates):
    ``estimate_cache_bytes(32, 32, 200, n_examples=512)`` = 419,692,544 bytes (DocScores only).
    """
    docs = _per_example(n_docs, n_examples, "n_docs")
    total = sum(doc_scores_bytes(d, n_layers, n_heads) for d in docs)
    if token_scores:
        if doc_tokens is None:
            raise ValueError("estimate_cache_bytes: token_scores=True needs doc_tokens")
        toks = _per_example(doc_tokens, len(docs), "doc_tokens")
        total += sum(token_scores_bytes(t, n_layers, n_heads) for t in toks)
    return total


def _per_example(value: Sequence[int] | int, n: int | None, name: str) -> list[int]:
    if isinstance(value, int):
        if n is None:
            raise ValueError(f"estimate_cache_bytes: {name} is one int; give n_examples too")
        return [value] * n
    values = [int(v) for v in value]
    if n is not None and len(values) != n:
        raise ValueError(f"estimate_cache_bytes: {name} has {len(values)} entries for {n} examples")
    return values


@dataclass(frozen=True)
class CachePlan:
    """What one data set stores in the score cache and what it recomputes (fixed before the run).

    ``token_examples``: how many examples (the first ones, in data-set order) keep document token
    scores; ``tokens_needed``: whether the aggregation reads them at all."""
    n_examples: int
    n_layers: int
    n_heads: int
    max_bytes: int | None
    tokens_needed: bool
    doc_scores_bytes: int
    token_examples: int
    token_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.doc_scores_bytes + self.token_bytes

    @property
    def recomputed(self) -> int:
        """Examples that re-run a forward pass per head set (aggregation=paper only)."""
        return self.n_examples - self.token_examples if self.tokens_needed else 0

    def to_dict(self) -> dict:
        """The policy as recorded in a run folder (JSON-ready)."""
        return {**asdict(self), "total_bytes": self.total_bytes, "recomputed_examples": self.recomputed,
                "recompute": self.recompute_note()}

    def recompute_note(self) -> str:
        """One line saying exactly what will be recomputed (or that nothing will)."""
        if self.recomputed == 0:
            return ("nothing: every head set, k, objective and head source is scored from the cache; "
                    "another calibrate / mask_sigma setting re-runs one forward pass per example")
        first = self.token_examples + 1
        return (f"examples {first}-{self.n_examples} of {self.n_examples} keep no token scores "
                f"(cache.max_gb): every head set scored on them with aggregation=paper re-runs one "
                f"forward pass per example (early exit at its deepest layer), i.e. "
                f"{self.recomputed} passes per method; per_head aggregation and detection stay free")

    def describe(self) -> str:
        """The pre-run printout: sizes (GB from 1e9 bytes, else MB), the budget, what is recomputed."""
        budget = "no budget" if self.max_bytes is None else f"budget {_size(self.max_bytes)}"
        tokens = (f"token scores for {self.token_examples}/{self.n_examples} examples "
                  f"{_size(self.token_bytes)}" if self.tokens_needed
                  else "no token scores (the aggregation does not read them)")
        return (f"score cache: {self.n_examples} examples, L={self.n_layers} H={self.n_heads}: "
                f"DocScores {_size(self.doc_scores_bytes)} + {tokens} = "
                f"{_size(self.total_bytes)} ({budget}). Recomputed: {self.recompute_note()}")


def _size(n: int) -> str:
    return f"{n / GB:.3f} GB" if n >= GB else f"{n / 1e6:.2f} MB"


def plan_cache(n_layers: int, n_heads: int, n_docs: Sequence[int], doc_tokens: Sequence[int], *,
               tokens_needed: bool, max_bytes: int | None) -> CachePlan:
    """The cache policy for one data set (one entry per example in ``n_docs`` / ``doc_tokens``).

    DocScores are always stored; token scores (when ``tokens_needed``) for the first examples whose
    running total stays <= ``max_bytes`` (None: no budget).
    Raises ValueError when the DocScores alone exceed ``max_bytes`` (naming the size needed)."""
    if len(n_docs) != len(doc_tokens):
        raise ValueError(f"plan_cache: {len(n_docs)} doc counts for {len(doc_tokens)} token counts")
    ds = estimate_cache_bytes(n_layers, n_heads, list(n_docs))
    if max_bytes is not None and ds > max_bytes:
        raise ValueError(f"cache.max_gb={max_bytes / GB:g}: the DocScores of {len(n_docs)} examples "
                         f"alone need {ds / GB:.3f} GB; raise cache.max_gb to at least {ds / GB:.3f}")
    admitted, tok = 0, 0
    if tokens_needed:
        for t in doc_tokens:
            size = token_scores_bytes(t, n_layers, n_heads)
            if max_bytes is not None and ds + tok + size > max_bytes:
                break
            admitted, tok = admitted + 1, tok + size
    return CachePlan(len(n_docs), n_layers, n_heads, max_bytes, tokens_needed, ds, admitted, tok)
