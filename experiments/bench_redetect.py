"""Re-detection from the score cache vs with forward passes, side by side on SmolLM2 (CPU).

Detects heads on N generated LongMemEval-like detection examples twice into a fresh cache: first
with forwards (cache empty), then again (and with other objectives) from the cache only.

    python experiments/bench_redetect.py [--examples 8]
"""
from __future__ import annotations

import argparse
import tempfile
import time

from qrexp.experiment.config import DataConfig
from qrexp.experiment.data import load_data
from qrexp.experiment.detect import detect_heads
from qrexp.engine.models import load_model
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.score_cache import ScoreCache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=8)
    args = ap.parse_args()
    model, tok = load_model("smollm2-135m")
    with tempfile.TemporaryDirectory(prefix="qrexp-bench-") as root:
        data = DataConfig(name="lme-detect", loader="lme", generate="synthetic",
                          args={"path": "lme_detect.json"}, limit=args.examples)
        examples = load_data(data, root)
        scorer = ExampleScorer(QRRetriever(model, tok), ScoreCache(f"{root}/scores"))
        t0 = time.perf_counter()
        first = detect_heads(scorer, examples, "qrscore", progress=False)
        t_forward = time.perf_counter() - t0
        fresh = ExampleScorer(QRRetriever(model, tok), ScoreCache(f"{root}/scores"))
        times = {}
        for objective in ("qrscore", "recall1", "ndcg10"):
            t0 = time.perf_counter()
            again = detect_heads(fresh, examples, objective, progress=False)
            times[objective] = time.perf_counter() - t0
        assert fresh.forwards == 0 and again.n_examples == first.n_examples
    print(f"{args.examples} examples, SmolLM2-135M ({model.config.num_hidden_layers}x"
          f"{model.config.num_attention_heads} heads)")
    print(f"  detection with forwards: {t_forward:.2f}s")
    for objective, t in times.items():
        print(f"  re-detection from cache ({objective}): {t:.3f}s | speed-up {t_forward / t:.0f}x (target >= 100x)")


if __name__ == "__main__":
    main()
