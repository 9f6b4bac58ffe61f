"""Head sets: "layer-head" strings <-> HeadSet, the head sources (full, random, published, detected,
top-k of a HeadScores[L, H] tensor) and masks. Overlap / rank correlation: qrexp.heads.compare.

A HeadSet keeps its heads in order (a detected set is best-first), so ``top(k)`` is meaningful.
Ranking ties are broken by (layer, head) ascending, so every ranking here is deterministic.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Iterable

import torch

from qrexp.heads.files import read_detection, read_detection_k
from qrexp.heads.objectives import rank_heads
from qrexp.io.jsonio import read_text
from qrexp.io.package_data import package_data
from qrexp.types import Head, HeadSet, parse_head

PUBLISHED_DIR = package_data("published_heads")   # results/heads/published/, shipped in the package


def random(k: int, seed: int, n_layers: int, n_heads: int, exclude: Iterable[Head] = ()) -> HeadSet:
    """k distinct heads drawn uniformly (seeded torch generator, one randperm over the layer-major
    pool) from those not in ``exclude``, sorted by (layer, head). ValueError unless 1 <= k <= pool."""
    banned = {(int(l), int(h)) for l, h in exclude}
    pool = [(l, h) for l in range(n_layers) for h in range(n_heads) if (l, h) not in banned]
    if not 1 <= k <= len(pool):
        raise ValueError(f"random head set: k={k} must be in [1, {len(pool)}] for {n_layers}x{n_heads} heads"
                         f"{f' ({len(banned)} excluded)' if banned else ''}")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(int(seed)))
    return HeadSet(f"random-k{k}-s{seed}", tuple(sorted(pool[i] for i in order[:k].tolist())),
                   n_layers, n_heads)


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
    """The top-k heads of a detection file (either format of qrexp.heads.files); k=None uses the file's k."""
    ranked, scores = read_detection(path)
    k = k if k is not None else (read_detection_k(path) or len(ranked))
    if not 1 <= k <= len(ranked):
        raise ValueError(f"{path}: k={k} must be in [1, {len(ranked)}]")
    n_layers, n_heads = scores.shape
    return HeadSet(f"{Path(path).name.split('.')[0]}-top{k}", tuple(h for h, _ in ranked[:k]),
                   n_layers, n_heads)


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
