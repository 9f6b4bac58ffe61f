"""Re-detection from the score cache vs recomputing it with forward passes, side by side in one run
(SmolLM2-135M on CPU, the demo's generated LongMemEval-like detection examples).

For each objective: the time to detect heads by recomputing (a scorer without cache: one forward
pass pair per example) and the time to re-detect from the cached DocScores [D, L, H] with a fresh
scorer (as another process would: disk reads, zero forward passes, asserted), and their ratio.

    python experiments/bench_redetect.py [--examples 8]
"""
from __future__ import annotations

import argparse
import tempfile
import time

from qrexp.engine.models import load_model
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.score_cache import ScoreCache
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions
from qrexp.experiment.config import DataConfig
from qrexp.experiment.data import load_data
from qrexp.experiment.detect import detect_heads

OBJECTIVES = ("qrscore", "recall1", "ndcg10")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=8)
    args = ap.parse_args()
    model, tok = load_model("smollm2-135m")
    retriever = QRRetriever(model, tok)
    with tempfile.TemporaryDirectory(prefix="qrexp-bench-") as root:
        data = DataConfig(name="lme-detect", loader="lme", generate="synthetic",
                          args={"path": "lme_detect.json"}, limit=args.examples)
        examples = load_data(data, root)
        filler = ExampleScorer(retriever, ScoreCache(f"{root}/scores"))
        plan = filler.plan_for(examples, ScoringOptions(), tokens=False)
        print(plan.describe())
        t0 = time.perf_counter()
        first = detect_heads(filler, examples, "qrscore", progress=False)     # fills the cache
        t_fill = time.perf_counter() - t0
        recompute, cached = {}, {}
        for objective in OBJECTIVES:
            scorer = ExampleScorer(retriever)                                  # no cache: forwards
            t0 = time.perf_counter()
            detect_heads(scorer, examples, objective, progress=False)
            recompute[objective] = time.perf_counter() - t0
            assert scorer.forwards == len(examples)
            fresh = ExampleScorer(retriever, ScoreCache(f"{root}/scores"))    # another process
            t0 = time.perf_counter()
            again = detect_heads(fresh, examples, objective, progress=False)
            cached[objective] = time.perf_counter() - t0
            assert fresh.forwards == 0 and again.n_examples == first.n_examples
        on_disk = filler.cache.bytes_on_disk()
    print(f"{args.examples} examples, SmolLM2-135M ({model.config.num_hidden_layers}x"
          f"{model.config.num_attention_heads} heads), cache {on_disk / 1e6:.2f} MB "
          f"(estimate {plan.total_bytes / 1e6:.2f} MB), first detection filling it {t_fill:.2f}s")
    for objective in OBJECTIVES:
        print(f"  re-detection ({objective:<7}): recompute {recompute[objective]:7.2f}s | from cache "
              f"{cached[objective]:6.3f}s | ratio {recompute[objective] / cached[objective]:6.0f}x")


if __name__ == "__main__":
    main()
