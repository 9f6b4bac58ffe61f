"""Head sets: every head, the top-k of a HeadScores [L, H] tensor, masks, and overlap /
rank-correlation between head choices. Where a configured head set comes from (random, published,
detected, ...) is qrexp.heads.sources.

A HeadSet keeps its heads in order (a detected set is best-first), so ``top(k)`` is meaningful.
Ranking ties are broken by (layer, head) ascending, so every ranking here is deterministic.
"""
from __future__ import annotations

import numpy as np
import torch

from qrexp.types import Head, HeadSet, rank_by_score


def full(n_layers: int, n_heads: int) -> HeadSet:
    """Every head, layer-major (the ICR setting): :meth:`qrexp.types.HeadSet.full`."""
    return HeadSet.full(n_layers, n_heads)


def rank_heads(scores: torch.Tensor) -> list[tuple[Head, float]]:
    """HeadScores [L, H] -> [((layer, head), score), ...] best first; ties by (layer, head) ascending."""
    if scores.dim() != 2:
        raise ValueError(f"head scores must be [L, H], got shape {tuple(scores.shape)}")
    flat = scores.detach().to(torch.float64).flatten()
    bad = torch.nonzero(torch.isnan(flat)).flatten()
    if len(bad):
        l, h = divmod(int(bad[0]), scores.shape[1])
        raise ValueError(f"head scores contain NaN (first at head {l}-{h})")
    by_head = {divmod(i, scores.shape[1]): float(v) for i, v in enumerate(scores.detach().flatten().tolist())}
    return [(head, by_head[head]) for head in rank_by_score(by_head, "head scores", "head")]


def top_k(scores: torch.Tensor, k: int, name: str | None = None) -> HeadSet:
    """The k best heads of a HeadScores [L, H] tensor, best first."""
    n_layers, n_heads = scores.shape
    if not 1 <= k <= n_layers * n_heads:
        raise ValueError(f"top_k: k={k} must be in [1, {n_layers * n_heads}]")
    heads = tuple(h for h, _ in rank_heads(scores)[:k])
    return HeadSet(name or f"top{k}", heads, n_layers, n_heads)


def head_mask(headset: HeadSet, n_layers: int, n_heads: int) -> torch.Tensor:
    """BoolTensor [L, H], True at the heads of ``headset``."""
    mask = torch.zeros(n_layers, n_heads, dtype=torch.bool)
    for l, h in headset:
        if l >= n_layers or h >= n_heads:
            raise ValueError(f"head set {headset.name!r}: head {l}-{h} outside a "
                             f"{n_layers}x{n_heads} model")
        mask[l, h] = True
    return mask


def layers_needed(headset: HeadSet) -> int:
    """How many layers a forward pass must run to see every head: last layer + 1."""
    return max(l for l, _ in headset) + 1


def overlap(a: HeadSet, b: HeadSet, k: int | None = None) -> int:
    """|top-k(a) ∩ top-k(b)| (k=None: whole sets)."""
    ha = set(a.heads if k is None else a.heads[:k])
    hb = set(b.heads if k is None else b.heads[:k])
    return len(ha & hb)


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two HeadScores [L, H] tensors (ties averaged; scipy.stats.spearmanr).

    Returns NaN when either tensor is constant (the correlation is undefined). Raises ValueError for
    different shapes or NaN scores (e.g. heads a paper-format file does not list).
    """
    import warnings

    from scipy.stats import spearmanr
    if a.shape != b.shape:
        raise ValueError(f"spearman: shapes differ {tuple(a.shape)} vs {tuple(b.shape)}")
    xa, xb = a.detach().double().flatten().numpy(), b.detach().double().flatten().numpy()
    if np.isnan(xa).any() or np.isnan(xb).any():
        raise ValueError("spearman: head scores contain NaN (e.g. heads missing from a paper-format file)")
    if np.ptp(xa) == 0 or np.ptp(xb) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(xa, xb).statistic)
