"""The cached scorer: options per call (a reentrant retriever), ablations with zero forward passes,
the budget plan against the bytes written, and processes sharing one cache."""
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from organisms import make_examples, planted_model, word_tokenizer
from qrexp import QRRetriever
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.score_cache import ScoreCache, fingerprint
from qrexp.engine.scoring import ScoringOptions
from qrexp.experiment.detect import detect_heads
from qrexp.heads import sets
from qrexp.types import HeadSet

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = [ScoringOptions(), ScoringOptions(calibrate=False, mask_sigma=None),
           ScoringOptions(mask_sigma=1.0), ScoringOptions(calibrate=False, mask_sigma=3.0)]


@pytest.fixture(scope="module")
def model_tok():
    tok = word_tokenizer(220)
    return planted_model(len(tok), layer=0, head=1), tok


def _retriever(model_tok, **kw):
    model, tok = model_tok
    return QRRetriever(model, tok, query_span="query", null_query="w210 w210", **kw)


def test_retriever_is_reentrant(model_tok):
    """Interleaved calls (and two threads) with different options on one retriever give what a
    retriever built with each option alone gives; the options cannot be mutated."""
    shared = _retriever(model_tok)
    ex = make_examples(1, seed=11)[0]
    heads = HeadSet.parse("0-1,1-2", n_layers=2, n_heads=4)
    alone = {o: (_retriever(model_tok, calibrate=o.calibrate, mask_sigma=o.mask_sigma).doc_scores(ex.query, ex.docs),
                 _retriever(model_tok, calibrate=o.calibrate, mask_sigma=o.mask_sigma).headset_scores(ex.query, ex.docs, heads))
             for o in OPTIONS}
    for o in OPTIONS + OPTIONS[::-1]:                                     # interleaved
        assert torch.equal(shared.doc_scores(ex.query, ex.docs, opts=o), alone[o][0])
        assert torch.equal(shared.headset_scores(ex.query, ex.docs, heads, opts=o), alone[o][1])
    with ThreadPoolExecutor(2) as pool:                                   # concurrent
        got = list(pool.map(lambda o: shared.doc_scores(ex.query, ex.docs, opts=o), OPTIONS * 3))
    assert all(torch.equal(g, alone[o][0]) for g, o in zip(got, OPTIONS * 3))
    assert not torch.equal(alone[OPTIONS[0]][0], alone[OPTIONS[1]][0])  # the options matter
    with pytest.raises(AttributeError):
        shared.calibrate = False
    assert shared.calibrate is True and shared.mask_sigma == 2.0


def test_ablations_over_k_objectives_and_head_sources_cost_no_forward(model_tok, tmp_path):
    """One pass per example fills the cache; every later detection objective, k, head source and
    aggregation is scored from it (counted forwards), also by a fresh scorer (another process)."""
    r = _retriever(model_tok)
    examples = make_examples(8, seed=21)
    first = ExampleScorer(r, ScoreCache(tmp_path))
    first.plan_for(examples, ScoringOptions())
    first.rank(examples, None, progress=False)                           # ICR fills both kinds
    assert first.forwards == len(examples)
    for scorer in (first, ExampleScorer(r, ScoreCache(tmp_path))):
        before = scorer.forwards
        dets = {o: detect_heads(scorer, examples, o, k=4, progress=False) for o in ("qrscore", "ndcg10", "recall1")}
        assert all(d.ranked[0][0] == (0, 1) for d in dets.values())
        head_sets = [None, sets.random(4, 0, 2, 4), sets.random(2, 7, 2, 4), HeadSet.parse("0-1", n_layers=2, n_heads=4)]
        head_sets += [sets.top_k(dets["qrscore"].scores, k, "det") for k in (1, 2, 4, 8)]
        runs = {(i, a): scorer.rank(examples, hs, ScoringOptions(aggregation=a), progress=False)
                for i, hs in enumerate(head_sets) for a in ("paper", "per_head")}
        runs["uncal"] = scorer.rank(examples, head_sets[4], ScoringOptions(calibrate=False), progress=False)
        assert scorer.forwards == before                                 # zero forward passes
    gold = {ex.qid: next(iter(ex.gold)) for ex in examples}
    top = lambda run: {q: max(s, key=s.get) for q, s in run.items()}
    assert top(runs[(4, "paper")]) == gold and top(runs[(4, "per_head")]) == gold   # the planted head


def test_over_budget_recomputes_exactly_what_the_plan_says(model_tok, tmp_path):
    r = _retriever(model_tok)
    examples = make_examples(6, seed=31)
    scorer = ExampleScorer(r, ScoreCache(tmp_path))
    full_plan = scorer.plan_for(examples, ScoringOptions())
    one_tokens = full_plan.doc_scores_bytes + full_plan.token_bytes // len(examples)
    tight = ExampleScorer(r, ScoreCache(tmp_path / "tight"), max_bytes=one_tokens + 10)
    plan = tight.plan_for(examples, ScoringOptions())
    assert plan.token_examples == 1 and plan.recomputed == 5
    assert "examples 2-6 of 6 keep no token scores" in plan.describe()
    heads = HeadSet.parse("0-1,1-3", n_layers=2, n_heads=4)
    exact = scorer.rank(examples, heads, progress=False)
    for _ in range(2):                                                   # a second head set / rerun
        assert tight.rank(examples, heads, progress=False) == exact     # same numbers, any budget
    assert tight.forwards == 1 + 2 * plan.recomputed
    tight.rank(examples, heads, ScoringOptions(aggregation="per_head"), progress=False)
    detect_heads(tight, examples, "ndcg10", k=2, progress=False)
    assert tight.forwards == 1 + 2 * plan.recomputed + 5                # DocScores once per example
    assert tight.cache.bytes_on_disk() <= plan.max_bytes


def test_estimate_matches_bytes_written(model_tok, tmp_path):
    """The pre-run estimate is within 10% of the files a small run writes (and never below them)."""
    r = _retriever(model_tok)
    examples = make_examples(10, seed=41)
    for opts, compress in [(ScoringOptions(), False), (ScoringOptions(aggregation="per_head"), False),
                           (ScoringOptions(), True)]:
        cache = ScoreCache(tmp_path / f"{opts.aggregation}-{compress}")
        scorer = ExampleScorer(r, cache, compress=compress)
        plan = scorer.plan_for(examples, opts)
        scorer.rank(examples, None, opts, progress=False)
        written = cache.bytes_on_disk()
        if not compress:
            assert written == plan.total_bytes, (opts.aggregation, written, plan)
        else:                               # zlib: the estimate bounds the files (planted rows: -16%)
            assert 0.75 * plan.total_bytes <= written <= plan.total_bytes, (written, plan)
        assert len(list(cache.root.glob("??/*.scores"))) == len(examples) * (2 if opts.aggregation == "paper" else 1)


WRITER = textwrap.dedent("""
    import sys, torch, warnings
    warnings.simplefilter("error")                       # a torn or foreign file would warn
    from qrexp.engine.cache_records import half_round
    from qrexp.engine.score_cache import ScoreCache, fingerprint
    cache = ScoreCache(sys.argv[1])
    for rep in range(int(sys.argv[2])):
        for i in range(12):
            gen = torch.Generator().manual_seed(i)
            tokens = torch.rand(2, 3, 4, 400 + i, generator=gen)
            key = fingerprint(example=i)
            cache.put_tokens(key, tokens, compress=i % 2 == 0)
            cache.put(fingerprint(example=i, kind="doc"), tokens[0, :, :, :5].permute(2, 0, 1))
            got = cache.get_tokens(fingerprint(example=(i + 5) % 12))
            if got is not None:
                j = (i + 5) % 12
                want = half_round(torch.rand(2, 3, 4, 400 + j, generator=torch.Generator().manual_seed(j)))
                assert torch.equal(got, want), j
    print("ok")
""")


def test_processes_sharing_one_cache_never_corrupt_it(tmp_path):
    """Two processes write the same keys at the same time while reading each other's records."""
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "6"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    cache = ScoreCache(tmp_path)
    assert len(list(tmp_path.glob("??/*.scores"))) == 24 and not list(tmp_path.glob("??/*.tmp"))
    for i in range(12):
        tokens = torch.rand(2, 3, 4, 400 + i, generator=torch.Generator().manual_seed(i))
        assert cache.get_tokens(fingerprint(example=i), (2, 3, 4, 400 + i)) is not None
        assert torch.equal(cache.get(fingerprint(example=i, kind="doc")), tokens[0, :, :, :5].permute(2, 0, 1))
