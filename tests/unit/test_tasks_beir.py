"""BEIR loader: local folder through ir_datasets offline, run candidates, protocol fields, BM25, TREC files."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qrexp.data.beir import (BEIR_IDS, bm25_candidates, load_beir, load_qrels, order_candidates,
                              sample_queries, truncate_text)
from qrexp.io.trec import read_trec_run, write_trec_run
from qrexp.types import rank_by_score

DATA = Path(__file__).parents[1] / "data"
FOLDER, RUN = DATA / "beir_tiny", DATA / "beir_tiny.run"
QRELS = {"q1": {"d1": 2, "d4": 1, "d3": 0}, "q2": {"d5": 1, "d6": 0}, "q3": {"d8": 0}}


@pytest.fixture(autouse=True)
def irds_home(tmp_path, monkeypatch):
    home = tmp_path / "irds"
    monkeypatch.setenv("IR_DATASETS_HOME", str(home))
    return home


def test_local_folder_offline_with_store_in_home(irds_home):
    before = sorted(p.name for p in FOLDER.rglob("*"))
    assert load_qrels(FOLDER) == QRELS
    load_beir(FOLDER, run=RUN)
    assert list(irds_home.glob("beir/local/beir_tiny-*/docs.pklz4"))       # doc store built in the temp home
    assert sorted(p.name for p in FOLDER.rglob("*")) == before              # fixture folder untouched


def test_run_candidates_gold_and_meta():
    exs = load_beir(FOLDER, run=RUN, top_k=3, order="bm25")
    assert [e.qid for e in exs] == ["q1", "q2"]          # q3 has no qrel > 0
    q1, q2 = exs
    assert q1.doc_ids == ["d1", "d4", "d2"]              # d2 ties d3 at 7.0 and wins on doc id
    assert q1.gold == {"d1", "d4"} and q2.gold == {"d5"}
    assert q1.query == "how do solar panels make electricity"
    assert q1.meta["qrels"] == QRELS["q1"]
    assert q1.meta["first_stage"] == {"d1": 12.5, "d4": 9.25, "d2": 7.0}
    assert q1.docs[0].title == "Solar panels"
    assert q1.docs[0].text == "Solar panels convert sunlight into electricity using photovoltaic cells made of silicon."


def test_reversed_is_the_default_order():
    q1, q2 = load_beir(FOLDER, run=RUN, top_k=3)
    assert q1.doc_ids == ["d2", "d4", "d1"] and q2.doc_ids == ["d7", "d5", "d6"]


def test_shuffled_is_deterministic_per_seed():
    a = load_beir(FOLDER, run=RUN, top_k=4, order="shuffled", order_seed=3)
    b = load_beir(FOLDER, run=RUN, top_k=4, order="shuffled", order_seed=3)
    assert [e.doc_ids for e in a] == [e.doc_ids for e in b]
    assert sorted(a[0].doc_ids) == ["d1", "d2", "d3", "d4"]
    seen = {tuple(order_candidates(["a", "b", "c", "d"], "shuffled", s, "q1")) for s in range(10)}
    assert len(seen) > 1
    assert order_candidates(["a", "b", "c", "d"], "shuffled", 3, "q1") == \
        order_candidates(["a", "b", "c", "d"], "shuffled", 3, "q1")
    with pytest.raises(ValueError, match="unknown candidate order 'random'"):
        load_beir(FOLDER, run=RUN, order="random")


def test_truncation_to_n_words_keeps_title_and_spacing():
    q2 = load_beir(FOLDER, run=RUN, order="bm25", truncate_words=6)[1]
    assert q2.docs[1].text == "A French press brews coffee by" and q2.docs[1].title == "Coffee brewing"
    text = "The first bicycles had no pedals:  riders pushed   along"
    assert truncate_text(text, 7) == "The first bicycles had no pedals:  riders"
    assert truncate_text(text, 9) == text and truncate_text(text, 50) == text
    assert truncate_text("  one two  ", 1) == "  one"
    assert truncate_text(text, None) == text
    with pytest.raises(ValueError):
        truncate_text(text, 0)


def test_query_sampling_is_seeded():
    ids = [f"q{i}" for i in range(20)]
    s = sample_queries(ids, 5, seed=42)
    assert s == sample_queries(list(reversed(ids)), 5, seed=42)     # input order does not matter
    assert len(s) == 5 and s == sorted(s) and set(s) <= set(ids)
    assert sample_queries(ids, 5, seed=7) != s
    assert sample_queries(ids, 50, seed=42) == sorted(ids) and sample_queries(ids, None, 0) == sorted(ids)
    one = load_beir(FOLDER, run=RUN, n_queries=1, seed=42)
    assert [e.qid for e in one] == sample_queries(["q1", "q2"], 1, 42)
    assert [e.qid for e in load_beir(FOLDER, run=RUN, n_queries=1, seed=42)] == [e.qid for e in one]


def test_bm25_candidates_without_run():
    exs = load_beir(FOLDER, top_k=3, order="bm25")
    assert exs[1].doc_ids[0] == "d5"
    assert exs[0].doc_ids[0] == "d1"


def test_bm25s_top_doc_on_toy_corpus():
    corpus = {"a": "the cat sat on the mat", "b": "dogs chase cats in the park",
              "c": "quantum physics of black holes", "d": "a french press makes strong coffee"}
    run = bm25_candidates(corpus, {"q1": "black holes", "q2": "french press coffee", "q3": "zebra"}, k=10)
    assert rank_by_score(run["q1"])[0] == "c" and set(run["q1"]) == {"c"}        # zero-score docs left out
    assert rank_by_score(run["q2"]) == ["d"] and run["q3"] == {}
    assert all(s > 0 for s in run["q2"].values())


def test_trec_run_reads_and_round_trips(tmp_path):
    run = read_trec_run(RUN)
    assert run["q1"] == {"d1": 12.5, "d4": 9.25, "d3": 7.0, "d2": 7.0}
    assert rank_by_score(run["q1"]) == ["d1", "d4", "d2", "d3"]
    run["q9"] = {"x": 0.1 + 0.2, "y": -1e-300}
    write_trec_run(run, tmp_path / "out.run", tag="qrexp")
    back = read_trec_run(tmp_path / "out.run")
    # float32 scores come back exactly, doubles as their float32 (trec_eval's precision); the d2/d3
    # tie is written one float32 step apart, in our order
    f32 = lambda x: float(np.float32(x))
    assert back["q9"] == {"x": f32(0.1 + 0.2), "y": 0.0}
    assert back["q1"] == {"d1": 12.5, "d4": 9.25, "d2": 7.0, "d3": 7.0 - 2.0 ** -21}
    lines = (tmp_path / "out.run").read_text().splitlines()
    assert lines[:4] == ["q1 Q0 d1 1 12.5 qrexp", "q1 Q0 d4 2 9.25 qrexp",
                         "q1 Q0 d2 3 7.0 qrexp", "q1 Q0 d3 4 6.999999523162842 qrexp"]
    with pytest.raises(ValueError, match="tag"):
        write_trec_run(run, tmp_path / "o2.run", tag="two words")


@pytest.mark.parametrize("line, message", [
    ("q1 Q0 d9 5 7.0", "line 3: expected 6 fields 'qid Q0 docid rank score tag', got 5"),
    ("q1 Q0 d9 5 high tag", "line 3 (qid=q1): field 'score' is not a number: 'high'"),
    ("q1 Q0 d1 5 1.0 tag", "line 3 (qid=q1): doc 'd1' listed twice"),
])
def test_malformed_run_lines(tmp_path, line, message):
    p = tmp_path / "bad.run"
    p.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\n" + line + "\n")
    with pytest.raises(ValueError) as info:
        read_trec_run(p)
    assert str(info.value) == f"{p} {message}"


def _copy(tmp_path):
    dst = tmp_path / "beir_copy"
    shutil.copytree(FOLDER, dst)
    return dst


def test_malformed_corpus_and_qrels(tmp_path):
    bad = _copy(tmp_path)
    lines = (bad / "corpus.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    del row["text"]
    lines[2] = json.dumps(row)
    (bad / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as info:
        load_qrels(bad)
    assert str(info.value) == f"{bad / 'corpus.jsonl'} line 3 (_id=d3): missing or non-string field 'text'"
    bad2 = _copy(tmp_path / "two")
    (bad2 / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    with pytest.raises(ValueError, match=r"test\.tsv line 1: expected the header"):
        load_qrels(bad2)
    bad3 = _copy(tmp_path / "three")
    (bad3 / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tyes\n")
    with pytest.raises(ValueError, match=r"test\.tsv line 2: expected 'query-id corpus-id score'"):
        load_qrels(bad3)


def test_run_doc_missing_from_corpus(tmp_path):
    p = tmp_path / "x.run"
    p.write_text("q1 Q0 d1 1 3.0 t\nq1 Q0 ghost 2 2.0 t\n")
    with pytest.raises(ValueError, match=r"x\.run \(qid=q1\): doc\(s\) \['ghost'\] not in the corpus"):
        load_beir(FOLDER, run=p)


def test_short_names_are_registered_ir_datasets_ids():
    import ir_datasets
    assert set(BEIR_IDS) == {"nq", "trec-covid", "nfcorpus", "fiqa", "scifact", "scidocs", "fever",
                             "climate-fever", "dbpedia-entity"}
    for did in BEIR_IDS.values():
        assert ir_datasets.load(did).has_qrels(), did
    with pytest.raises(KeyError, match="unknown BEIR source 'nqq'"):
        load_qrels("nqq")


def test_short_name_reads_a_preseeded_cache_offline(tmp_path):
    """ir_datasets fixes BEIR cache paths at import, so this runs in a fresh interpreter."""
    home = tmp_path / "seeded"
    (home / "beir" / "scifact").mkdir(parents=True)
    with zipfile.ZipFile(home / "beir" / "scifact" / "source.zip", "w") as zf:
        for rel in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
            zf.write(FOLDER / rel, f"scifact/{rel}")
    code = ("import json; from qrexp.data.beir import load_beir, load_qrels; "
            f"exs = load_beir('scifact', run={str(RUN)!r}, top_k=2, order='bm25'); "
            "print(json.dumps([load_qrels('scifact'), [[e.qid, e.doc_ids] for e in exs]]))")
    env = dict(os.environ, IR_DATASETS_HOME=str(home), IR_DATASETS_DL_TRIES="1", IR_DATASETS_DL_TIMEOUT="5")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    qrels, exs = json.loads(out.stdout.strip().splitlines()[-1])
    assert qrels == QRELS and exs == [["q1", ["d1", "d4"]], ["q2", ["d6", "d5"]]]


def test_run_dict_is_accepted_and_normalised():
    (ex,) = load_beir(FOLDER, run={"q1": {"d1": 3, "d3": 1}, "q404": {"d2": 1.0}}, order="bm25")
    assert ex.doc_ids == ["d1", "d3"] and ex.gold == {"d1"}
    assert ex.meta["first_stage"] == {"d1": 3.0, "d3": 1.0}
    assert all(isinstance(v, float) for v in ex.meta["first_stage"].values())


def test_sample_queries_excludes_a_detection_sample():
    from qrexp.data.beir import sample_queries
    qids = [f"q{i}" for i in range(40)]
    detect = sample_queries(qids, 16, seed=7)
    held_out = sample_queries(qids, 24, seed=42, exclude_n=16, exclude_seed=7)
    assert len(detect) == 16 and len(held_out) == 24 and not set(detect) & set(held_out)
    assert sorted(detect + held_out) == sorted(qids)
