"""BEIR re-ranking examples: queries, first-stage candidates and qrels -> one Example per query.

``source`` is a short name (``BEIR_IDS``), any ir_datasets id, or a local BEIR folder
(corpus.jsonl, queries.jsonl, qrels/<split>.tsv) that is checked and registered with ir_datasets'
own BEIR parsers and read from disk only (:mod:`qrexp.data.beir_local`; its doc store goes under
$IR_DATASETS_HOME). Candidates come from a
TREC run file, a Run dict, or, when none is given, BM25 over the whole corpus with Anserini's settings
(:mod:`qrexp.data.bm25`); ``meta["first_stage"]`` keeps those scores for the ``bm25`` baseline.
A corpus or queries file repeating an ``_id`` is refused.

Protocol (the paper's defaults): queries with at least one relevant (qrel > 0) judgement, present in
the queries file and, for a given run, in the run; ``n_queries`` of them sampled with ``seed``
(``random.Random(seed).sample`` over the sorted ids; all when fewer); the ``top_k`` best candidates
(score desc, doc id asc), text cut to ``truncate_words`` whitespace words (title kept), presented in
``order``: "bm25" (run order), "reversed", or "shuffled" (``random.Random(f"{order_seed}:{qid}")``,
``order_seed`` defaulting to ``seed``).
Gold = candidates with qrel > 0; ``meta["qrels"]`` keeps every judgement of the query.
"""
from __future__ import annotations

import os
import random
import re
from itertools import islice
from pathlib import Path
from typing import Any, Mapping

from qrexp.data.beir_local import register_local_beir
from qrexp.data.bm25 import bm25_candidates
from qrexp.io.trec import read_trec_run
from qrexp.types import Doc, Example, Qrels, rank_by_score

BEIR_IDS = {
    "nq": "beir/nq",
    "trec-covid": "beir/trec-covid",
    "nfcorpus": "beir/nfcorpus/test",
    "fiqa": "beir/fiqa/test",
    "scifact": "beir/scifact/test",
    "scidocs": "beir/scidocs",
    "fever": "beir/fever/test",
    "climate-fever": "beir/climate-fever",
    "dbpedia-entity": "beir/dbpedia-entity/test",
}
ORDERS = ("bm25", "reversed", "shuffled")
_WORD = re.compile(r"\S+")
_LOCAL_STAMP = re.compile(r"^(local-beir/.+)-[0-9a-f]{10}(?=/)")   # the path/mtime digest: not data identity


def truncate_text(text: str, n: int | None) -> str:
    """The first ``n`` whitespace-separated words of ``text``, original spacing kept (None: all)."""
    if n is None:
        return text
    if n <= 0:
        raise ValueError(f"truncate_words must be positive or None, got {n}")
    last = None
    for last in islice(_WORD.finditer(text), n):
        pass
    if last is None or _WORD.search(text, last.end()) is None:
        return text
    return text[:last.end()]


def dataset_id(source: str | os.PathLike, split: str = "test") -> str:
    """Resolve a short name, a local BEIR folder or an ir_datasets id (in that order) to an id."""
    if isinstance(source, str) and source in BEIR_IDS:
        return BEIR_IDS[source]
    if Path(source).is_dir():
        return register_local_beir(source, split)
    return str(source)


def _load(source: str | os.PathLike, split: str) -> tuple[str, Any]:
    import ir_datasets
    did = dataset_id(source, split)
    try:
        ds = ir_datasets.load(did)
    except KeyError:
        raise KeyError(f"unknown BEIR source {str(source)!r}: not a short name ({', '.join(BEIR_IDS)}), "
                       "a BEIR folder, or a registered ir_datasets id") from None
    if not ds.has_qrels():
        raise ValueError(f"ir_datasets {did!r} has no qrels; use a split id such as {did + '/test'!r}")
    return did, ds


def _qrels(ds: Any) -> Qrels:
    qrels: Qrels = {}
    for q in ds.qrels_iter():
        qrels.setdefault(str(q.query_id), {})[str(q.doc_id)] = int(q.relevance)
    return qrels


def load_qrels(source: str | os.PathLike, split: str = "test") -> Qrels:
    """All judgements {qid: {doc_id: relevance}} of a BEIR source (zeros included)."""
    return _qrels(_load(source, split)[1])


def order_candidates(doc_ids: list[str], order: str, seed: int, qid: str) -> list[str]:
    """Present candidates (given best first) in ``order``; "shuffled" is seeded per query."""
    if order == "bm25":
        return list(doc_ids)
    if order == "reversed":
        return list(reversed(doc_ids))
    if order == "shuffled":
        out = list(doc_ids)
        random.Random(f"{seed}:{qid}").shuffle(out)
        return out
    raise ValueError(f"unknown candidate order {order!r} (known: {', '.join(ORDERS)})")


def sample_queries(qids: list[str], n: int | None, seed: int, exclude_n: int = 0,
                   exclude_seed: int | None = None) -> list[str]:
    """``n`` ids drawn with ``random.Random(seed)`` from the sorted ids, returned sorted (all if n is None).

    ``exclude_n`` > 0 first removes the ``exclude_n`` ids that the same call with
    ``(exclude_n, exclude_seed)`` would draw: a held-out split disjoint from a detection sample.
    """
    pool = sorted(qids)
    if exclude_n:
        held = set(sample_queries(pool, exclude_n, seed if exclude_seed is None else exclude_seed))
        pool = [q for q in pool if q not in held]
    if n is None or n >= len(pool):
        return pool
    return sorted(random.Random(seed).sample(pool, n))


def load_beir(source: str | os.PathLike, run: str | os.PathLike | Mapping[str, Mapping[str, float]] | None = None,
              split: str = "test", top_k: int = 200, n_queries: int | None = 512, seed: int = 42,
              truncate_words: int | None = 400, order: str = "reversed",
              order_seed: int | None = None, exclude_n: int = 0,
              exclude_seed: int | None = None) -> list[Example]:
    """BEIR re-ranking examples under the protocol in the module docstring (paper Section 4: BM25
    top-200, 512 sampled queries, 400-word passages, reversed BM25 order).

    ``run``: a TREC run file or Run dict of first-stage scores; None: BM25 over the whole corpus
    (:func:`qrexp.data.bm25.bm25_candidates`). Side effects: ir_datasets may download the data set
    and build its doc store under $IR_DATASETS_HOME. Raises KeyError for an unknown source,
    ValueError for an unknown ``order``, a source without qrels, a corpus repeating a doc id, or a
    run naming documents the corpus lacks (naming the run and query).
    """
    if order not in ORDERS:
        raise ValueError(f"unknown candidate order {order!r} (known: {', '.join(ORDERS)})")
    did, ds = _load(source, split)
    run_name = Path(run).name if isinstance(run, (str, os.PathLike)) else "run"   # no path: ids follow content
    if isinstance(run, (str, os.PathLike)):
        first_stage = read_trec_run(run)
    elif run is not None:
        first_stage = {str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in run.items()}
    else:
        first_stage = None
    queries = {str(q.query_id): q.text for q in ds.queries_iter()}
    qrels = _qrels(ds)
    eligible = [q for q, judged in qrels.items() if q in queries and any(r > 0 for r in judged.values())
                and (first_stage is None or first_stage.get(q))]
    chosen = sample_queries(eligible, n_queries, seed, exclude_n, exclude_seed)
    if first_stage is None:
        corpus: dict[str, str] = {}
        for d in ds.docs_iter():
            if d.doc_id in corpus:
                raise ValueError(f"{did}: corpus repeats doc id {d.doc_id!r}; give every document its own id")
            corpus[d.doc_id] = f"{getattr(d, 'title', '')} {d.text}".strip()
        first_stage = bm25_candidates(corpus, {q: queries[q] for q in chosen}, k=top_k)
        run_name = "bm25 (qrexp.data.bm25, Anserini settings)"
    store = ds.docs_store()
    examples = []
    for qid in chosen:
        scores = first_stage[qid]
        top = rank_by_score(scores, f"{run_name} (qid={qid})", "doc")[:top_k]
        found = store.get_many(top)
        missing = [d for d in top if d not in found]
        if missing:
            raise ValueError(f"{run_name} (qid={qid}): doc(s) {missing[:3]} not in the corpus of {did}")
        docs = []
        for doc_id in order_candidates(top, order, seed if order_seed is None else order_seed, qid):
            doc = found[doc_id]
            docs.append(Doc(doc_id=doc_id, text=truncate_text(doc.text, truncate_words),
                            title=getattr(doc, "title", None) or None))
        judged = qrels[qid]
        meta = {"dataset": _LOCAL_STAMP.sub(r"\1", did), "qrels": dict(judged), "first_stage": {d: scores[d] for d in top},
                "first_stage_source": run_name,
                "order": order, "top_k": top_k, "truncate_words": truncate_words}
        examples.append(Example(qid=qid, query=queries[qid], docs=tuple(docs),
                                gold=frozenset(d for d in top if judged.get(d, 0) > 0), meta=meta))
    return examples
