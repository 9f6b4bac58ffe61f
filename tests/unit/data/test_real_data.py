"""Opt-in checks on the complete public files (skipped unless QREXP_REAL_DATA names a folder).

Layout of $QREXP_REAL_DATA (where each file comes from: tests/data/README.md):
  scifact/corpus.jsonl, scifact/queries.jsonl, scifact/qrels/test.tsv   BEIR SciFact (test split)
  clipper/data/books/<book>/<k>.txt, clipper/data/output/<book>/claims/claims_*.csv
                                                                       CLIPPER's public repository
Run: QREXP_REAL_DATA=/path/to/real python -m pytest tests/unit/data/test_real_data.py
"""
import os
from pathlib import Path

import pytest

from qrexp.evals.baselines import BM25Ranker
from qrexp.evals.metrics import evaluate_run
from qrexp.data.beir import load_beir

REAL = os.environ.get("QREXP_REAL_DATA")
pytestmark = pytest.mark.skipif(not REAL, reason="QREXP_REAL_DATA not set (opt-in checks on full public files)")


def _folder(name: str) -> Path:
    folder = Path(REAL or "") / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return folder


def test_scifact_bm25_matches_anserini(tmp_path, monkeypatch):
    """Anserini's flat BEIR index, BM25 k1=0.9 b=0.4, SciFact test: nDCG@10 0.6789, R@100 0.925."""
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    exs = load_beir(_folder("scifact"), top_k=100, n_queries=None, truncate_words=None, order="bm25")
    assert len(exs) == 300 and sum(len(e.meta["qrels"]) for e in exs) == 339
    run = BM25Ranker().rank(exs)
    qrels = {e.qid: e.meta["qrels"] for e in exs}
    _, mean = evaluate_run(run, qrels, ["ndcg_cut_10", "recall_100"], missing="zero")
    print(f"SciFact BM25: nDCG@10 {mean['ndcg_cut_10']:.4f}, R@100 {mean['recall_100']:.4f}")
    assert mean["ndcg_cut_10"] == pytest.approx(0.6789, abs=0.005)
    assert mean["recall_100"] == pytest.approx(0.925, abs=0.01)


def test_clipper_repository_claims_and_books_load():
    """Every paired claim of CLIPPER's repository (data/output/*/claims/claims_{single,multiple}.csv)
    loads with gold chapters from ``source``, and no chapter keeps the UTF-8 BOM that 309 books carry."""
    import warnings

    from qrexp.data.clipper import load_clipper
    root = _folder("clipper") / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exs = load_clipper(root / "output", root / "books")
    books = {e.meta["book"] for e in exs}
    print(f"CLIPPER repository: {len(exs)} claim pairs from {len(books)} books")
    no_gold = [e for e in exs if not e.gold]
    assert len(exs) > 6000 and len(no_gold) <= 2          # one record of the snapshot has an empty source
    assert {e.meta["no_gold"] for e in no_gold} <= {"empty 'source'"}
    firsts = [min((root / "books" / b).glob("*.txt"), key=lambda f: int(f.stem)) for b in books]   # "1.txt", "01.txt"
    boms = sum(f.read_bytes().startswith(b"\xef\xbb\xbf") for f in firsts)
    print(f"chapter 1 starts with a BOM in {boms} of {len(books)} books")
    assert boms > 100
    assert not any(d.text.startswith("\ufeff") for e in exs for d in e.docs)
