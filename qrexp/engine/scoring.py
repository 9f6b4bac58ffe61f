"""From calibrated token scores to document scores (paper section 1, steps 2-4).

TokenScores [L, H, T] -> DocScores [D, L, H]: per head, inside each document span, tokens whose score
is not above ``mean - sigma * std`` of that span are dropped (outlier mask), the rest are summed.
Head-set scoring as the paper code does it: the selected heads' token scores are summed first and the
mask is applied to the summed scores (a different result from summing per-head DocScores).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from qrexp.types import Head

AGGREGATIONS = ("paper", "per_head")


@dataclass(frozen=True)
class ScoringOptions:
    """How token scores become document scores, passed with every scoring call (never stored on
    the retriever). All three are cheap to vary once token scores are cached.

    calibrate: subtract the null query's token scores (paper section 1, step 2).
    mask_sigma: drop tokens not above mean - sigma*std of their span; None: no mask (step 3).
    aggregation: "paper" sums the heads' token scores, then masks (the paper code's score_docs);
    "per_head" sums the heads' per-head-masked DocScores.
    Raises ValueError on a non-bool calibrate, non-number sigma or unknown aggregation.
    """
    calibrate: bool = True
    mask_sigma: float | None = 2.0
    aggregation: str = "paper"

    def __post_init__(self) -> None:
        if not isinstance(self.calibrate, bool):          # "no" is truthy: never calibrate by accident
            raise ValueError(f"calibrate must be True or False, got {self.calibrate!r}")
        if self.mask_sigma is not None and (isinstance(self.mask_sigma, bool)
                                            or not isinstance(self.mask_sigma, (int, float))):
            raise ValueError(f"mask_sigma must be a number or None, got {self.mask_sigma!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")


def calibrate(real: torch.Tensor, null: torch.Tensor | None) -> torch.Tensor:
    """s - s0 on the shared prefix; both [..., T_prefix] (None: uncalibrated)."""
    return real if null is None else real - null


def masked_span_sum(x: torch.Tensor, sigma: float | None) -> torch.Tensor:
    """Sum over the last dim of ``x`` [..., n] keeping entries > mean - sigma*std (unbiased std).

    sigma None disables the mask. A one-token span keeps its token (its std is undefined).
    """
    if sigma is None or x.shape[-1] < 2:
        return x.sum(-1)
    threshold = x.mean(-1, keepdim=True) - sigma * x.std(-1, keepdim=True)
    return torch.where(x > threshold, x, torch.zeros_like(x)).sum(-1)


def doc_scores_per_head(token_scores: torch.Tensor, doc_spans: Sequence[tuple[int, int]],
                        sigma: float | None = 2.0) -> torch.Tensor:
    """TokenScores [L, H, T] -> DocScores [D, L, H] with the per-head outlier mask."""
    return torch.stack([masked_span_sum(token_scores[..., s:e], sigma) for s, e in doc_spans])


def headset_token_scores(token_scores: torch.Tensor, heads: Sequence[Head] | None) -> torch.Tensor:
    """Sum the selected heads' token scores: [L, H, T] -> [T] (None: all heads, i.e. ICR)."""
    if heads is None:
        return token_scores.sum((0, 1))
    layers = torch.tensor([h[0] for h in heads])
    idx = torch.tensor([h[1] for h in heads])
    return token_scores[layers, idx].sum(0)


def span_scores(summed: torch.Tensor, doc_spans: Sequence[tuple[int, int]],
                sigma: float | None = 2.0) -> torch.Tensor:
    """Head-summed token scores [T] -> document scores [D] (outlier mask inside each span)."""
    return torch.stack([masked_span_sum(summed[s:e], sigma) for s, e in doc_spans])


def headset_doc_scores(token_scores: torch.Tensor, heads: Sequence[Head] | None,
                       doc_spans: Sequence[tuple[int, int]], sigma: float | None = 2.0) -> torch.Tensor:
    """Paper-code retrieval scores R(d) [D]: sum heads first, then mask and sum each doc span."""
    return span_scores(headset_token_scores(token_scores, heads), doc_spans, sigma)
