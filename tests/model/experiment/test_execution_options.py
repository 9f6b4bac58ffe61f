"""scoring.prefill_chunk and scoring.batch_size change how the passes run, never the numbers: an
evaluation with them set writes the rankings and metrics of one with the defaults (scores to 1e-5),
under the same run id and score-cache keys (tiny random Llama, the fixture BEIR data)."""
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from qrexp.experiment.config import from_hydra, to_dict
from qrexp.experiment.context import cache_dir, scorer_of, scoring_options
from qrexp.experiment.data import load_data
from qrexp.experiment.evaluate import eval_id, evaluate
from qrexp.types import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def _cfg(tiny_dir, out, *extra):
    """The composed config (tiny model; ``extra`` overrides, else the fixture BEIR evaluation)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return from_hydra(compose("config", overrides=[
            f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]", "model=tiny", f"model.path={tiny_dir}",
            f"out_dir={out}", "progress=false", *(extra or ["eval=fixture_beir"])]))


def _trec(folder):
    """{qid: [(doc, score)]} in file order (the evaluated ranking)."""
    out = {}
    for line in (folder / "run.trec").read_text().splitlines():
        qid, _, doc, _, score, _ = line.split()
        out.setdefault(qid, []).append((doc, float(score)))
    return out


def _same_run(a, b):
    """Run folders ``a`` and ``b`` rank every query alike, scores to 1e-5, and have equal metrics."""
    ra, rb = _trec(a), _trec(b)
    assert ra.keys() == rb.keys()
    for qid in ra:
        assert [d for d, _ in ra[qid]] == [d for d, _ in rb[qid]], qid          # same ranking
        for (_, x), (_, y) in zip(ra[qid], rb[qid]):
            assert y == pytest.approx(x, rel=1e-5, abs=1e-6), qid
    ma, mb = (json.loads((f / "metrics.json").read_text())["metrics"] for f in (a, b))
    assert ma.keys() == mb.keys() and all(mb[k] == pytest.approx(ma[k], abs=1e-9) for k in ma)


@pytest.fixture(autouse=True)
def _test_data(monkeypatch):
    monkeypatch.setenv("QREXP_TEST_DATA", str(ROOT / "tests" / "data"))


def test_prefill_chunk_changes_no_score_and_no_id(tiny_dir, tmp_path):
    base, chunked = _cfg(tiny_dir, tmp_path / "a"), _cfg(tiny_dir, tmp_path / "b", "eval=fixture_beir",
                                                                 "scoring.prefill_chunk=7")
    assert chunked.scoring.prefill_chunk == 7 and base.scoring.prefill_chunk is None
    assert "prefill_chunk" not in to_dict(chunked.scoring)                  # not hashed anywhere
    assert eval_id(chunked, "icr") == eval_id(base, "icr")
    ex = load_data(base.eval.data, cache_dir(base), base.seed)[0]
    sb, sc = scorer_of(base), scorer_of(chunked)
    assert sc.retriever.prefill_chunk == 7 and len(sc.prompt(ex).input_ids) > 3 * 7   # several chunks
    assert sc.doc_scores_key(ex, scoring_options(chunked)) == sb.doc_scores_key(ex, scoring_options(base))
    assert sc.token_scores_key(ex) == sb.token_scores_key(ex)
    for cfg in (base, chunked):
        evaluate(cfg, "icr", log=lambda s: None)
    rid = eval_id(base, "icr")
    _same_run(tmp_path / "a" / "runs" / rid, tmp_path / "b" / "runs" / rid)


@pytest.mark.parametrize("setting, message", [("scoring.prefill_chunk=0", "scoring.prefill_chunk=0: must be >= 1"),
                                              ("scoring.batch_size=0", "scoring.batch_size=0: must be >= 1")])
def test_execution_options_are_checked(setting, message, tiny_dir, tmp_path):
    with pytest.raises(ConfigError, match=message):
        _cfg(tiny_dir, tmp_path, setting)


@pytest.mark.parametrize("method", ["icr", "icr-uncal"])
def test_batch_size_changes_no_score_and_no_id(method, tiny_dir, tmp_path):
    """Four LongMemEval fixture questions in batches of 3 (prompts of different lengths), one of the
    first batch cached beforehand."""
    lme = ["eval=fixture_lme", "eval.qa.enabled=false"]
    base, batched = _cfg(tiny_dir, tmp_path / "a", *lme), _cfg(tiny_dir, tmp_path / "b", *lme, "scoring.batch_size=3")
    assert eval_id(batched, method) == eval_id(base, method)
    examples = load_data(base.eval.data, cache_dir(base), base.seed)
    warm = scorer_of(batched)
    assert len({len(warm.prompt(ex).input_ids) for ex in examples}) == len(examples) == 4
    warm.rank(examples[1:2], None, scoring_options(batched), progress=False)     # cached before
    assert scorer_of(batched).batch_size == 3
    rows = {}
    for cfg in (base, batched):         # rows per forward: batch 1 = real + null continuation
        seen = rows.setdefault(cfg.scoring.batch_size, [])
        hook = warm.retriever.model.register_forward_pre_hook(      # the one model of this process
            lambda mod, args, kw: seen.append(kw["input_ids"].shape[0]), with_kwargs=True)
        try:
            evaluate(cfg, method, log=lambda s: None)
        finally:
            hook.remove()
    # the evaluation really batches (through its per-query journal): the first batch holds the two
    # uncached questions of examples 1-3, so 4 continuation rows in one forward
    assert max(rows[1]) == 2 and max(rows[3]) == 4, rows
    rid = eval_id(base, method)
    _same_run(tmp_path / "a" / "runs" / rid, tmp_path / "b" / "runs" / rid)
    forwards = [json.loads((tmp_path / f / "runs" / rid / "metrics.json").read_text())["extra"]["forwards"]
                for f in "ab"]
    assert forwards == [4, 3]                           # the cached query is read, not recomputed
