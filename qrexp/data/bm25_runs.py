"""First-stage BM25 runs for BEIR re-ranking, written by qrexp itself (Anserini-style BM25 on bm25s).

    python -m qrexp.data.bm25_runs nq scifact --out data/runs --hits 200

writes ``data/runs/bm25.beir-<name>.trec`` (the file ``eval=beir`` reads) for each BEIR source (a
short name, an ir_datasets id or a local BEIR folder): the whole corpus indexed as "title text"
(pyserini's "flat" BEIR indexes), scored by :func:`qrexp.data.bm25.bm25_candidates` (Lucene
BM25, k1=0.9, b=0.4, Lucene's stop words, Porter stemming), top ``--hits`` per test query with at
least one judgement. The numbers are close
to, not identical with, pyserini's prebuilt runs (tokenizers differ); the README gives the pyserini
command for the paper's exact runs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from qrexp.data.beir import dataset_id
from qrexp.data.bm25 import bm25_candidates
from qrexp.io.trec import write_trec_run


def bm25_run(source: str, hits: int = 200, progress: bool = True) -> dict[str, dict[str, float]]:
    """{qid: {doc_id: score}} top-``hits`` BM25 over the whole corpus of ``source`` (judged test queries)."""
    import ir_datasets

    ds = ir_datasets.load(dataset_id(source))
    judged = {str(q.query_id) for q in ds.qrels_iter()}
    queries = {str(q.query_id): q.text for q in ds.queries_iter() if str(q.query_id) in judged}
    corpus = {str(d.doc_id): f"{getattr(d, 'title', '') or ''} {d.text}".strip() for d in ds.docs_iter()}
    return bm25_candidates(corpus, queries, k=hits, progress=progress)


def run_name(source: str) -> str:
    """``bm25.beir-<name>.trec``: the name eval=beir expects (the folder name for a local folder)."""
    return f"bm25.beir-{Path(source).name if Path(source).is_dir() else source.replace('/', '-')}.trec"


def main(argv: list[str] | None = None) -> None:
    """CLI: write one TREC run per source under ``--out`` (atomically) and print its path."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="+", help="BEIR short names (nq, scifact, ...), ir_datasets ids or folders")
    ap.add_argument("--out", default="data/runs", help="output folder (default data/runs = ${data_dir}/runs)")
    ap.add_argument("--hits", type=int, default=200)
    args = ap.parse_args(argv)
    for source in args.sources:
        path = write_trec_run(bm25_run(source, args.hits), Path(args.out) / run_name(source), tag="qrexp-bm25s")
        print(f"{source}: {path}")


if __name__ == "__main__":
    main()
