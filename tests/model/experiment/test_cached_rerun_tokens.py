"""A rerun on a filled score cache tokenizes each prompt once: the window check's tokenization is the
one the cache keys read (the real prompt), plus the null-query prompt the keys also hash; no forward."""
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from organisms import make_examples, planted_model, word_tokenizer
from qrexp import QRRetriever
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.window import fit_window, prompt_length
from qrexp.types import Doc, Example

from qrexp.experiment.config import from_hydra
from qrexp.experiment.context import model_of
from qrexp.experiment.evaluate import eval_id, evaluate

ROOT = Path(__file__).resolve().parents[3]


def _cfg(tiny_dir, out, cache):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return from_hydra(compose("config", overrides=[
            f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]", "model=tiny", f"model.path={tiny_dir}",
            "eval=fixture_lme", "eval.qa.enabled=false", f"out_dir={out}", f"cache_dir={cache}", "progress=false"]))


def test_cached_rerun_tokenizes_each_prompt_once(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("QREXP_TEST_DATA", str(ROOT / "tests" / "data"))
    first, again = _cfg(tiny_dir, tmp_path / "a", tmp_path / "cache"), _cfg(tiny_dir, tmp_path / "b", tmp_path / "cache")
    evaluate(first, "icr", log=lambda s: None)
    tok = model_of(again.model)[1]
    calls = []
    cls = type(tok)
    original = cls.__call__
    monkeypatch.setattr(cls, "__call__", lambda self, text, *a, **k: calls.append(text) or original(self, text, *a, **k))
    evaluate(again, "icr", log=lambda s: None)
    monkeypatch.setattr(cls, "__call__", original)
    rid = eval_id(first, "icr")
    record = json.loads((tmp_path / "b" / "runs" / rid / "metrics.json").read_text())
    n = record["n"]
    assert record["extra"]["forwards"] == 0
    assert len(calls) == 2 * n and len(set(calls)) == 2 * n        # real + null prompt, once each
    assert (tmp_path / "a" / "runs" / rid / "run.trec").read_bytes() == (tmp_path / "b" / "runs" / rid / "run.trec").read_bytes()


def test_window_length_from_the_scorer_equals_the_tokenizer_count():
    """The scorer's prompt_length is the window module's count; a prompt over the window is measured,
    not kept (scoring it still raises), so the window check decides what happens to it."""
    tok = word_tokenizer(220)
    r = QRRetriever(planted_model(len(tok), max_len=120), tok, query_span="query", null_query="w210 w210")
    scorer = ExampleScorer(r)
    short, long = make_examples(2, seed=1)
    docs = tuple(Doc(f"{d.doc_id}-{i}", d.text) for i in range(3) for d in long.docs)
    long = Example(long.qid, long.query, docs, set())                            # 18 documents
    for ex in (short, long):
        assert scorer.prompt_length(ex) == prompt_length(r.builder, ex.query, ex.docs)
    assert scorer.prompt_length(short) <= 120 < scorer.prompt_length(long)
    assert len(scorer.prompt(short).input_ids) == scorer.prompt_length(short)
    with pytest.raises(ValueError, match="more than the model's context window of 120"):
        scorer.prompt(long)
    with pytest.raises(ValueError, match="1 of 2 prompts exceed the model's window of 120"):
        fit_window([short, long], r.builder, 120, log=lambda s: None, progress=False, length=scorer.prompt_length)
