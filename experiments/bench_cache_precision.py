"""Effect of the score cache's float16 token rows on the paper aggregation, on the demo's data.

For every example of a demo evaluation set (SmolLM2-135M, the demo's generated data), scores each
head set twice: exactly (float32 token scores, heads summed, outlier mask: the paper code's
score_docs) and as the cached scorer does (document token rows in float16 with a power-of-two row
scale, :func:`qrexp.engine.score_cache.half_round`). Prints max |delta score|, the largest delta
relative to the query's largest |score|, and how many rankings (doc order, ties by doc id) change.

    python experiments/bench_cache_precision.py [--eval generated_beir] [--limit 10]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from tqdm.auto import tqdm

from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions, calibrate, headset_doc_scores
from qrexp.experiment.config import from_hydra
from qrexp.experiment.data import load_data
from qrexp.experiment.context import scorer_of
from qrexp.heads import sets

ROOT = Path(__file__).resolve().parents[1]


def order(scores: torch.Tensor, doc_ids) -> list[str]:
    return [d for _, d in sorted(zip((-s for s in scores.tolist()), doc_ids))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", default="generated_beir")
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qrexp-precision-") as out:
        with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
            cfg = from_hydra(compose("config", overrides=[f"eval={args.eval}", f"out_dir={out}",
                                                          f"eval.data.limit={args.limit}", "progress=false"]))
        examples = load_data(cfg.eval.data, Path(out) / "cache", cfg.seed)
        base = scorer_of(cfg)
        r = base.retriever
        scorer = ExampleScorer(r)                                    # no disk: the in-memory rows
        head_sets = {"icr (all heads)": None, **{f"random-16 seed {s}": sets.random(16, s, r.n_layers, r.n_heads)
                                                  for s in range(3)}}
        worst = {name: [0.0, 0.0, 0] for name in head_sets}
        for ex in tqdm(examples, desc="precision"):
            real, null, prompt = r.raw_token_scores(ex.query, ex.docs, ex.qid)
            for opts in (ScoringOptions(), ScoringOptions(calibrate=False)):     # one pass for both
                ts = calibrate(real, null if opts.calibrate else None)
                for name, hs in head_sets.items():
                    exact = headset_doc_scores(ts, None if hs is None else sorted(hs.heads),
                                               prompt.doc_spans, opts.mask_sigma)
                    cached = scorer.headset_scores(ex, hs, opts)
                    delta = float((cached - exact).abs().max())
                    w = worst[name]
                    w[0] = max(w[0], delta)
                    w[1] = max(w[1], delta / float(exact.abs().max()))
                    w[2] += order(exact, ex.doc_ids) != order(cached, ex.doc_ids)
        n = 2 * len(examples)
        print(f"{args.eval}: {len(examples)} queries x calibrate on/off, SmolLM2-135M "
              f"({r.n_layers}x{r.n_heads} heads), float16 rows vs float32 (forwards {scorer.forwards})")
        for name, (delta, rel, changed) in worst.items():
            print(f"  {name:<18} max |delta score| {delta:.3e}  max relative {rel:.3e}  "
                  f"rankings changed {changed}/{n}")


if __name__ == "__main__":
    main()
