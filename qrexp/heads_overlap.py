"""Compare detected head sets (paper Table 6): pairwise top-k overlap and Spearman correlation.

    python -m qrexp.heads_overlap results/runs/*/heads.json --k 64
"""
from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

from .detect import read_detection
from .heads import overlap, spearman, top_k


def compare(paths: list[str], k: int) -> list[tuple[str, str, int, float]]:
    """(a, b, |top-k(a) & top-k(b)|, Spearman of the full score grids) for every pair."""
    scores = {p: read_detection(p)[1] for p in paths}
    out = []
    for a, b in combinations(paths, 2):
        sa, sb = scores[a], scores[b]
        out.append((a, b, overlap(top_k(sa, k), top_k(sb, k)), spearman(sa, sb)))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="detection files (ours or the paper code's format)")
    ap.add_argument("--k", type=int, default=64)
    args = ap.parse_args(argv)
    if len(args.files) < 2:
        ap.error("give at least two detection files")
    for a, b, n, rho in compare(args.files, args.k):
        print(f"{Path(a).parent.name} vs {Path(b).parent.name}: top-{args.k} overlap {n}, "
              f"Spearman {rho:.3f}")


if __name__ == "__main__":
    main()
