"""BM25 with Anserini's settings: the analyzer's tokens, hand-computed Lucene scores with Porter
stemming, the ``bm25`` baseline reading the corpus-level first stage (never a pool re-score), and a
BEIR corpus that repeats an ``_id``."""
import json
import logging
import math
import shutil
from pathlib import Path

import pytest

from qrexp.evals.baselines import BM25Ranker
from qrexp.data.beir import load_beir
from qrexp.data.bm25 import analyze, bm25_candidates
from qrexp.types import Doc, Example

DATA = Path(__file__).parents[2] / "data"


@pytest.fixture(autouse=True)
def irds_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))


def test_analyzer_follows_lucene_english_chain():
    text = "The patient's 1.8 microm2/ms dose didn't reduce e.g. Cancers in 5 mice, 1,000 runners"
    # possessive dropped, "the"/"in" stopped, numbers with "." / "," kept whole, single chars kept,
    # original Porter stems ("reduce" -> "reduc", "ms" -> "m", "cancers" -> "cancer")
    assert analyze([text], return_ids=False) == [[
        "patient", "1.8", "microm2", "m", "dose", "didn't", "reduc", "e.g", "cancer", "5", "mice", "1,000", "runner"]]
    # Porter, not Porter2 ("english" would give "general")
    assert analyze(["generalizations relational"], return_ids=False) == [["gener", "relat"]]
    assert analyze(["cats running"], stemmer=None, return_ids=False) == [["cats", "running"]]


def test_bm25_hand_computed_with_stemming():
    corpus = {"a": "Runners run and running helps", "b": "a runner's shoes", "c": "Cancer cells", "d": "the of"}
    run = bm25_candidates(corpus, {"q": "running"}, k=10)["q"]
    # stemmed tokens: a = [runner, run, run, help] (4), b = [runner, shoe] (2), c = [cancer, cell] (2),
    # d = [] (0): avgdl = 8/4; query term "run": df 1 (doc a, tf 2)
    n, avgdl = 4, 8 / 4
    idf = math.log(1 + (n - 1 + 0.5) / (1 + 0.5))
    expected = idf * 2 / (2 + 0.9 * (1 - 0.4 + 0.4 * 4 / avgdl))
    assert run == pytest.approx({"a": expected}, rel=1e-6)
    runner = bm25_candidates(corpus, {"q": "runners"}, k=10)["q"]
    idf2 = math.log(1 + (n - 2 + 0.5) / (2 + 0.5))
    assert runner == pytest.approx({"a": idf2 * 1 / (1 + 0.9 * (1 - 0.4 + 0.4 * 4 / avgdl)),
                                    "b": idf2 * 1 / (1 + 0.9 * (1 - 0.4 + 0.4 * 2 / avgdl))}, rel=1e-6)


def test_bm25_method_is_the_corpus_first_stage_not_a_pool_rescore():
    exs = load_beir(DATA / "beir_tiny", top_k=2, order="reversed", n_queries=None, truncate_words=3)
    corpus = {}
    for line in (DATA / "beir_tiny" / "corpus.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        corpus[row["_id"]] = f"{row['title']} {row['text']}"
    full = bm25_candidates(corpus, {e.qid: e.query for e in exs}, k=len(corpus))
    ranker = BM25Ranker()
    run = ranker.rank(exs)
    for ex in exs:
        assert run[ex.qid] == {d: full[ex.qid][d] for d in ex.doc_ids}       # corpus statistics, full text
        assert ex.meta["first_stage_source"].startswith("bm25")
        pool = BM25Ranker().rank([Example(ex.qid, ex.query, ex.docs)])[ex.qid]
        assert pool != run[ex.qid]                                           # a 2-doc pool re-score differs
    assert ranker.stats == {"first_stage": len(exs), "own_docs": 0}


def test_bm25_method_uses_a_supplied_run_and_refuses_a_partial_one():
    ex = Example("q", "solar", (Doc("d1", "x"), Doc("d2", "y")), meta={"first_stage": {"d1": 3.5, "d2": 7.25}})
    assert BM25Ranker().rank([ex]) == {"q": {"d1": 3.5, "d2": 7.25}}
    bad = Example("q", "solar", (Doc("d1", "x"), Doc("d2", "y")), meta={"first_stage": {"d1": 3.5}})
    with pytest.raises(ValueError, match=r"example q: meta\['first_stage'\] lacks candidate\(s\) \['d2'\]"):
        BM25Ranker().rank([bad])


def test_beir_corpus_with_a_repeated_id_is_refused(tmp_path):
    folder = tmp_path / "dup"
    shutil.copytree(DATA / "beir_tiny", folder)
    lines = (folder / "corpus.jsonl").read_text("utf-8").splitlines()
    again = json.loads(lines[0]) | {"text": "a different text under the same id"}
    (folder / "corpus.jsonl").write_text("\n".join([*lines, json.dumps(again)]) + "\n", "utf-8")
    with pytest.raises(ValueError, match=rf"corpus.jsonl line {len(lines) + 1} \(_id=d1\): duplicate _id "
                                         r"\(first on line 1\)"):
        load_beir(folder, n_queries=None)


def test_beir_qrels_judging_a_pair_twice_is_refused(tmp_path):
    folder = tmp_path / "dupq"
    shutil.copytree(DATA / "beir_tiny", folder)
    qrels = folder / "qrels" / "test.tsv"
    lines = qrels.read_text("utf-8").splitlines()
    q, d, _ = lines[1].split("\t")
    qrels.write_text("\n".join([*lines, f"{q}\t{d}\t0"]) + "\n", "utf-8")
    with pytest.raises(ValueError, match=rf"test.tsv line {len(lines) + 1}: query {q} judges doc {d} again "
                                         r"\(first on line 2\)"):
        load_beir(folder, n_queries=None)


def test_bm25s_debug_lines_stay_out_of_the_run_log(caplog):
    """bm25s sets its logger to DEBUG and logs every index build; a run's log (Hydra's root handlers,
    here caplog at DEBUG) gets none of it."""
    caplog.set_level(logging.DEBUG)
    run = bm25_candidates({"d1": "a cat sat", "d2": "a dog ran"}, {"q": "cat"}, k=2)
    assert list(run["q"]) == ["d1"]
    assert not [r for r in caplog.records if r.name.startswith("bm25s") and r.levelno < logging.WARNING]
