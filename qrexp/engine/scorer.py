"""Per-example scoring shared by head detection and retrieval evaluation, cached on disk.

For each example the raw TokenScores of the real and the null query, ``[2, L, H, T_prefix]``, are
computed once (two forwards sharing the document prefix) and cached under a key of the prompt
token ids actually scored and the loaded model's weights fingerprint (:func:`scores_key`), with
the tensor's shape checked against the prompt before use; detection's DocScores
[D, L, H], every head set's ranking, calibration on/off and any mask sigma are pure functions of
them, so ablations over heads, k, objectives and calibration cost no forward passes. When a model
is too large for that (L * H * T above ``token_budget``), per-head DocScores are cached instead and
head sets are scored with their own (early-exit, head-subset) passes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from qrexp.types import HeadSet
from qrexp.engine.models import model_fingerprint
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.score_cache import ScoreCache, scores_key
from qrexp.engine.scoring import calibrate as calibrate_fn
from qrexp.engine.scoring import doc_scores_per_head, headset_doc_scores
from qrexp.types import Example, Prompt, Run

AGGREGATIONS = ("paper", "per_head")


@dataclass(frozen=True)
class ScoringOptions:
    """How token scores become document scores (all cheap to vary with cached token scores).

    aggregation: "paper" sums the heads' token scores, then masks (the paper code's score_docs);
    "per_head" sums the heads' per-head-masked DocScores.
    """
    calibrate: bool = True
    mask_sigma: float | None = 2.0
    aggregation: str = "paper"

    def __post_init__(self) -> None:
        if not isinstance(self.calibrate, bool):          # "no" is truthy: never calibrate by accident
            raise ValueError(f"calibrate must be True or False, got {self.calibrate!r}")
        if self.mask_sigma is not None and (isinstance(self.mask_sigma, bool)
                                            or not isinstance(self.mask_sigma, (int, float))):
            raise ValueError(f"mask_sigma must be a number or None, got {self.mask_sigma!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")


class ExampleScorer:
    """Cached per-example scores for one retriever (model + prompt settings)."""

    def __init__(self, retriever: QRRetriever, cache: ScoreCache | None = None,
                 token_budget: float = 64e6) -> None:
        self.retriever = retriever
        self.cache = cache
        self.token_budget = token_budget
        self._prompts: dict[tuple, Prompt] = {}     # keyed by content, not qid alone
        self._nulls: dict[tuple, Prompt] = {}
        self._model_id: dict | None = None
        self.forwards = 0

    @property
    def model_id(self) -> dict:
        """The loaded model's identity incl. weights fingerprint (computed once per scorer)."""
        if self._model_id is None:
            self._model_id = model_fingerprint(self.retriever.model)
        return self._model_id

    def _key(self, kind: str, ex: Example, **extra) -> str:
        """Key of what is computed: real and null prompt tokens + spans, model, settings."""
        r = self.retriever
        settings = {k: v for k, v in r.settings_dict().items() if k not in ("calibrate", "mask_sigma")}
        model = {k: v for k, v in self.model_id.items() if k != "name"}   # a label computes nothing
        return scores_key(kind, [self.prompt(ex), self.null_prompt(ex)], model=model,
                          settings=settings, **extra)

    def prompt(self, ex: Example) -> Prompt:
        key = _content(ex)
        if key not in self._prompts:
            self._prompts[key] = self.retriever.build_prompt(ex.query, ex.docs, ex.qid)
        return self._prompts[key]

    def null_prompt(self, ex: Example) -> Prompt:
        """The null-query prompt of ``ex`` (the calibration pass reads it)."""
        key = _content(ex)
        if key not in self._nulls:
            self._nulls[key] = self.retriever.build_prompt(self.retriever.null_query, ex.docs, ex.qid)
        return self._nulls[key]

    def stores_tokens(self, ex: Example) -> bool:
        r = self.retriever
        return r.n_layers * r.n_heads * self.prompt(ex).cont_start <= self.token_budget

    def _cached(self, key: str, compute, shape: tuple[int, ...]) -> torch.Tensor:
        if self.cache is None:
            return compute()
        return self.cache.get_or_compute(key, compute, shape)

    def token_scores_key(self, ex: Example) -> str:
        """The score-cache key of ``ex``'s raw TokenScores (model, prompts, settings)."""
        return self._key("token_scores", ex)

    def token_scores_shape(self, ex: Example) -> tuple[int, int, int, int]:
        """[2, L, H, T_prefix] of ``ex``'s raw TokenScores."""
        r = self.retriever
        return (2, r.n_layers, r.n_heads, self.prompt(ex).cont_start)

    def cached_token_scores(self, ex: Example) -> torch.Tensor | None:
        """Raw TokenScores [2, L, H, T_prefix] from the cache only (no forward pass); None when
        absent, of another shape (that file is deleted, as on any read) or when there is no cache."""
        if self.cache is None:
            return None
        return self.cache.get(self.token_scores_key(ex), self.token_scores_shape(ex))

    def token_scores(self, ex: Example) -> torch.Tensor:
        """Raw TokenScores of real and null query [2, L, H, T_prefix] (cached)."""
        def compute():
            self.forwards += 1
            r = self.retriever
            saved, r.calibrate = r.calibrate, True
            try:
                real, null, scored = r.raw_token_scores(ex.query, ex.docs, ex.qid)
            finally:
                r.calibrate = saved
            if scored.input_ids != self.prompt(ex).input_ids:
                raise RuntimeError(f"example {ex.qid}: the prompt changed between two builds (a chat "
                                   "template rendering time-dependent text?); its scores cannot be keyed")
            return torch.stack([real, null]).cpu()
        return self._cached(self.token_scores_key(ex), compute, self.token_scores_shape(ex))

    def _calibrated(self, ex: Example, calibrate: bool) -> torch.Tensor:
        pair = self.token_scores(ex)
        return calibrate_fn(pair[0], pair[1] if calibrate else None)

    def doc_scores(self, ex: Example, opts: ScoringOptions = ScoringOptions()) -> torch.Tensor:
        """DocScores [D, L, H] with the per-head outlier mask."""
        spans = self.prompt(ex).doc_spans
        if self.stores_tokens(ex):
            return doc_scores_per_head(self._calibrated(ex, opts.calibrate), spans, opts.mask_sigma)
        def compute():
            self.forwards += 1
            with _variant(self.retriever, opts):
                return self.retriever.doc_scores(ex.query, ex.docs, ex.qid)
        r = self.retriever
        return self._cached(self._key("doc_scores", ex, calibrate=opts.calibrate,
                                      mask_sigma=opts.mask_sigma), compute,
                            (len(spans), r.n_layers, r.n_heads))

    def headset_scores(self, ex: Example, heads: HeadSet | None,
                       opts: ScoringOptions = ScoringOptions()) -> torch.Tensor:
        """R(d) [D] for a head set (None = every head, i.e. ICR)."""
        pairs = None if heads is None else list(heads.heads)
        if opts.aggregation == "per_head":
            ds = self.doc_scores(ex, opts)
            if pairs is None:
                return ds.sum((1, 2))
            return ds[:, [l for l, _ in pairs], [h for _, h in pairs]].sum(1)
        if self.stores_tokens(ex):
            return headset_doc_scores(self._calibrated(ex, opts.calibrate), pairs,
                                      self.prompt(ex).doc_spans, opts.mask_sigma)
        self.forwards += 1
        with _variant(self.retriever, opts):
            return self.retriever.headset_scores(ex.query, ex.docs, heads, ex.qid)

    def iter_doc_scores(self, examples: Iterable[Example], opts: ScoringOptions = ScoringOptions(),
                        progress: bool = True, desc: str = "scoring") -> Iterator[torch.Tensor]:
        examples = list(examples)
        for ex in tqdm(examples, desc=desc, disable=not progress):
            yield self.doc_scores(ex, opts)

    def rank(self, examples: Sequence[Example], heads: HeadSet | None,
             opts: ScoringOptions = ScoringOptions(), progress: bool = True,
             desc: str = "ranking") -> Run:
        """Run {qid: {doc_id: score}} for a head set."""
        run: Run = {}
        for ex in tqdm(examples, desc=desc, disable=not progress):
            scores = self.headset_scores(ex, heads, opts)
            run[ex.qid] = {d.doc_id: float(s) for d, s in zip(ex.docs, scores)}
        return run


def _content(ex: Example) -> tuple:
    """What a prompt is built from: qid, query and the documents (ids, titles, texts) in order."""
    return ex.qid, ex.query, tuple((d.doc_id, d.title, d.text) for d in ex.docs)


class _variant:
    """Temporarily apply calibrate / mask sigma options to a retriever."""

    def __init__(self, retriever: QRRetriever, opts: ScoringOptions) -> None:
        self.r, self.opts = retriever, opts

    def __enter__(self):
        self.saved = (self.r.calibrate, self.r.mask_sigma)
        self.r.calibrate, self.r.mask_sigma = self.opts.calibrate, self.opts.mask_sigma

    def __exit__(self, *exc):
        self.r.calibrate, self.r.mask_sigma = self.saved
