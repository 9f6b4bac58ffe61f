"""Offline, seeded task data in the real file formats (LongMemEval, BEIR, CLIPPER) for the demo.

``generate_all(root, seed)`` writes
  root/lme_detect.json   LongMemEval array, single-session-user questions (head detection)
  root/lme_eval.json     LongMemEval array: multi-session, knowledge-update, temporal-reasoning
  root/beir/             corpus.jsonl, queries.jsonl, qrels/test.tsv, bm25.run
  root/clipper/          test.jsonl and books/ in the CLIPPER repository layout
  root/manifest.json     seed, sizes, generator version, statistics and SHA-256 of every file
Contexts are kept short for a small model on CPU: about 460-1150 words (600-1500 tokens at
1.3 tokens per word) per example. The same seed gives byte-identical files.
"""
from __future__ import annotations

import os
from pathlib import Path

from qrexp.data.synthetic.beir_like import generate_beir
from qrexp.data.synthetic.clipper_like import generate_clipper
from qrexp.data.synthetic.common import est_tokens, sha256_file, word_count
from qrexp.io.files import write_json
from qrexp.data.synthetic.lme_like import generate_lme, write_lme

GENERATOR_VERSION = "1"
EVAL_SPLITS = ("multi-session", "knowledge-update", "temporal-reasoning")
DEFAULT_SIZES = {"lme_detect": 24, "lme_eval_per_split": 12, "beir_entities": 40,
                 "beir_queries": 40, "beir_top_k": 20, "clipper_books": 2, "clipper_pairs": 12}

__all__ = ["generate_all", "generate_lme", "write_lme", "generate_beir", "generate_clipper",
           "lme_words", "DEFAULT_SIZES", "GENERATOR_VERSION"]


def lme_words(record: dict) -> int:
    """Words in a LongMemEval record's whole history plus its question."""
    return word_count(record["question"]) + sum(
        word_count(turn["content"]) for session in record["haystack_sessions"] for turn in session)


def _lme_stats(records: list[dict]) -> dict:
    words = [lme_words(r) for r in records]
    return {"n": len(records), "min_words": min(words), "max_words": max(words),
            "max_tokens_est": est_tokens(max(words))}


def generate_all(root: str | os.PathLike, seed: int = 0, sizes: dict | None = None) -> dict:
    """Write every synthetic task under ``root`` and return the manifest (also saved there)."""
    unknown = sorted(set(sizes or {}) - set(DEFAULT_SIZES))
    if unknown:
        raise ValueError(f"generate_all: unknown size key(s) {unknown} "
                         f"(known: {', '.join(DEFAULT_SIZES)})")
    sz = {**DEFAULT_SIZES, **(sizes or {})}
    root = Path(root)
    detect = generate_lme(sz["lme_detect"], seed, "detect")
    evals = [r for split in EVAL_SPLITS
             for r in generate_lme(sz["lme_eval_per_split"], seed, split)]
    write_lme(detect, root / "lme_detect.json")
    write_lme(evals, root / "lme_eval.json")
    beir = generate_beir(sz["beir_entities"], sz["beir_queries"], seed, root / "beir",
                         top_k=sz["beir_top_k"])
    clipper = generate_clipper(sz["clipper_books"], seed, root / "clipper",
                               n_pairs=sz["clipper_pairs"])
    written = ["lme_detect.json", "lme_eval.json"] + sorted(
        [f"beir/{f}" for f in beir.pop("files")] + [f"clipper/{f}" for f in clipper.pop("files")])
    manifest = {
        "generator": "qrexp.data.synthetic", "version": GENERATOR_VERSION, "seed": seed,
        "sizes": sz,
        "stats": {"lme_detect": _lme_stats(detect), "lme_eval": _lme_stats(evals),
                  "beir": beir, "clipper": clipper},
        "files": {rel: sha256_file(root / rel) for rel in written},
    }
    write_json(root / "manifest.json", manifest, indent=1, sort_keys=False)
    return manifest
