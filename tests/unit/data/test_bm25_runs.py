"""qrexp.data.bm25_runs writes the TREC run eval=beir reads, with Lucene BM25 scores checked by hand."""
import math
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "beir_tiny"


def test_bm25_run_file_matches_hand_bm25(tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "ird"))
    from qrexp.data.bm25_runs import main
    from qrexp.data.beir import load_qrels
    from qrexp.data.bm25 import analyze
    from qrexp.io.trec import read_trec_run
    main([str(DATA), "--out", str(tmp_path / "runs"), "--hits", "3"])
    run = read_trec_run(tmp_path / "runs" / "bm25.beir-beir_tiny.trec")
    judged = set(load_qrels(str(DATA)))
    assert set(run) <= judged and all(1 <= len(docs) <= 3 for docs in run.values())
    # hand BM25 (Lucene: idf = ln(1 + (N - df + .5) / (df + .5)), k1=0.9, b=0.4) over the same tokens
    import json
    corpus = [json.loads(line) for line in (DATA / "corpus.jsonl").read_text().splitlines() if line.strip()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (DATA / "queries.jsonl").read_text().splitlines())}
    tok = lambda texts: analyze(texts, return_ids=False)       # the Anserini-like analyzer the run uses
    docs = dict(zip((d["_id"] for d in corpus), tok([f"{d['title']} {d['text']}" for d in corpus])))
    avgdl = sum(map(len, docs.values())) / len(docs)
    df = {t: sum(t in toks for toks in docs.values()) for toks in docs.values() for t in toks}
    for qid, ranked in run.items():
        terms = tok([queries[qid]])[0]
        for doc_id, score in ranked.items():
            toks = docs[doc_id]
            hand = sum(math.log(1 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5))
                       * toks.count(t) / (toks.count(t) + 0.9 * (0.6 + 0.4 * len(toks) / avgdl))
                       for t in terms if t in df)
            assert score == pytest.approx(hand, rel=1e-3), (qid, doc_id)
    assert max(run["q1"], key=run["q1"].get) == "d1"          # "solar panels ... electricity"
