"""Per-query drill-down data: each run's ranked documents, gold marked, and each document's tokens
with the head-set attention mass the run ranked them by, read from the score cache (no forward pass).

The mass of token t is the run's calibrated TokenScore summed over its heads,
``headset_token_scores(calibrate(real, null), heads)`` [T] (paper section 1, steps 2-3): the same
vector whose outlier-masked sum over a document's span is that document's R(d) in the run's run.trec
(``scoring.headset_doc_scores``). The model is loaded once per model config only to recompute the
cache key and the prompt's token spans from what is loaded (``qrexp.experiment.context.scorer_of``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from qrexp.experiment.config import EvalConfig, ModelConfig, RunConfig, ScoringConfig, from_dict
from qrexp.types import HeadSet
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.prompt import PromptBuilder
from qrexp.engine.scoring import calibrate, headset_token_scores
from qrexp.types import Example, Prompt


@dataclass
class Shading:
    """One run's token view of one example: ``values[doc_id]`` [T_doc] attention mass per token
    (None with ``reason`` when the run has no token-level scores), ``pieces`` names the token-text
    set (one per model and prompt settings) the values align with."""
    values: dict[str, list[float]] = field(default_factory=dict)
    pieces: str | None = None
    reason: str | None = None


def run_config(base: RunConfig, config: Mapping[str, Any]) -> RunConfig:
    """The RunConfig an evaluation run folder's config.json describes (eval, scoring, model, seed).

    config.json keeps the model's label fields (name, path, revision, dtype, prompt_style); the
    other model fields come from ``base.model`` when it has the same name, else their defaults.
    """
    label = dict(config.get("model") or {})
    model = base.model if base.model.name == label.get("name") else ModelConfig()
    model = dataclasses.replace(model, **{k: v for k, v in label.items() if hasattr(model, k)})
    scoring = from_dict(ScoringConfig, config["scoring"], "config.json scoring") \
        if "scoring" in config else base.scoring
    ev = from_dict(EvalConfig, config["eval"], "config.json eval")
    return dataclasses.replace(base, model=model, scoring=scoring, eval=ev, seed=config.get("seed", base.seed),
                               suite={})


def token_pieces(builder: PromptBuilder, ex: Example, prompt: Prompt) -> list[str]:
    """The prompt text cut at token starts: piece t runs from token t's first character to token
    t+1's (the last token to its end), so the pieces of a span concatenate to its text.

    Raises ValueError when re-tokenizing the rendered prompt does not give ``prompt.input_ids``.
    """
    import numpy as np
    text, _, _, add_special = builder.render(ex.query, ex.docs)
    enc = builder.tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
    if tuple(enc["input_ids"]) != tuple(prompt.input_ids):
        raise ValueError(f"example {ex.qid}: re-tokenized prompt differs from the scored one")
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    starts = offsets[:, 0].tolist()
    ends = offsets[:, 1].tolist()
    pieces = []
    for t in range(len(starts)):
        stop = starts[t + 1] if t + 1 < len(starts) else ends[t]
        pieces.append(text[starts[t]:max(stop, starts[t])])
    return pieces


def pieces_key(scorer: ExampleScorer) -> str:
    """Which token texts a scorer's prompts have: model name and prompt settings."""
    r = scorer.retriever
    s = r.settings_dict()
    return "|".join(str(x) for x in (getattr(r.model, "qrexp_name", "?"), s["prompt_style"],
                                     s["query_span"], s["reference_family"]))


def missing_reason(plan: Mapping[str, Any] | None) -> str:
    """Why an example has no token scores in the cache, from its run's recorded cache plan
    (metrics.json ``extra.cache``, qrexp.engine.cache_plan.CachePlan.to_dict; None when unknown):
    under a disk budget (``cache.max_gb``) the run kept them only for the first examples that fit."""
    if plan and plan.get("tokens_needed") and plan.get("token_examples", 0) < plan.get("n_examples", 0):
        budget = plan.get("max_bytes")
        return (f"token-level scores not kept for this example: the run's score cache budget (cache.max_gb"
                f"{'' if budget is None else f' = {budget / 1e9:.3g} GB'}) kept them for the first "
                f"{plan['token_examples']} of {plan['n_examples']} examples (its metrics.json, extra.cache); "
                "only per-head document scores were cached")
    return ("no token-level scores for this example in the score cache (run evaluated elsewhere, cache "
            "cleared, another model build, per-head aggregation, or scored by a qrexp version with "
            "other cache keys)")


def shade_example(scorer: ExampleScorer, ex: Example, heads: HeadSet | None, calibrated: bool,
                  pieces: dict[str, dict[str, dict[str, list[str]]]], pair=None,
                  plan: Mapping[str, Any] | None = None) -> Shading:
    """A run's per-token mass for ``ex`` from its raw TokenScores ``pair`` [2, L, H, T_prefix]
    (as ``scorer.cached_token_scores(ex)`` returns; read here when not given).

    ``heads`` None means every head (ICR). Token texts are added once per (pieces key, qid) to
    ``pieces`` as {key: {qid: {doc_id: [piece, ...]}}}. ``plan``: the run's recorded cache plan, to
    say why scores are missing (:func:`missing_reason`). Never runs the model.
    """
    pair = scorer.cached_token_scores(ex) if pair is None else pair
    if pair is None:
        return Shading(reason=missing_reason(plan))
    prompt = scorer.prompt(ex)
    if pair.dim() != 4 or pair.shape[0] != 2 or pair.shape[-1] != prompt.cont_start:
        return Shading(reason=f"cached token scores {tuple(pair.shape)} do not match this prompt "
                              f"({prompt.cont_start} prefix tokens)")
    pairs = None if heads is None else list(heads.heads)
    mass = headset_token_scores(calibrate(pair[0], pair[1] if calibrated else None), pairs)   # [T]
    key = pieces_key(scorer)
    by_qid = pieces.setdefault(key, {})
    if ex.qid not in by_qid:
        try:
            cut = token_pieces(scorer.retriever.builder, ex, prompt)
        except ValueError as err:
            return Shading(reason=str(err))
        by_qid[ex.qid] = {d: cut[s:e] for d, (s, e) in zip(prompt.doc_ids, prompt.doc_spans)}
    values = {d: [float(f"{v:.6g}") for v in mass[s:e].tolist()]
              for d, (s, e) in zip(prompt.doc_ids, prompt.doc_spans)}
    return Shading(values=values, pieces=key)


def run_heads(folder: Path, n_layers: int, n_heads: int) -> HeadSet | None:
    """The head set an attention run ranked with, from its heads.txt ("full": every head -> None)."""
    text = (folder / "heads.txt").read_text(encoding="utf-8").strip()
    if text == "full":
        return None
    return HeadSet.parse(text, folder.name, n_layers, n_heads)
