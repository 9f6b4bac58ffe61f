"""The cached scorer with ``batch_size`` > 1 computes what batch 1 computes: the same rankings and
scores (1e-5) and the same cache entries, for each way a score is read (paper aggregation from kept
token scores, head-subset passes under a budget, per-head DocScores, detection's DocScores), with
prompts of different lengths in one batch and a cached example mixed with uncached ones."""
import pytest
import torch

from organisms import make_examples, planted_model, word_tokenizer
from qrexp import QRRetriever
from qrexp.engine.score_cache import ScoreCache
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions
from qrexp.types import Example, HeadSet


@pytest.fixture(scope="module")
def retriever():
    tok = word_tokenizer(220)
    return QRRetriever(planted_model(len(tok), layer=0, head=1), tok, query_span="query", null_query="w210 w210")


def _examples():
    """Five examples whose prompts differ in length (4-6 documents, 2-4 query words)."""
    out = []
    for i, ex in enumerate(make_examples(5, seed=3)):
        docs = ex.docs[: 6 - i % 3]
        query = ex.query + " w150" * (i % 3)
        out.append(Example(ex.qid, query, docs, ex.gold & {d.doc_id for d in docs}))
    return out


def _same(run_a, run_b):
    assert run_a.keys() == run_b.keys()
    for qid, scores in run_a.items():
        other = run_b[qid]
        assert sorted(scores, key=lambda d: (-scores[d], d)) == sorted(other, key=lambda d: (-other[d], d))
        assert [other[d] for d in scores] == pytest.approx(list(scores.values()), rel=1e-5, abs=1e-6), qid


CASES = {"paper, token scores kept": (ScoringOptions(), None),
         "paper, head-subset passes under a budget": (ScoringOptions(mask_sigma=1.0), 11_000),
         "per-head DocScores": (ScoringOptions(aggregation="per_head", calibrate=False), None)}


@pytest.mark.parametrize("case", list(CASES))
def test_batches_equal_batch_one(case, retriever, tmp_path):
    opts, budget = CASES[case]
    examples = _examples()
    assert len({len(ExampleScorer(retriever).prompt(ex).input_ids) for ex in examples}) == 3
    heads = HeadSet.parse("0-1,1-2,1-3", n_layers=2, n_heads=4)
    one = ExampleScorer(retriever, ScoreCache(tmp_path / "one"), max_bytes=budget)
    one.plan_for(examples, opts)
    ref = one.rank(examples, heads, opts, progress=False)

    warm = ExampleScorer(retriever, ScoreCache(tmp_path / "three"), max_bytes=budget)
    warm.plan_for(examples, opts)
    warm.rank(examples[1:2], heads, opts, progress=False)                  # q1 cached before
    three = ExampleScorer(retriever, ScoreCache(tmp_path / "three"), max_bytes=budget, batch_size=3)
    plan = three.plan_for(examples, opts)
    if budget is not None:
        assert 0 < plan.token_examples < len(examples)                    # kept and subset-pass examples
    rows = []
    hook = retriever.model.register_forward_pre_hook(
        lambda mod, args, kw: rows.append(kw["input_ids"].shape[0]), with_kwargs=True)
    try:
        got = three.rank(examples, heads, opts, progress=False)
    finally:
        hook.remove()
    assert max(rows) == 4      # 2 uncached examples per batch: real + null continuation rows of both
    _same(ref, got)
    assert sum(three.keeps_tokens(ex) for ex in examples) == plan.token_examples
    # every example scored once; the cached one costs no pass (unless it was not kept: a subset pass)
    cached_q1 = opts.aggregation == "per_head" or three.keeps_tokens(examples[1])
    assert three.forwards == len(examples) - cached_q1 == one.forwards - cached_q1
    for ex in examples:                                                  # the same cache entries
        for read, key in [(ScoreCache.get, one.doc_scores_key(ex, opts)),
                          (ScoreCache.get_tokens, one.token_scores_key(ex))]:
            a, b = read(one.cache, key), read(three.cache, key)
            assert (a is None) == (b is None) and (a is None or torch.allclose(a, b, rtol=1e-5, atol=1e-6))


def test_detection_doc_scores_in_batches(retriever, tmp_path):
    examples, opts = _examples(), ScoringOptions()
    ref = list(ExampleScorer(retriever).iter_doc_scores(examples, opts, progress=False))
    cache = ScoreCache(tmp_path)
    ExampleScorer(retriever, cache).doc_scores(examples[3], opts)          # one cached, in the 2nd batch
    batched = ExampleScorer(retriever, cache, batch_size=3)
    got = list(batched.iter_doc_scores(examples, opts, progress=False))
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(ref, got))
    assert batched.forwards == 4 and cache.hits == 1 and cache.misses == 1 + 4


def test_batch_size_is_checked(retriever):
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        ExampleScorer(retriever, batch_size=0)
