"""The method table and the head-source registry: every method resolves to a source or a ranker, a
new method with a new head source is one entry each (no other file touched), and the chance ranker
is the seeded draw it always was."""
import random
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from qrexp.engine.retriever import QRRetriever
from qrexp.experiment.config import from_hydra
from qrexp.experiment.config_values import HEAD_SOURCES
from qrexp.experiment.context import cache_dir, model_of
from qrexp.experiment.data import load_data
from qrexp.experiment.evaluate import eval_config, eval_id, evaluate
from qrexp.experiment.methods import ATTENTION, CONFIGURED, METHODS, TABLE, ChanceRanker, Method, runs_qa
from qrexp.heads.sources import SOURCES, HeadRequest, source
from qrexp.types import Doc, Example, HeadSet

ROOT = Path(__file__).resolve().parents[3]


def test_every_method_has_exactly_one_way_to_rank():
    assert list(METHODS.names()) == sorted(TABLE)
    for name, m in TABLE.items():
        assert (m.heads is not None) + (m.ranker is not None) <= 1, name
        if m.heads not in (None, CONFIGURED):
            assert m.heads in SOURCES, name
    assert TABLE["chance"].ranker is not None and TABLE["full-context"].answers_only
    assert TABLE["icr-uncal"].scoring == {"calibrate": False} and TABLE["icr"].heads == "full"
    assert set(SOURCES.names()) == set(HEAD_SOURCES)        # the config accepts exactly the registry


def test_chance_ranker_is_the_seeded_draw():
    exs = [Example("q1", "?", (Doc("a", "x"), Doc("b", "y"))), Example("q2", "?", (Doc("c", "z"),))]
    rng = random.Random("chance-7")
    expected = {"q1": {"a": rng.random(), "b": rng.random()}, "q2": {"c": rng.random()}}
    assert ChanceRanker(7).rank(exs) == expected


def test_head_sources_build_from_a_request():
    req = HeadRequest(n_layers=3, n_heads=4, k=2, seed=1, heads="0-1,2-3")
    assert SOURCES.get("full").build(req) is None
    assert SOURCES.get("explicit").build(req).heads == ((0, 1), (2, 3))
    drawn = SOURCES.get("random").build(req)
    assert len(drawn) == 2 and list(drawn.heads) == sorted(drawn.heads)
    with pytest.raises(ValueError, match="needs model.published_key"):
        SOURCES.get("published").build(req)


@pytest.fixture
def plugin():
    """A head source and a method registered by a test: the last two heads of layer 0, uncalibrated."""
    @source("test-last-heads", spec=("k",))
    def last(req: HeadRequest) -> HeadSet:
        return HeadSet("last", tuple((0, h) for h in range(req.n_heads - req.k, req.n_heads)),
                       req.n_layers, req.n_heads)
    METHODS.register("test-last")(Method("test only", heads="test-last-heads", scoring={"calibrate": False},
                                         depends_on=ATTENTION))
    yield
    METHODS._items.pop("test-last")
    SOURCES._items.pop("test-last-heads")


def test_one_entry_adds_a_method_with_a_new_head_source(plugin, tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("QREXP_TEST_DATA", str(ROOT / "tests" / "data"))
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = from_hydra(compose("config", overrides=[
            f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]", "model=tiny", f"model.path={tiny_dir}",
            "eval=fixture_beir", f"out_dir={tmp_path}", "progress=false", "model.k=2",
            "eval.methods=[test-last,icr-uncal]"]))
    sem = eval_config(cfg, "test-last")
    assert sem["heads"] == {"source": "test-last-heads", "k": 2} and sem["scoring"]["calibrate"] is False
    assert not runs_qa(cfg, "test-last") and "qa" not in sem["eval"]
    assert eval_id(cfg, "test-last").startswith("fixture-beir-test-last-")
    evaluate(cfg, "test-last", log=lambda s: None)
    folder = tmp_path / "runs" / eval_id(cfg, "test-last")
    n_heads = model_of(cfg.model)[0].config.num_attention_heads
    assert (folder / "heads.txt").read_text() == f"0-{n_heads - 2},0-{n_heads - 1}\n"
    # the written ranking is the engine's own uncalibrated score with those heads (a fresh retriever,
    # no score cache), for the first query as the run file orders it
    model, tok = model_of(cfg.model)
    r = QRRetriever(model, tok, heads=f"0-{n_heads - 2},0-{n_heads - 1}", calibrate=False)
    lines = [line.split() for line in (folder / "run.trec").read_text().splitlines()]
    qid = lines[0][0]
    ex = next(e for e in load_data(cfg.eval.data, cache_dir(cfg), cfg.seed) if e.qid == qid)
    scores = r.score_docs(ex.query, ex.docs)
    written = [d for q, _, d, *_ in lines if q == qid]
    expected = sorted((d for d in scores if d != qid), key=lambda d: (-scores[d], d))
    assert written == expected
