"""Benchmark the attention capture on SmolLM2 (CPU): side by side in one run, at ~2K and ~4K tokens.

Prints, per length (timings in one process, memory in a fresh process per measurement): QR scoring time (shared prefix + real and null query continuations, every head)
over a plain SDPA prefill of the same prompt; peak memory over that of the plain prefill; the
early-exit ratio for a head set ending at layer L*; and what eager output_attentions would need.

    python experiments/bench_capture.py [--lengths 2048 4096] [--repeats 3] [--last-layer 23]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time

import psutil
import torch

from qrexp.types import HeadSet
from qrexp.engine.models import load_model
from qrexp.engine.retriever import QRRetriever
from qrexp.data.niah import filler_sentences
from qrexp.types import Doc


class PeakRSS:
    """Samples this process's resident memory every 2 ms while active; .peak - .start in MiB."""

    def __enter__(self):
        self.proc, self.stop = psutil.Process(), threading.Event()
        self.start = self.peak = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.extra_mib = (self.peak - self.start) / 2**20


def docs_for(tokenizer, n_tokens: int) -> list[Doc]:
    """Filler paragraphs of ~100 tokens until the prompt holds about n_tokens."""
    docs, total, sentences = [], 0, iter(filler_sentences(4000, seed=1))
    while total < n_tokens - 150:
        text = ""
        while len(tokenizer(text)["input_ids"]) < 100:
            text += next(sentences) + " "
        docs.append(Doc(f"d{len(docs)}", text.strip()))
        total += len(tokenizer(text)["input_ids"]) + 4
    return docs


def timed(fn, repeats: int):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def memory_probe(op: str, n: int) -> None:
    """In a fresh process (freed memory would otherwise hide the next op's peak): peak RSS above
    the loaded model while running ``op`` once, printed in MiB."""
    model, tok = load_model("smollm2-135m")
    r = QRRetriever(model, tok)
    query, docs = "Which paragraph talks about the weather in the mountains?", docs_for(tok, n)
    ids = torch.tensor([r.build_prompt(query, docs).input_ids])
    if op == "plain":
        model.set_attn_implementation("sdpa")
        run = lambda: model(ids, logits_to_keep=1)
    else:
        run = lambda: r.raw_token_scores(query, docs)
    with torch.no_grad(), PeakRSS() as m:
        run()
    print(f"{m.extra_mib:.1f}")


def probe(op: str, n: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--memory-probe", op, str(n)], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    return float(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[2048, 4096])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--last-layer", type=int, default=23, help="L* of the early-exit head set")
    ap.add_argument("--memory-probe", nargs=2, metavar=("OP", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_probe:
        return memory_probe(args.memory_probe[0], int(args.memory_probe[1]))
    model, tok = load_model("smollm2-135m")
    r = QRRetriever(model, tok)
    L, H = r.n_layers, r.n_heads
    early = HeadSet("early", ((args.last_layer, 0), (args.last_layer // 2, 1)), L, H)
    query = "Which paragraph talks about the weather in the mountains?"
    print(f"SmolLM2-135M, fp32, {torch.get_num_threads()} threads, median of {args.repeats}")
    for n in args.lengths:
        docs = docs_for(tok, n)
        prompt = r.build_prompt(query, docs)
        ids = torch.tensor([prompt.input_ids])

        def plain():
            model.set_attn_implementation("sdpa")
            with torch.no_grad():
                model(ids, logits_to_keep=1)
            model.set_attn_implementation("qrexp_capture")

        score = lambda: r.raw_token_scores(query, docs)
        exit_early = lambda: r.headset_scores(query, docs, early)
        full_set = lambda: r.headset_scores(query, docs, None)
        plain(), score()                                            # warm-up
        t_plain, t_score = timed(plain, args.repeats), timed(score, args.repeats)
        t_full, t_early = timed(full_set, args.repeats), timed(exit_early, args.repeats)
        m_plain, m_score = probe("plain", n), probe("score", n)
        weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
        eager_gib = L * H * len(prompt) ** 2 * 4 / 2**30
        print(f"\nT = {len(prompt)} tokens ({len(docs)} docs)")
        print(f"  time   plain prefill {t_plain:.2f}s | QR scoring {t_score:.2f}s | ratio {t_score / t_plain:.3f} (target <= 1.10)")
        print(f"  peak memory above the weights ({weights:.0f} MiB), fresh process each: plain {m_plain:.0f} MiB "
              f"| QR scoring {m_score:.0f} MiB | peak ratio {(weights + m_score) / (weights + m_plain):.3f} (target <= 1.10)")
        print(f"  early exit at layer {args.last_layer}/{L - 1}: {t_early:.2f}s vs all layers {t_full:.2f}s "
              f"| ratio {t_early / t_full:.3f} (ideal {(args.last_layer + 1) / L:.3f})")
        print(f"  eager output_attentions would return {eager_gib:.1f} GiB of attention maps (L x H x T^2 fp32)")


if __name__ == "__main__":
    main()
