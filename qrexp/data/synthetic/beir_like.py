"""A BEIR-format corpus about invented entities, with a BM25 first-stage run.

Folder written by ``generate_beir``:
  corpus.jsonl       {"_id", "title", "text", "metadata"}   short encyclopedia passages
  queries.jsonl      {"_id", "text", "metadata"}            one attribute question each
  qrels/test.tsv     header "query-id\\tcorpus-id\\tscore", one gold passage per query (score 1)
  bm25.run           TREC run "qid Q0 docid rank score tag", top-k by bm25s (k1=0.9, b=0.4,
                     the pyserini BEIR setting) over title + " " + text; every query has a line.
Each entity has 4-5 passages on different attributes; most queried attributes also get a
near-duplicate passage about a confusable entity ("North X", "lesser X", "X Group") that
repeats the question's own words with another value, so BM25 is often fooled at rank 1.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from qrexp.data.bm25 import load_bm25s
from qrexp.data.synthetic import beir_phrases as B
from qrexp.data.synthetic import names as N
from qrexp.data.synthetic.common import rng_for, word_count
from qrexp.io.files import atomic_write_text, write_jsonl

KINDS = ("town", "species", "company", "inventor")
NEAR_PROB = 0.5      # share of queried attributes that get a near-duplicate passage
LEXICAL_PROB = 0.6   # share of passages worded like a question rather than paraphrased
BM25_PARAMS = {"k1": 0.9, "b": 0.4}


def _entities(rng, n_entities: int, used: set[str]) -> list[dict]:
    """Entities of the four kinds in equal shares, each with 4-5 attributes and their values."""
    kinds = [KINDS[i % len(KINDS)] for i in range(n_entities)]
    rng.shuffle(kinds)
    out = []
    for kind in kinds:
        name = N.invented_name(rng, {"inventor": "person"}.get(kind, kind), used)
        attrs = sorted(rng.sample(sorted(B.ATTRS[kind]), rng.randint(4, len(B.ATTRS[kind]))))
        surname = name.split()[-1] if kind == "inventor" else name
        out.append(dict(kind=kind, name=name, surname=surname, attrs=attrs,
                        values={a: B.attribute_value(rng, kind, a, used) for a in attrs}))
    return out


def _passage(rng, kind: str, sentence: str, surname: str, n_context: int) -> str:
    """The attribute sentence followed by ``n_context`` generic sentences about the entity."""
    extra = [c.format(S=surname) for c in rng.sample(B.CONTEXT[kind], n_context)]
    text = " ".join([sentence] + extra)
    return text[0].upper() + text[1:]


def _near(rng, ent: dict, attr: str, near_tmpl: str, used: set[str]) -> tuple[str, str]:
    """(title, text) of a passage about a confusable entity with another value of ``attr``."""
    e2 = rng.choice(B.NEAR_NAMES[ent["kind"]]).format(
        E=ent["name"], S=ent["surname"], F=N.pick_other(rng, N.FIRST_NAMES, ent["name"].split()[0]))
    v2 = ent["values"][attr]
    while v2 == ent["values"][attr]:
        v2 = B.attribute_value(rng, ent["kind"], attr, used)
    return e2, _passage(rng, ent["kind"], near_tmpl.format(E2=e2, v=v2), ent["surname"], 2)


def build_beir(n_entities: int, n_queries: int, seed: int) -> tuple[list, list, dict, int]:
    """(corpus rows, query rows, qrels {qid: {doc_id: 1}}, number of near-duplicates), in memory."""
    if n_queries > 4 * n_entities:
        raise ValueError(f"generate_beir: n_queries={n_queries} exceeds 4 per entity "
                         f"(n_entities={n_entities})")
    rng = rng_for("beir", seed)
    used: set[str] = set()
    ents = _entities(rng, n_entities, used)
    asked, queries, order = {}, [], list(range(n_entities))
    rng.shuffle(order)
    while len(queries) < n_queries:
        for i in order:
            free = [a for a in ents[i]["attrs"] if (i, a) not in asked]
            if len(queries) < n_queries and free:
                attr = rng.choice(free)
                asked[(i, attr)] = rng.choice(B.ATTRS[ents[i]["kind"]][attr]["ask"])
                queries.append(((i, attr), asked[(i, attr)][0].format(E=ents[i]["name"])))
    docs = []   # (title, text, key) where key = (entity index, attr); None for near-duplicates
    for i, ent in enumerate(ents):
        for attr in ent["attrs"]:
            spec = B.ATTRS[ent["kind"]][attr]
            if rng.random() < LEXICAL_PROB:   # plain wording, as a question would put it
                tmpl = rng.choice(spec["ask"])[1].replace("{E2}", "{E}")
            else:
                tmpl = rng.choice(spec["gold"])
            sent = tmpl.format(E=ent["name"], v=ent["values"][attr])
            docs.append((ent["name"], _passage(rng, ent["kind"], sent, ent["surname"],
                                               rng.randint(2, 3)), (i, attr)))
            if (i, attr) in asked and rng.random() < NEAR_PROB:
                docs.append((*_near(rng, ent, attr, asked[(i, attr)][1], used), None))
    rng.shuffle(docs)
    corpus, doc_of = [], {}
    for j, (title, text, key) in enumerate(docs):
        corpus.append({"_id": f"d{j:04d}", "title": title, "text": text, "metadata": {}})
        if key is not None:
            doc_of[key] = f"d{j:04d}"
    qrows = [{"_id": f"q{k:03d}", "text": q, "metadata": {}} for k, (_, q) in enumerate(queries)]
    qrels = {f"q{k:03d}": {doc_of[key]: 1} for k, (key, _) in enumerate(queries)}
    return corpus, qrows, qrels, sum(key is None for _, _, key in docs)


def bm25_rankings(corpus: list[dict], queries: list[dict],
                  top_k: int) -> dict[str, list[tuple[str, float]]]:
    """{qid: [(doc_id, score), ...]} best first, top_k per query, scored by bm25s.

    Scores are rounded to 4 decimals (as written to the run file) and ties are ordered by doc id
    descending, which is how trec_eval / pytrec_eval order them, so the rank column and any
    TREC tool agree. Passages sharing no term with the query score 0 and may fill the list.
    """
    bm25s = load_bm25s()
    tok = dict(stopwords="en", return_ids=False, show_progress=False)
    model = bm25s.BM25(**BM25_PARAMS)
    model.index(bm25s.tokenize([f"{d['title']} {d['text']}" for d in corpus], **tok),
                show_progress=False)
    out = {}
    for q in queries:
        scores = model.get_scores(bm25s.tokenize([q["text"]], **tok)[0])
        ranked = sorted(((round(float(s), 4), d["_id"]) for s, d in zip(scores, corpus)),
                        reverse=True)
        out[q["_id"]] = [(d, s) for s, d in ranked[:top_k]]
    return out


def _rank_stats(rankings: dict, qrels: dict, top_k: int) -> dict:
    """R@1, R@10, R@top_k, nDCG@10 and MRR for single-gold qrels, computed by hand."""
    ranks = []
    for qid, ranked in rankings.items():
        gold = next(iter(qrels[qid]))
        ids = [d for d, _ in ranked]
        ranks.append(ids.index(gold) + 1 if gold in ids else None)
    n = len(ranks)
    hit = lambda k: sum(r is not None and r <= k for r in ranks) / n
    return {"bm25_recall@1": hit(1), "bm25_recall@10": hit(10), f"bm25_recall@{top_k}": hit(top_k),
            "bm25_ndcg@10": sum(1 / math.log2(r + 1) for r in ranks if r and r <= 10) / n,
            "bm25_mrr": sum(1 / r for r in ranks if r) / n}


def generate_beir(n_entities: int, n_queries: int, seed: int, out_dir: str | os.PathLike,
                  top_k: int = 20) -> dict:
    """Write the BEIR folder and ``bm25.run`` (top_k per query); return summary statistics
    (with "files": the paths written, relative to ``out_dir``)."""
    out = Path(out_dir)
    corpus, queries, qrels, n_near = build_beir(n_entities, n_queries, seed)
    top_k = min(top_k, len(corpus))
    rankings = bm25_rankings(corpus, queries, top_k)
    write_jsonl(out / "corpus.jsonl", corpus, sort_keys=False)
    write_jsonl(out / "queries.jsonl", queries, sort_keys=False)
    atomic_write_text(out / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{s}\n" for q, docs in qrels.items() for d, s in docs.items()))
    atomic_write_text(out / "bm25.run", "".join(
        f"{qid} Q0 {d} {r} {s:.4f} bm25s\n"
        for qid, ranked in rankings.items() for r, (d, s) in enumerate(ranked, 1)))
    words = {d["_id"]: word_count(d["title"]) + word_count(d["text"]) for d in corpus}
    cand_words = [sum(words[d] for d, _ in r) + word_count(q["text"])
                  for q, r in zip(queries, rankings.values())]
    return {"files": ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "bm25.run"],
            "n_docs": len(corpus), "n_queries": len(queries), "top_k": top_k,
            "n_near_duplicates": n_near,
            "mean_passage_words": round(sum(words.values()) / len(words), 2),
            "min_candidate_words": min(cand_words), "max_candidate_words": max(cand_words),
            **_rank_stats(rankings, qrels, top_k)}
