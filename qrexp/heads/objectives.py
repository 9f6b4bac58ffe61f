"""Head-detection objectives: per-example DocScores [D_i, L, H] + relevance [D_i] -> HeadScores [L, H].

This module is only the math: no files (the detection files are :mod:`qrexp.heads.files`), no model.
Every objective takes two iterables (consumed once, in step, so DocScores can stream from a cache)
and averages a per-example quantity over all examples. Relevance is a BoolTensor (gold or not) or
an integer tensor of graded labels >= 0; "gold" means relevance > 0.

Ranking ties inside an example (equal document scores for one head) go to the document that comes
first in the order given; this is what ``torch.sort(stable=True)`` gives and what ndcg10 and recall1
both use. qrexp.experiment.detect passes documents in doc id order, so ties follow the evaluation's
rule (qrexp.types.rank_by_score: doc id ascending). Ranking heads (:func:`rank_heads`) breaks ties by
(layer, head) ascending.

How to add a detection objective (one function, one registration; the config then accepts its name
as ``detect.objective``)::

    @OBJECTIVES.register("my-objective")
    def my_objective(doc_scores, relevance):          # iterables of [D_i, L, H] and [D_i]
        return mean_over_examples(doc_scores, relevance, lambda s, r: ...)   # s [D, L*H], r [D] -> [L*H]

The per-example function gets float64 scores [D, L*H] and relevance [D] (already checked: same heads
in every example, finite, non-negative labels) and returns one value per head [L*H].
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Mapping

import torch

from qrexp.registry import Registry
from qrexp.types import Example, Head, rank_by_score

__all__ = ["OBJECTIVES", "detect", "mean_over_examples", "qrscore", "ndcg10", "recall1", "per_head_ndcg", "rank_heads",
           "relevance_of"]

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


def mean_over_examples(doc_scores: Iterable[torch.Tensor], relevance: Iterable[torch.Tensor],
                       per_example: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Mean over examples of ``per_example(scores [D, L*H] float64, relevance [D] float64) -> [L*H]``,
    reshaped to HeadScores [L, H] float32 (accumulated in float64).

    Raises ValueError (naming the example index) for a DocScores tensor that is not [D, L, H], has no
    documents, other heads than the first example, NaN/inf; relevance of the wrong length, float
    dtype or negative; fewer or more labels than DocScores; no examples at all.
    """
    total, n, shape = None, 0, None
    for flat, rel, shape in _examples(doc_scores, relevance):
        value = per_example(flat, rel)
        total = value if total is None else total + value
        n += 1
    return (total / n).reshape(shape).to(torch.float32)


@OBJECTIVES.register("qrscore")
def qrscore(doc_scores: Iterable[torch.Tensor], relevance: Iterable[torch.Tensor]) -> torch.Tensor:
    """QRscore (paper Section 3, Eq. 3-4): for each head, the sum of its calibrated document scores
    S_h(d) over the gold documents of an example, averaged over examples.

    Args: ``doc_scores`` iterable of DocScores [D_i, L, H] (attention mass, calibrated by the null
    query when the scorer does so); ``relevance`` iterable of [D_i] labels (gold = label > 0).
    Returns HeadScores [L, H] float32. Errors: see :func:`mean_over_examples`.
    """
    return mean_over_examples(doc_scores, relevance, lambda s, r: ((r > 0).double() @ s))


def per_head_ndcg(flat: torch.Tensor, rel: torch.Tensor, k: int = 10) -> torch.Tensor:
    """nDCG@k of every head's ranking for one example: scores [D, N], relevance [D] -> [N] in [0, 1].

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
    """Each head's own nDCG@10 (ranking the documents by that head's DocScores alone, graded gains,
    :func:`per_head_ndcg`), averaged over examples -> HeadScores [L, H] in [0, 1].

    An ablation objective (not in the paper): detection by the retrieval metric itself.
    Errors: see :func:`mean_over_examples`.
    """
    return mean_over_examples(doc_scores, relevance, lambda s, r: per_head_ndcg(s, r, 10))


@OBJECTIVES.register("recall1")
def recall1(doc_scores: Iterable[torch.Tensor], relevance: Iterable[torch.Tensor]) -> torch.Tensor:
    """Fraction of examples whose top document by that head alone (ties: the earliest in the given
    order) is gold -> HeadScores [L, H] in [0, 1]. An ablation objective (not in the paper).
    Errors: see :func:`mean_over_examples`.
    """
    def hit(s: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        top = torch.argmax(s, dim=0)  # [N]; the first maximal doc on ties
        return (r[top] > 0).double()
    return mean_over_examples(doc_scores, relevance, hit)


def relevance_of(example: Example, qrels: Mapping[str, Mapping[str, int]] | None = None) -> torch.Tensor:
    """Relevance labels [D] in the example's doc order: BoolTensor ``doc in example.gold`` without
    ``qrels``, else LongTensor of the graded judgements ``qrels[qid][doc]`` (0 when unjudged)."""
    if qrels is None:
        return torch.tensor([d in example.gold for d in example.doc_ids], dtype=torch.bool)
    judged = qrels.get(example.qid, {})
    return torch.tensor([int(judged.get(d, 0)) for d in example.doc_ids], dtype=torch.long)


def detect(objective: str, doc_scores: Iterable[torch.Tensor],
           relevance: Iterable[torch.Tensor]) -> torch.Tensor:
    """Run the objective registered as ``objective`` on DocScores [D_i, L, H] + relevance [D_i]
    -> HeadScores [L, H]. Raises KeyError (with "did you mean") for an unknown name."""
    return OBJECTIVES.get(objective)(doc_scores, relevance)


def rank_heads(scores: torch.Tensor) -> list[tuple[Head, float]]:
    """HeadScores [L, H] -> [((layer, head), score), ...] over all L*H heads, best first.

    Ties by (layer, head) ascending (qrexp.types.rank_by_score, the one ranking rule), so the
    ranking is deterministic. Raises ValueError for a tensor that is not 2-D or holds NaN (naming the first
    NaN head).
    """
    if scores.dim() != 2:
        raise ValueError(f"head scores must be [L, H], got shape {tuple(scores.shape)}")
    flat = scores.detach().to(torch.float64).flatten()
    bad = torch.nonzero(torch.isnan(flat)).flatten()
    if len(bad):
        l, h = divmod(int(bad[0]), scores.shape[1])
        raise ValueError(f"head scores contain NaN (first at head {l}-{h})")
    n_heads = scores.shape[1]
    by_head = {divmod(i, n_heads): float(v) for i, v in enumerate(scores.detach().flatten().tolist())}
    return [(head, by_head[head]) for head in rank_by_score(by_head, "head scores", "head")]
