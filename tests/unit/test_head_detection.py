"""Detection end to end on the planted-head model, through the cached pipeline."""
import json

import pytest
import torch

from organisms import make_examples, planted_model, word_tokenizer
from qrexp import QRRetriever
from qrexp.experiment.detect import detect_heads
from qrexp.types import HeadSet
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions
from qrexp.engine.score_cache import ScoreCache


@pytest.fixture(scope="module")
def retriever():
    tok = word_tokenizer(220)
    return QRRetriever(planted_model(len(tok), layer=0, head=1), tok, query_span="query",
                       null_query="w210 w210")


def test_planted_head_detected_first_and_files_written(retriever, tmp_path):
    scorer = ExampleScorer(retriever, ScoreCache(tmp_path / "cache"))
    examples = make_examples(24, seed=3)
    for objective in ("qrscore", "ndcg10", "recall1"):
        det = detect_heads(scorer, examples, objective, k=2, out_stem=tmp_path / f"det_{objective}",
                           progress=False)
        assert det.ranked[0][0] == (0, 1), objective
    assert scorer.forwards == 24                     # three objectives, one pass per example
    ours = json.loads((tmp_path / "det_qrscore.json").read_text())
    paper = json.loads((tmp_path / "det_qrscore.paper.json").read_text())
    assert ours["heads"][0] == "0-1" and paper[0][0] == "0-1" and len(paper) == 8
    assert ours["provenance"]["scoring"]["null_query"] == "w210 w210"
    assert (tmp_path / "det_qrscore.png").stat().st_size > 1000


def _close(got, exact):
    """Paper aggregation scores from float16 rows: within 2^-10 of the largest |score|."""
    return (got - exact).abs().max() <= 2 ** -10 * exact.abs().max()


def test_cached_scores_equal_direct_computation(retriever, tmp_path):
    scorer = ExampleScorer(retriever, ScoreCache(tmp_path))
    ex = make_examples(1, seed=4)[0]
    direct_ds = retriever.doc_scores(ex.query, ex.docs, ex.qid)
    assert torch.allclose(scorer.doc_scores(ex), direct_ds, atol=1e-6)
    heads = HeadSet.parse("0-1,1-3", n_layers=2, n_heads=4)
    direct = retriever.headset_scores(ex.query, ex.docs, heads, ex.qid)
    first = scorer.headset_scores(ex, heads)
    assert _close(first, direct) and scorer.forwards == 1
    fresh = ExampleScorer(retriever, ScoreCache(tmp_path))          # new process, same cache
    assert torch.equal(fresh.headset_scores(ex, heads), first) and fresh.forwards == 0
    off = ScoringOptions(calibrate=False, mask_sigma=None)
    uncal = fresh.headset_scores(ex, heads, off)
    assert _close(uncal, retriever.headset_scores(ex.query, ex.docs, heads, ex.qid, off))
    assert fresh.forwards == 0


def test_token_scores_over_budget_fall_back_to_head_subset_passes(retriever, tmp_path):
    scorer = ExampleScorer(retriever, ScoreCache(tmp_path), max_bytes=10**6)
    examples = make_examples(3, seed=5)
    plan = scorer.plan_for(examples, ScoringOptions(), tokens=False)
    assert plan.token_examples == 0
    heads = HeadSet.parse("0-1", n_layers=2, n_heads=4)
    ex = examples[0]
    subset = scorer.headset_scores(ex, heads)
    assert _close(subset, retriever.headset_scores(ex.query, ex.docs, heads, ex.qid))
    assert scorer.forwards == 1 and not scorer.stores_tokens(ex)
    assert torch.allclose(scorer.doc_scores(ex), retriever.doc_scores(ex.query, ex.docs), atol=1e-6)
    # the same numbers as from kept token scores: the rounding is per row, not per storage
    kept = ExampleScorer(retriever, ScoreCache(tmp_path / "kept"))
    assert torch.allclose(kept.headset_scores(ex, heads), subset, rtol=0, atol=1e-7)
