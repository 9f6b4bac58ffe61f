"""Head-detection objectives: per-example DocScores [D_i, L, H] + relevance [D_i] -> HeadScores [L, H].

Every objective takes two iterables (consumed once, in step, so DocScores can stream from a cache)
and averages a per-example quantity over all examples. Relevance is a BoolTensor (gold or not) or
an integer tensor of graded labels >= 0; "gold" means relevance > 0.

Ranking ties inside an example (equal document scores for one head) go to the document that comes
first in the order given; this is what ``torch.sort(stable=True)`` gives and what ndcg10 and recall1
both use. qrexp.experiment.detect passes documents in doc id order, so ties follow the evaluation's
rule (qrexp.types.rank_by_score: doc id ascending).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch

from qrexp.types import format_head, parse_head

from qrexp.heads.sets import rank_heads
from qrexp.io.redact import redact
from qrexp.registry import Registry
from qrexp.io.files import atomic_write_text
from qrexp.io.jsonio import read_text
from qrexp.types import Example, Head, rank_by_score

__all__ = ["OBJECTIVES", "detect", "qrscore", "ndcg10", "recall1", "per_head_ndcg", "rank_heads",
           "relevance_of", "write_detection", "read_detection", "read_detection_k"]

Objective = Callable[[Iterable[torch.Tensor], Iterable[torch.Tensor]], torch.Tensor]
OBJECTIVES: Registry[Objective] = Registry("detection objective")


def _examples(doc_scores: Iterable[torch.Tensor],
              relevance: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor, tuple]]:
    """Yield checked (scores [D, L*H] float64, relevance [D] float64, (L, H)); same L, H throughout."""
    shape = None
    n = 0
    rel_iter = iter(relevance)
    for i, scores in enumerate(doc_scores):
        rel = next(rel_iter, None)
        if rel is None:
            raise ValueError(f"detection: relevance runs out at example {i} (fewer labels than DocScores)")
        if not isinstance(scores, torch.Tensor) or scores.dim() != 3:
            raise ValueError(f"detection example {i}: DocScores must be a [D, L, H] tensor, "
                             f"got {getattr(scores, 'shape', type(scores).__name__)}")
        if scores.shape[0] == 0:
            raise ValueError(f"detection example {i}: no documents")
        if shape is None:
            shape = tuple(scores.shape[1:])
        elif tuple(scores.shape[1:]) != shape:
            raise ValueError(f"detection example {i}: DocScores heads {tuple(scores.shape[1:])} "
                             f"differ from the first example's {shape}")
        rel = torch.as_tensor(rel)
        if rel.dim() != 1 or rel.shape[0] != scores.shape[0]:
            raise ValueError(f"detection example {i}: relevance shape {tuple(rel.shape)} does not "
                             f"match {scores.shape[0]} documents")
        if rel.is_floating_point() or rel.is_complex():
            raise ValueError(f"detection example {i}: relevance must be bool or int, got {rel.dtype}")
        if (rel < 0).any():
            raise ValueError(f"detection example {i}: negative relevance label")
        flat = scores.detach().to(torch.float64).reshape(scores.shape[0], -1)
        if not torch.isfinite(flat).all():
            raise ValueError(f"detection example {i}: DocScores contain NaN or inf")
        n += 1
        yield flat, rel.to(torch.float64), shape
    if next(rel_iter, None) is not None:
        raise ValueError(f"detection: more relevance labels than DocScores ({n} examples)")
    if n == 0:
        raise ValueError("detection: no examples")


def _mean_over_examples(doc_scores, relevance, per_example) -> torch.Tensor:
    """Mean of per_example(scores [D, L*H], rel [D]) -> [L*H], reshaped to HeadScores [L, H]."""
    total, n, shape = None, 0, None
    for flat, rel, shape in _examples(doc_scores, relevance):
        value = per_example(flat, rel)
        total = value if total is None else total + value
        n += 1
    return (total / n).reshape(shape).to(torch.float32)


@OBJECTIVES.register("qrscore")
def qrscore(doc_scores: Iterable[torch.Tensor], relevance: Iterable[torch.Tensor]) -> torch.Tensor:
    """Paper Eq. 3-4: mean over examples of the summed S_h(d) over gold docs -> HeadScores [L, H]."""
    return _mean_over_examples(doc_scores, relevance, lambda s, r: ((r > 0).double() @ s))


def per_head_ndcg(flat: torch.Tensor, rel: torch.Tensor, k: int = 10) -> torch.Tensor:
    """nDCG@k of every head's ranking for one example: scores [D, N], relevance [D] -> [N].

    Linear gain, discount 1/log2(rank + 1) with 1-based ranks (trec_eval's ndcg_cut); the ideal
    DCG uses this example's labels only. An example with no relevant document scores 0.
    """
    depth = min(k, flat.shape[0])
    order = torch.sort(flat, dim=0, descending=True, stable=True).indices[:depth]  # [depth, N]
    discount = 1.0 / torch.log2(torch.arange(2, depth + 2, dtype=torch.float64))  # [depth]
    dcg = (rel[order] * discount[:, None]).sum(0)
    ideal = (torch.sort(rel, descending=True).values[:depth] * discount).sum()
    return dcg / ideal if ideal > 0 else torch.zeros_like(dcg)


@OBJECTIVES.register("ndcg10")
def ndcg10(doc_scores: Iterable[torch.Tensor], relevance: Iterable[torch.Tensor]) -> torch.Tensor:
    """Each head's own mean nDCG@10 over the detection examples -> HeadScores [L, H]."""
    return _mean_over_examples(doc_scores, relevance, lambda s, r: per_head_ndcg(s, r, 10))


@OBJECTIVES.register("recall1")
def recall1(doc_scores: Iterable[torch.Tensor], relevance: Iterable[torch.Tensor]) -> torch.Tensor:
    """Fraction of examples where the head's top document (ties: earliest) is gold -> [L, H]."""
    def hit(s: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        top = torch.argmax(s, dim=0)  # [N]; the first maximal doc on ties
        return (r[top] > 0).double()
    return _mean_over_examples(doc_scores, relevance, hit)


def relevance_of(example: Example, qrels: Mapping[str, Mapping[str, int]] | None = None) -> torch.Tensor:
    """Labels [D] in doc order: gold BoolTensor from ``example.gold``, or graded ints from qrels."""
    if qrels is None:
        return torch.tensor([d in example.gold for d in example.doc_ids], dtype=torch.bool)
    judged = qrels.get(example.qid, {})
    return torch.tensor([int(judged.get(d, 0)) for d in example.doc_ids], dtype=torch.long)


def detect(objective: str, doc_scores: Iterable[torch.Tensor],
           relevance: Iterable[torch.Tensor]) -> torch.Tensor:
    """Run the registered objective ``objective`` -> HeadScores [L, H]."""
    return OBJECTIVES.get(objective)(doc_scores, relevance)


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def _stem(path: str | Path) -> Path:
    """results/x.json, results/x.paper.json or results/x -> results/x."""
    p = Path(path)
    for suffix in (".paper.json", ".json"):
        if p.name.endswith(suffix):
            return p.with_name(p.name[: -len(suffix)])
    return p


def write_detection(path: str | Path, ranked: list[tuple[Head, float]], provenance: dict, *,
                    objective: str, model: str, n_examples: int, k: int) -> tuple[Path, Path]:
    """Write <stem>.paper.json ([["layer-head", score], ...], best first) and <stem>.json (ours).

    ``ranked`` must cover the full L x H grid (as rank_heads returns). Scores are written rounded
    to qrexp.heads.files.SIGNIFICANT digits and re-ranked after rounding (ties by (layer, head)), so
    equal numbers give equal bytes and the file's order is the one read_detection recomputes.
    Returns (ours, paper) paths.
    """
    from qrexp.heads.files import round_score
    for (l, h), score in ranked:
        if not math.isfinite(score):
            raise ValueError(f"{path}: head {l}-{h} has non-finite score {score}")
    n_given, rounded = len(ranked), {tuple(head): round_score(score) for head, score in ranked}
    ranked = [(head, rounded[head]) for head in rank_by_score(rounded, str(path), "head")]
    heads = [h for h, _ in ranked]
    if not heads:
        raise ValueError(f"{path}: empty ranking")
    n_layers = max(l for l, _ in heads) + 1
    n_heads = max(h for _, h in heads) + 1
    if n_given != len(heads) or len(heads) != n_layers * n_heads:
        raise ValueError(f"{path}: ranking must list each of the {n_layers}x{n_heads} heads once, "
                         f"got {n_given} entries")
    if not 1 <= k <= len(heads):
        raise ValueError(f"{path}: k={k} must be in [1, {len(heads)}]")
    grid = [[0.0] * n_heads for _ in range(n_layers)]
    for (l, h), score in ranked:
        if not math.isfinite(score):
            raise ValueError(f"{path}: head {l}-{h} has non-finite score {score}")
        grid[l][h] = float(score)
    stem = _stem(path)
    ours, paper = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".paper.json")
    _write_json(paper, [[format_head(h), float(s)] for h, s in ranked])
    _write_json(ours, {
        "objective": objective, "model": model, "n_examples": int(n_examples), "k": int(k),
        "heads": [format_head(h) for h in heads[:k]], "scores": grid,
        "provenance": redact(dict(provenance))})          # configs without credentials
    return ours, paper


def _load_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None


def read_detection(path: str | Path) -> tuple[list[tuple[Head, float]], torch.Tensor]:
    """Read either format -> (ranked best first, HeadScores [L, H]).

    Our format's ranking is recomputed from its score grid (deterministic ties). A paper-format
    file keeps its own order; heads it does not list are NaN in the grid.
    """
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict):
        if "scores" not in data:
            raise ValueError(f"{path}: missing field 'scores'")
        try:
            scores = torch.tensor(data["scores"], dtype=torch.float64)   # the written decimals, exactly
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: field 'scores' is not an L x H number grid ({e})") from None
        if scores.dim() != 2:
            raise ValueError(f"{path}: field 'scores' must be an L x H grid")
        return rank_heads(scores), scores
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a detection object or a non-empty [[\"layer-head\", score], ...] list")
    ranked = []
    for i, row in enumerate(data):
        if not (isinstance(row, list) and len(row) == 2 and isinstance(row[1], (int, float))):
            raise ValueError(f"{path}: entry {i} must be [\"layer-head\", score], got {row!r:.60}")
        ranked.append((parse_head(row[0], f"{path} entry {i}"), float(row[1])))
    n_layers = max(l for (l, _), _ in ranked) + 1
    n_heads = max(h for (_, h), _ in ranked) + 1
    scores = torch.full((n_layers, n_heads), float("nan"), dtype=torch.float64)
    for (l, h), s in ranked:
        scores[l, h] = s
    return ranked, scores


def read_detection_k(path: str | Path) -> int | None:
    """The k stored in our format (None for a paper-format file)."""
    data = _load_json(Path(path))
    return int(data["k"]) if isinstance(data, dict) and "k" in data else None
