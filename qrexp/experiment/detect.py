"""Detect heads on a labelled example set: cached DocScores -> objective -> ranked heads, the paper
code's JSON and ours, and a layers x heads heat map."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch

from qrexp.heads.files import write_detection
from qrexp.heads.objectives import detect, rank_heads, relevance_of
from qrexp.types import HeadSet
from qrexp.heads.sets import top_k
from qrexp.heads.files import round_scores
from qrexp.engine.models import model_fingerprint
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions
from qrexp.report.plots import plot_head_scores
from qrexp.types import Example, Head, Qrels


@dataclass
class Detection:
    objective: str
    scores: torch.Tensor                  # HeadScores [L, H], float64 rounded as in the written files
    ranked: list[tuple[Head, float]]
    heads: HeadSet                        # the top-k
    n_examples: int
    files: dict[str, Path]


def detect_heads(scorer: ExampleScorer, examples: Sequence[Example], objective: str = "qrscore",
                 k: int = 16, opts: ScoringOptions = ScoringOptions(), qrels: Qrels | None = None,
                 out_stem: str | Path | None = None, name: str | None = None,
                 provenance: Mapping | None = None, progress: bool = True) -> Detection:
    """Score every head on ``examples`` with ``objective`` (qrscore, ndcg10, recall1).

    Relevance is the examples' gold set, or graded labels from ``qrels`` when given. With
    ``out_stem`` writes <stem>.json (ours, with provenance), <stem>.paper.json and <stem>.png.
    """
    if not examples:
        raise ValueError("head detection needs at least one example")
    # docs in doc id order: the objectives' stable sorts then break ties as evaluation does
    # (qrexp.types.rank_by_score: doc id ascending); qrscore is a sum and does not depend on it
    orders = [torch.tensor(sorted(range(len(ex.docs)), key=lambda i: ex.doc_ids[i])) for ex in examples]
    doc_scores = (s[o] for s, o in zip(scorer.iter_doc_scores(examples, opts, progress,
                                                              desc=f"detect ({objective})"), orders))
    relevance = (relevance_of(ex, qrels)[o] for ex, o in zip(examples, orders))
    scores = round_scores(detect(objective, doc_scores, relevance))   # as written: byte-stable files
    ranked = rank_heads(scores)
    heads = top_k(scores, k, name or f"{objective}-top{k}")
    files: dict[str, Path] = {}
    if out_stem is not None:
        model = model_fingerprint(scorer.retriever.model)
        prov = {"scoring": {**scorer.retriever.settings_dict(), "calibrate": opts.calibrate,
                            "mask_sigma": opts.mask_sigma}, "model": model, **dict(provenance or {})}
        ours, paper = write_detection(out_stem, ranked, prov, objective=objective,
                                      model=str(model["name"]), n_examples=len(examples), k=k)
        png = plot_head_scores(scores, Path(ours).with_suffix(".png"), k=k,
                               title=f"{objective} on {len(examples)} examples ({model['name']})")
        files = {"heads": ours, "paper": paper, "heatmap": png}
    return Detection(objective, scores, ranked, heads, len(examples), files)
