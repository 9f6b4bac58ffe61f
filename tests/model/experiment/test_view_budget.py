"""The viewer under a score-cache budget (cache.max_gb): examples whose token scores the run's plan
kept are shaded from the cache, the others name the budget recorded in the run's metrics.json
(``extra.cache``) as the reason. The viewer's scorer has no plan of its own; it used to call every
example "too long" and shade none, and then, knowing no budget, to give a generic reason."""
import torch

from organisms import make_examples, planted_model, word_tokenizer
from qrexp import QRRetriever
from qrexp.engine.score_cache import ScoreCache
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions, calibrate, headset_token_scores
from qrexp.experiment.view.tokens import shade_example
from qrexp.types import HeadSet


def test_budgeted_run_shades_the_kept_examples_and_names_the_budget_for_the_rest(tmp_path):
    tok = word_tokenizer(220)
    r = QRRetriever(planted_model(len(tok), layer=0, head=1), tok, query_span="query", null_query="w210 w210")
    examples = make_examples(3, seed=31)
    probe = ExampleScorer(r, ScoreCache(tmp_path / "probe")).plan_for(examples, ScoringOptions())
    budget = probe.doc_scores_bytes + probe.token_bytes // len(examples) + 10       # one example's tokens
    run = ExampleScorer(r, ScoreCache(tmp_path / "cache"), max_bytes=budget)
    plan = run.plan_for(examples, ScoringOptions())
    assert plan.token_examples == 1
    heads = HeadSet.parse("0-1,1-3", n_layers=2, n_heads=4)
    run.rank(examples, heads, progress=False)                   # the evaluation: keeps example 1's tokens

    viewer = ExampleScorer(r, ScoreCache(tmp_path / "cache"))   # the viewer knows no budget, only the record
    pieces = {}
    kept = shade_example(viewer, examples[0], heads, True, pieces)
    assert kept.reason is None
    real, null, _ = r.raw_token_scores(examples[0].query, examples[0].docs, examples[0].qid, ScoringOptions())
    mass = headset_token_scores(calibrate(real, null), [(0, 1), (1, 3)])              # fresh, independent
    prompt = viewer.prompt(examples[0])
    for doc_id, (s, e) in zip(prompt.doc_ids, prompt.doc_spans):
        assert torch.allclose(torch.tensor(kept.values[doc_id]), mass[s:e], rtol=1e-5, atol=1e-7)
    for ex in examples[1:]:
        shown = shade_example(viewer, ex, heads, True, pieces, plan=plan.to_dict())   # metrics.json extra.cache
        assert not shown.values and "too long" not in shown.reason
        assert f"cache.max_gb = {budget / 1e9:.3g} GB) kept them for the first 1 of 3 examples" in shown.reason
        assert "budget" not in shade_example(viewer, ex, heads, True, pieces).reason   # no record: generic
    assert viewer.forwards == 0                                  # the viewer never runs the model
