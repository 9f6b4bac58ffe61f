"""Compare head sets (paper Table 6): pairwise top-k overlap and Spearman correlation of head scores.

Reads every head file qrexp knows, alike: detection runs (ours, ``heads.json`` with an L x H score
grid, QRscore or NIAH copy score), the paper code's format (``[["layer-head", score], ...]``) and the
paper's published lists (``results/heads/published/<model>_<task>.json``: top heads, no scores).
Each file is labelled by its model, detection data and objective. Spearman (scipy) needs full
score grids on both sides; the overlap is taken at k = min(--k, heads listed by either file).

    python -m qrexp.heads.compare results/heads/detected/*.json results/heads/published/*.json --k 16
"""
from __future__ import annotations

import argparse
import json
import math
import warnings
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from typing import Sequence

import numpy as np
import torch

from qrexp.heads.files import read_detection
from qrexp.types import Head, HeadSet, parse_head


def overlap(a: HeadSet | Sequence[Head], b: HeadSet | Sequence[Head], k: int | None = None) -> int:
    """|top-k(a) ∩ top-k(b)|: heads among the first ``k`` of both (k=None: whole sets); ``a`` and
    ``b`` are HeadSets or (layer, head) sequences, best first (paper Table 6's overlap)."""
    ha, hb = (set(tuple(x)[:k]) for x in (a, b))
    return len(ha & hb)


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two HeadScores [L, H] tensors (ties averaged; scipy.stats.spearmanr).

    Returns NaN when either tensor is constant (the correlation is undefined). Raises ValueError for
    different shapes or NaN scores (e.g. heads a paper-format file does not list).
    """
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


@dataclass(frozen=True)
class HeadFile:
    """One head file: ``ranked`` heads best first, ``scores`` [L, H] (None without a full grid)."""
    path: str
    label: str                          # "model | detection data | objective (kind)"
    ranked: tuple[Head, ...]
    scores: torch.Tensor | None
    shape: tuple[int, int] | None       # (n_layers, n_heads) when the file says


def _ours_label(data: dict, path: Path) -> str:
    prov = data.get("provenance") or {}
    detect = prov.get("detect") or {}
    source = "niah" if data.get("objective") == "niah" else detect.get("name") or prov.get("run_id") or path.stem
    return f"{data.get('model', '?')} | {source} | {data.get('objective', '?')} (detected)"


def load_head_file(path: str | Path) -> HeadFile:
    """Read a detection (ours or paper format) or published head file; raises ValueError naming the
    file and field when it is none of them."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read a head file ({e})") from None
    if isinstance(data, dict) and "scores" not in data:                       # a published list
        for field in ("heads", "n_layers", "n_heads"):
            if field not in data:
                raise ValueError(f"{path}: neither a detection file (no 'scores') nor a published "
                                 f"head list (no {field!r})")
        ranked = tuple(parse_head(h, f"{path} heads[{i}]") for i, h in enumerate(data["heads"]))
        label = (f"{data.get('model_key') or data.get('model', '?')} | {data.get('task', '?')} | "
                 f"{data.get('objective_per_reference_code', data.get('objective', '?'))} (published)")
        return HeadFile(str(path), label, ranked, None, (int(data["n_layers"]), int(data["n_heads"])))
    ranked, scores = read_detection(path)
    heads = tuple(h for h, _ in ranked)
    full = not torch.isnan(scores).any()
    if isinstance(data, dict):
        label = _ours_label(data, path)
    else:                                           # paper format: labels from ours next to it, if any
        sibling = path.with_name(path.name.replace(".paper.json", ".json"))
        label = (_ours_label(json.loads(sibling.read_text(encoding="utf-8")), sibling).replace(
            "(detected)", "(detected, paper format)") if sibling != path and sibling.is_file()
            else f"{path.stem} (paper format)")
    return HeadFile(str(path), label, heads, scores if full else None,
                    tuple(scores.shape) if full or isinstance(data, dict) else None)


@dataclass(frozen=True)
class Comparison:
    """One pair of head files compared: overlap of their top ``k`` and Spearman of their grids."""
    a: HeadFile
    b: HeadFile
    k: int                              # the cut-off used for the overlap
    overlap: int | None                 # |top-k(a) & top-k(b)|; None for different model shapes
    spearman: float | None              # None when a side has no full score grid or shapes differ
    note: str = ""


def compare_files(a: HeadFile, b: HeadFile, k: int) -> Comparison:
    """Top-k overlap and Spearman of two head files (see the module doc for what is defined)."""
    if a.shape and b.shape and a.shape != b.shape:
        return Comparison(a, b, 0, None, None, f"different models ({a.shape[0]}x{a.shape[1]} vs "
                                               f"{b.shape[0]}x{b.shape[1]} heads)")
    kk = min(k, len(a.ranked), len(b.ranked))
    n = overlap(a.ranked, b.ranked, kk)
    if a.scores is None or b.scores is None:
        which = a if a.scores is None else b
        return Comparison(a, b, kk, n, None, f"no Spearman: {which.label} lists only its top heads")
    return Comparison(a, b, kk, n, spearman(a.scores, b.scores))


def compare(paths: list[str], k: int) -> list[Comparison]:
    """Every pair of ``paths`` compared (files read once; a bad file raises before any comparison)."""
    files = [load_head_file(p) for p in paths]
    return [compare_files(a, b, k) for a, b in combinations(files, 2)]


def main(argv: list[str] | None = None) -> None:
    """CLI: print every pair's top-k overlap and Spearman; exits 2 naming a bad file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="head files: detection (ours or paper format) or published lists")
    ap.add_argument("--k", type=int, default=64, help="top-k for the overlap (capped by the shorter list)")
    args = ap.parse_args(argv)
    if len(args.files) < 2:
        ap.error("give at least two head files")
    try:
        pairs = compare(args.files, args.k)
    except ValueError as e:
        ap.exit(2, f"heads_overlap: {e}\n")
    names = {p: chr(ord("A") + i) if i < 26 else f"F{i}" for i, p in enumerate(args.files)}
    seen = {}
    for c in pairs:
        for f in (c.a, c.b):
            seen.setdefault(f.path, f)
    for path, f in seen.items():
        print(f"{names[path]}: {f.label}  [{path}]")
    for c in pairs:
        ab = f"{names[c.a.path]} vs {names[c.b.path]}"
        if c.overlap is None:
            print(f"{ab}: not comparable, {c.note}")
            continue
        rho = "–" if c.spearman is None or math.isnan(c.spearman) else f"{c.spearman:.3f}"
        note = f" ({c.note})" if c.note else ""
        print(f"{ab}: top-{c.k} overlap {c.overlap}/{c.k}, Spearman {rho}{note}")


if __name__ == "__main__":
    main()
