"""QRRetriever: rank documents by the calibrated attention mass that chosen heads put on them.

One engine serves detection and retrieval: :meth:`QRRetriever.doc_scores` gives the per-example
DocScores [D, L, H] that detection objectives consume, and :meth:`score_docs` gives the paper code's
head-set scores (heads summed first, outlier mask after).

Scoring options (calibrate, mask sigma) are a frozen :class:`ScoringOptions` passed with each call;
the constructor's ``calibrate`` / ``mask_sigma`` only set the default used when a call passes none.
Nothing is mutated around a call, so one retriever serves interleaved calls with different options.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import torch

from qrexp.engine.batched import batched_prefix_passes
from qrexp.engine.forward import prefix_passes, prepare_model
from qrexp.engine.models import load_model
from qrexp.engine.prompt import PromptBuilder, PromptSettings
from qrexp.engine.rerank import rerank
from qrexp.engine.scoring import ScoringOptions, calibrate, doc_scores_per_head, span_scores
from qrexp.types import Doc, Example, Head, HeadSet, Prompt, Run, heads_by_layer, rank_by_score

DocsLike = Sequence[Doc | Mapping[str, Any] | str]


class Ranked(NamedTuple):
    """One entry of :meth:`QRRetriever.rank`: document id, score (higher = more relevant), text."""
    doc_id: str
    score: float
    text: str


def as_docs(docs: DocsLike) -> list[Doc]:
    """Docs from Doc objects, paper-code dicts {"idx", "title"?, "paragraph_text"} or plain strings
    (ids "0", "1", ... by position). Raises ValueError on duplicate ids (scores are keyed by id)."""
    out = [Doc(str(i), d) if isinstance(d, str) else Doc.from_any(d) for i, d in enumerate(docs)]
    ids = [d.doc_id for d in out]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise ValueError(f"documents: duplicate doc ids {dup}; give each document its own id")
    return out


def as_headset(heads: str | HeadSet | Iterable[Head] | None, n_layers: int, n_heads: int) -> HeadSet:
    """"full" | None | "13-18,13-21" | [(13, 18)] | HeadSet -> HeadSet checked against the model."""
    if heads is None or (isinstance(heads, str) and heads == "full"):
        return HeadSet.full(n_layers, n_heads)
    if isinstance(heads, HeadSet):
        return HeadSet(heads.name, heads.heads, n_layers, n_heads)
    if isinstance(heads, str):
        return HeadSet.parse(heads, "heads", n_layers, n_heads)
    return HeadSet("heads", tuple(tuple(h) for h in heads), n_layers, n_heads)


class QRRetriever:
    """Query-focused retrieval with attention heads of any HF decoder (exact fp32 reads; one example
    per forward, several with the ``*_batch`` methods)."""

    def __init__(self, model, tokenizer, heads="full", prompt_style: str = "chat",
                 query_span: str = "instruction", null_query: str = "N/A", calibrate: bool = True,
                 mask_sigma: float | None = 2.0, early_exit: bool = True,
                 reference_family: str | None = None, prefill_chunk: int | None = None) -> None:
        prepare_model(model)
        self.model, self.tokenizer = model, tokenizer
        self.n_layers = model.config.num_hidden_layers
        self.n_heads = model.config.num_attention_heads
        self.heads = as_headset(heads, self.n_layers, self.n_heads)
        self.settings = PromptSettings(prompt_style, query_span, reference_family)
        self.builder = PromptBuilder(tokenizer, self.settings,
                                     getattr(model.config, "max_position_embeddings", None))
        self.null_query, self.early_exit = null_query, early_exit
        self.prefill_chunk = prefill_chunk     # tokens per prefix forward (long contexts); None: one
        self.options = ScoringOptions(calibrate=calibrate, mask_sigma=mask_sigma)   # default per call

    @property
    def calibrate(self) -> bool:
        """The default calibration (read-only: pass ScoringOptions to a call to change it)."""
        return self.options.calibrate

    @property
    def mask_sigma(self) -> float | None:
        """The default outlier-mask sigma (read-only: pass ScoringOptions to a call)."""
        return self.options.mask_sigma

    def _opts(self, opts: ScoringOptions | None) -> ScoringOptions:
        return self.options if opts is None else opts

    @classmethod
    def from_pretrained(cls, name_or_path: str, heads="full", prompt_style: str = "chat",
                        query_span: str = "instruction", null_query: str = "N/A",
                        calibrate: bool = True, mask_sigma: float | None = 2.0, device=None,
                        dtype=None, **kwargs) -> "QRRetriever":
        load_keys = ("gguf_file", "device_map", "revision")
        model, tok = load_model(name_or_path, dtype=dtype, device=device,
                                **{k: kwargs.pop(k) for k in load_keys if k in kwargs})
        return cls(model, tok, heads=heads, prompt_style=prompt_style, query_span=query_span,
                   null_query=null_query, calibrate=calibrate, mask_sigma=mask_sigma, **kwargs)

    def settings_dict(self) -> dict:
        """Everything besides the model that changes the numbers (for cache keys and run ids)."""
        return {"prompt_style": self.settings.style, "query_span": self.settings.query_span,
                "reference_family": self.builder.family, "null_query": self.null_query,
                "calibrate": self.calibrate, "mask_sigma": self.mask_sigma}

    # ---- prompts -----------------------------------------------------------------------------
    def build_prompt(self, query: str, docs: DocsLike, qid: str = "?") -> Prompt:
        """The scoring prompt (documents as Doc, paper-code dicts or plain strings; see as_docs)."""
        return self.builder.build(query, as_docs(docs), qid)

    def _prompts(self, query: str, docs: DocsLike, qid: str,
                 calibrated: bool) -> tuple[Prompt, Prompt | None]:
        prompt = self.build_prompt(query, docs, qid)
        if not calibrated:
            return prompt, None
        null = self.build_prompt(self.null_query, docs, qid)
        c = prompt.cont_start
        if null.cont_start != c or null.input_ids[:c] != prompt.input_ids[:c]:
            raise ValueError(f"example {qid}: the null-query prompt does not share the document "
                             "prefix tokens with the real prompt (tokenizer merges across the boundary)")
        return prompt, null

    # ---- token scores ------------------------------------------------------------------------
    @staticmethod
    def _work(prompt: Prompt, null: Prompt | None):
        """(prefix ids, [(continuation ids, query span relative to them)] of the real and null query)."""
        c = prompt.cont_start
        return list(prompt.input_ids[:c]), [(list(p.input_ids[c:]), (p.query_span[0] - c, p.query_span[1] - c))
                                            for p in (prompt, null) if p is not None]

    @staticmethod
    def _prefix_rows(results, prompt: Prompt, null: Prompt | None):
        c = prompt.cont_start
        real = {layer: x[:, :c] for layer, x in results[0][0].items()}
        null_rows = None if null is None else {layer: x[:, :c] for layer, x in results[1][0].items()}
        return real, null_rows, prompt

    def _passes(self, query: str, docs: DocsLike, heads: HeadSet, qid: str, calibrated: bool):
        """Raw captures over the shared prefix: ({layer: [H_sel, T_prefix]}, null or None, prompt)."""
        prompt, null = self._prompts(query, docs, qid, calibrated)
        results = prefix_passes(self.model, *self._work(prompt, null), heads_by_layer(heads),
                                early_exit=self.early_exit, prefill_chunk=self.prefill_chunk)
        return self._prefix_rows(results, prompt, null)

    def _batched_passes(self, examples: Sequence[Example], heads: HeadSet, calibrated: bool):
        """:meth:`_passes` of several examples in one left-padded forward (qrexp.engine.batched; the
        prefixes are prefilled in one shot: ``prefill_chunk`` does not apply); same values to 1e-5."""
        built = [self._prompts(ex.query, ex.docs, ex.qid, calibrated) for ex in examples]
        results = batched_prefix_passes(self.model, [self._work(p, n) for p, n in built],
                                        heads_by_layer(heads), early_exit=self.early_exit)
        return [self._prefix_rows(res, p, n) for res, (p, n) in zip(results, built)]

    def _dense(self, rows: dict[int, torch.Tensor] | None) -> torch.Tensor | None:
        return None if rows is None else torch.stack([rows[layer] for layer in range(self.n_layers)])

    @staticmethod
    def _stack(rows: dict[int, torch.Tensor] | None) -> torch.Tensor | None:
        return None if rows is None else torch.cat([rows[layer] for layer in sorted(rows)])

    def raw_token_scores(self, query: str, docs: DocsLike, qid: str = "?",
                         opts: ScoringOptions | None = None):
        """Uncalibrated TokenScores of the real and null query, each [L, H, T_prefix] (null None
        when ``opts.calibrate`` is off), and the prompt. Everything else is a pure function of these."""
        real, null, prompt = self._passes(query, docs, HeadSet.full(self.n_layers, self.n_heads), qid,
                                          self._opts(opts).calibrate)
        return self._dense(real), self._dense(null), prompt

    def raw_token_scores_batch(self, examples: Sequence[Example], opts: ScoringOptions | None = None):
        """:meth:`raw_token_scores` of each example, all in one batched forward (short prompts)."""
        out = self._batched_passes(examples, HeadSet.full(self.n_layers, self.n_heads), self._opts(opts).calibrate)
        return [(self._dense(real), self._dense(null), prompt) for real, null, prompt in out]

    def headset_rows(self, query: str, docs: DocsLike, heads: HeadSet, qid: str = "?",
                     opts: ScoringOptions | None = None):
        """(real [K, T_prefix], null [K, T_prefix] or None, prompt) for the K heads of ``heads`` in
        (layer, head) order; one early-exit pass over the head subset (+ its null continuation)."""
        real, null, prompt = self._passes(query, docs, heads, qid, self._opts(opts).calibrate)
        return self._stack(real), self._stack(null), prompt

    def headset_rows_batch(self, examples: Sequence[Example], heads: HeadSet,
                           opts: ScoringOptions | None = None):
        """:meth:`headset_rows` of each example, all in one batched forward (short prompts)."""
        out = self._batched_passes(examples, heads, self._opts(opts).calibrate)
        return [(self._stack(real), self._stack(null), prompt) for real, null, prompt in out]

    def token_scores(self, query: str, docs: DocsLike, qid: str = "?",
                     opts: ScoringOptions | None = None) -> tuple[torch.Tensor, Prompt]:
        """TokenScores [L, H, T_prefix] (calibrated if ``opts.calibrate``) for every head, and the prompt."""
        real, null, prompt = self.raw_token_scores(query, docs, qid, opts)
        return calibrate(real, null), prompt

    # ---- document scores ---------------------------------------------------------------------
    def doc_scores(self, query: str, docs: DocsLike, qid: str = "?",
                   opts: ScoringOptions | None = None) -> torch.Tensor:
        """DocScores [D, L, H]: every head's score of every document (per-head outlier mask)."""
        ts, prompt = self.token_scores(query, docs, qid, opts)
        return doc_scores_per_head(ts, prompt.doc_spans, self._opts(opts).mask_sigma).cpu()

    def score_docs_per_head(self, query: str, docs: DocsLike,
                            opts: ScoringOptions | None = None) -> dict[str, torch.Tensor]:
        """{doc_id: [L, H]} per-head document scores."""
        scores = self.doc_scores(query, docs, opts=opts)
        return {d.doc_id: scores[i] for i, d in enumerate(as_docs(docs))}

    def headset_scores(self, query: str, docs: DocsLike, heads=None, qid: str = "?",
                       opts: ScoringOptions | None = None) -> torch.Tensor:
        """R(d) [D] for a head set (default: this retriever's): heads summed, then outlier mask."""
        opts = self._opts(opts)
        heads = self.heads if heads is None else as_headset(heads, self.n_layers, self.n_heads)
        real, null, prompt = self._passes(query, docs, heads, qid, opts.calibrate)
        summed = sum(calibrate(x, None if null is None else null[layer]).sum(0)
                     for layer, x in real.items())                         # [T_prefix]
        return span_scores(summed, prompt.doc_spans, opts.mask_sigma).cpu()

    def score_docs(self, query: str, docs: DocsLike,
                   opts: ScoringOptions | None = None) -> dict[str, float]:
        """{doc_id: score} with this retriever's head set (higher = more relevant). Documents: Doc,
        paper-code dicts or plain strings (ids "0", "1", ...); duplicate ids raise ValueError."""
        docs = as_docs(docs)
        scores = self.headset_scores(query, docs, opts=opts)
        return {d.doc_id: float(scores[i]) for i, d in enumerate(docs)}

    def rank(self, query: str, docs: DocsLike, top_k: int | None = None,
             opts: ScoringOptions | None = None) -> list[Ranked]:
        """The documents best first as Ranked(doc_id, score, text), cut to ``top_k`` (None: all);
        equal scores are ordered by doc id (qrexp.types.rank_by_score). One forward pass per call."""
        if top_k is not None and top_k < 1:
            raise ValueError(f"rank: top_k must be >= 1 or None, got {top_k}")
        docs = as_docs(docs)
        scores = self.score_docs(query, docs, opts)
        text = {d.doc_id: d.text for d in docs}
        return [Ranked(d, scores[d], text[d]) for d in rank_by_score(scores, "rank: query", "doc")[:top_k]]

    def rerank(self, examples: Sequence[Example], progress: bool = True,
               opts: ScoringOptions | None = None) -> Run:
        """Score every example's candidates: Run {qid: {doc_id: score}}."""
        return rerank(examples, lambda ex: self.headset_scores(ex.query, ex.docs, qid=ex.qid, opts=opts),
                      "re-ranking", progress)
