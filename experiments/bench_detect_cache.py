"""Time re-ranking heads from N cached DocScores files, for every detection objective.

Writes N random DocScores [D, L, H] into a fresh ScoreCache (default 70 examples, 50 docs,
30 layers x 9 heads: a SmolLM2-135M-sized model on an LME-sized detection set), then for each
objective times ``detect(cached_doc_scores(...))`` + ``rank_heads`` (disk reads included), best of --repeats.
The side with forward passes, on SmolLM2, is experiments/bench_redetect.py.

    python experiments/bench_detect_cache.py --examples 70 --docs 50 --layers 30 --heads 9
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from qrexp.heads.objectives import OBJECTIVES, detect, rank_heads
from qrexp.engine.score_cache import ScoreCache, cached_doc_scores, fingerprint


def build_cache(root: str, n: int, docs: int, layers: int, heads: int, seed: int):
    """Fill a cache with n random examples; returns (cache, keys, relevance labels)."""
    gen = torch.Generator().manual_seed(seed)
    cache, keys, rels = ScoreCache(root), [], []
    for i in range(n):
        key = fingerprint(bench="detect_cache", example=i, seed=seed)
        cache.put(key, torch.randn(docs, layers, heads, generator=gen))
        rel = torch.zeros(docs, dtype=torch.bool)
        rel[torch.randperm(docs, generator=gen)[:2]] = True
        keys.append(key)
        rels.append(rel)
    return cache, keys, rels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=70)
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--heads", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="qrexp-bench-") as root:
        cache, keys, rels = build_cache(root, args.examples, args.docs, args.layers, args.heads, args.seed)
        print(f"{args.examples} cached DocScores [{args.docs}, {args.layers}, {args.heads}], "
              f"best of {args.repeats} runs (1 CPU thread)")
        print(f"{'objective':<10} {'total ms':>9} {'ms/example':>11}  top head")
        for name in OBJECTIVES.names():
            best, top = float("inf"), None
            for _ in range(args.repeats):
                start = time.perf_counter()
                top = rank_heads(detect(name, cached_doc_scores(cache, keys), rels))[0]
                best = min(best, time.perf_counter() - start)
            (layer, head), score = top
            print(f"{name:<10} {best * 1e3:9.1f} {best * 1e3 / args.examples:11.2f}  "
                  f"{layer}-{head} ({score:.3f})")


if __name__ == "__main__":
    main()
