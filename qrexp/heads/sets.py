"""Head sets: "layer-head" strings <-> HeadSet, the head sources (full, random, published, detected,
top-k of a HeadScores[L, H] tensor), masks, and overlap / rank-correlation between head choices.

A HeadSet keeps its heads in order (a detected set is best-first), so ``top(k)`` is meaningful.
Ranking ties are broken by (layer, head) ascending, so every ranking here is deterministic.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

import numpy as np
import torch

from qrexp.io.jsonio import read_text
from qrexp.types import Head, HeadSet, parse_head, rank_by_score

PUBLISHED_DIR = Path(__file__).resolve().parents[2] / "results" / "heads" / "published"


def full(n_layers: int, n_heads: int) -> HeadSet:
    """Every head, layer-major (the ICR setting): :meth:`qrexp.types.HeadSet.full`."""
    return HeadSet.full(n_layers, n_heads)


def random(k: int, seed: int, n_layers: int, n_heads: int) -> HeadSet:
    """k distinct heads drawn uniformly with a seeded torch generator, sorted by (layer, head)."""
    total = n_layers * n_heads
    if not 1 <= k <= total:
        raise ValueError(f"random head set: k={k} must be in [1, {total}] for {n_layers}x{n_heads} heads")
    gen = torch.Generator().manual_seed(int(seed))
    flat = sorted(torch.randperm(total, generator=gen)[:k].tolist())
    return HeadSet(f"random-k{k}-s{seed}", tuple(divmod(i, n_heads) for i in flat), n_layers, n_heads)


def published_sets(root: str | Path | None = None) -> list[tuple[str, str]]:
    """(model_key, task) pairs available under ``root`` (default results/heads/published)."""
    folder = Path(root) if root is not None else PUBLISHED_DIR
    return sorted(tuple(p.stem.split("_", 1)) for p in folder.glob("*_*.json"))


def published(model_key: str, task: str, root: str | Path | None = None) -> HeadSet:
    """A head set shipped with the paper, read from ``<root>/<model_key>_<task>.json``."""
    folder = Path(root) if root is not None else PUBLISHED_DIR
    path = folder / f"{model_key}_{task}.json"
    if not path.is_file():
        known = [f"{m}_{t}" for m, t in published_sets(folder)]
        close = difflib.get_close_matches(f"{model_key}_{task}", known, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no published head set {model_key}/{task} in {folder}{hint} "
                       f"(known: {', '.join(known) or 'none'})")
    try:
        rec = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    for field in ("heads", "n_layers", "n_heads"):
        if field not in rec:
            raise ValueError(f"{path}: missing field {field!r}")
    if not isinstance(rec["heads"], list):
        raise ValueError(f"{path}: field 'heads' must be a list of 'layer-head' strings")
    where = f"{path} field 'heads'"
    heads = tuple(parse_head(t, where) for t in rec["heads"])
    try:
        return HeadSet(f"{model_key}-{task}", heads, rec["n_layers"], rec["n_heads"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def detected(path: str | Path, k: int | None = None) -> HeadSet:
    """The top-k heads of a detection file (either format of qrexp.heads.objectives); k=None uses the file's k."""
    from qrexp.heads.objectives import read_detection, read_detection_k  # detect imports this module

    ranked, scores = read_detection(path)
    k = k if k is not None else (read_detection_k(path) or len(ranked))
    if not 1 <= k <= len(ranked):
        raise ValueError(f"{path}: k={k} must be in [1, {len(ranked)}]")
    n_layers, n_heads = scores.shape
    return HeadSet(f"{Path(path).name.split('.')[0]}-top{k}", tuple(h for h, _ in ranked[:k]),
                   n_layers, n_heads)


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
