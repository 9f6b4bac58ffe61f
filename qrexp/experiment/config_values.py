"""Value checks of a built RunConfig: names among the allowed ones, counts and limits in range.

Types are checked before, when the config is built (qrexp.experiment.config_check); names that need a registry
(methods, measures, loaders, objectives) and the data are checked up front by qrexp.experiment.preflight,
except the evaluation kind, checked here against qrexp.evals.kinds.KINDS.
Every failure is a one-line :class:`~qrexp.types.ConfigError` naming the dotted config path.
"""
from __future__ import annotations

import math

from qrexp.types import ConfigError
from qrexp.experiment.naming import check_label
from qrexp.evals.kinds import KINDS
from qrexp.evals.qa_clipper import CLAIM_QUERIES
from qrexp.evals.qa_window import OVERFLOW_POLICIES

# This module checks values only; it does not import the config classes (RunConfig.__post_init__
# calls check_values), so the checked objects are duck-typed: a RunConfig and its EvalConfigs.
STAGES = ("detect", "evaluate", "pipeline", "report", "view")
HEAD_SOURCES = ("detected", "published", "full", "random", "niah", "explicit")


def _one_of(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"config {name}={value!r}: must be one of {', '.join(map(str, allowed))}")


def _kind(name: str, value) -> None:
    """An evaluation kind registered in KINDS; one line with "did you mean" otherwise."""
    if value not in KINDS:
        try:
            KINDS.get(value)
        except KeyError as exc:
            raise ConfigError(f"config {name}={value!r}: {exc.args[0]}") from None


def _at_least(name: str, value, low, optional: bool = False, high=None) -> None:
    if value is None and optional:
        return
    if value is None or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        extra = ", or null for all" if name.endswith("limit") else (", or null" if optional else "")
        raise ConfigError(f"config {name}={value!r}: must be {bound}{extra}")


def _label(where: str, value) -> None:
    """Labels name data sets, never paths (qrexp.experiment.naming)."""
    try:
        check_label(where, value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _check_eval(where: str, e, seen_detect: list) -> None:
    """Value checks of EvalConfig ``e`` found at dotted path ``where``."""
    _kind(f"{where}.kind", e.kind)
    _label(f"{where}.name", e.name)
    _label(f"{where}.data.name", e.data.name)
    _one_of(f"{where}.claim_queries", e.claim_queries, CLAIM_QUERIES)
    _one_of(f"{where}.qa.overflow", e.qa.overflow, OVERFLOW_POLICIES)
    for name in ("methods", "measures", "ks"):
        if not getattr(e, name):
            raise ConfigError(f"config {where}.{name}: empty; list at least one")
    for i, k in enumerate(e.ks):
        _at_least(f"{where}.ks[{i}]", k, 1)
    _at_least(f"{where}.data.limit", e.data.limit, 1, optional=True)
    _one_of(f"{where}.qa.judge", e.qa.judge, ("contains", "llm"))
    _at_least(f"{where}.qa.max_new_tokens", e.qa.max_new_tokens, 1)
    _at_least(f"{where}.qa.limit", e.qa.limit, 1, optional=True)
    for i, k in enumerate(e.qa.top_k):
        _at_least(f"{where}.qa.top_k[{i}]", k, 1)
    if e.detect is not None:
        seen_detect.append((f"{where}.detect", e.detect))


def check_values(cfg) -> None:
    """Value checks of a built RunConfig ``cfg`` (types are checked by :mod:`qrexp.experiment.config_check`)."""
    _one_of("stage", cfg.stage, STAGES)
    _one_of("model.prompt_style", cfg.model.prompt_style, ("chat", "reference"))
    _at_least("model.k", cfg.model.k, 1)
    _one_of("scoring.query_span", cfg.scoring.query_span, ("instruction", "query"))
    _one_of("scoring.aggregation", cfg.scoring.aggregation, ("paper", "per_head"))
    sigma = cfg.scoring.mask_sigma
    if sigma is not None and not (math.isfinite(sigma) and sigma >= 0):
        raise ConfigError(f"config scoring.mask_sigma={sigma!r}: must be a number >= 0, or null for no mask")
    _at_least("scoring.prefill_chunk", cfg.scoring.prefill_chunk, 1, optional=True)
    _at_least("scoring.batch_size", cfg.scoring.batch_size, 1)
    _one_of("heads.source", cfg.heads.source, HEAD_SOURCES)
    _at_least("heads.k", cfg.heads.k, 1, optional=True)
    if cfg.heads.source == "explicit" and not cfg.heads.heads:
        raise ConfigError("config heads.source=explicit needs heads.heads, e.g. heads.heads=13-18,13-21")
    n = cfg.niah
    for i, length in enumerate(n.lengths):
        _at_least(f"niah.lengths[{i}]", length, 1)
    for i, depth in enumerate(n.depths):
        _at_least(f"niah.depths[{i}]", depth, 0.0, high=1.0)
    _at_least("niah.n_needles", n.n_needles, 1)
    _at_least("niah.max_new_tokens", n.max_new_tokens, 1)
    _at_least("niah.threshold", n.threshold, 0.0, high=1.0)
    _one_of("logger.kind", cfg.logger.kind, ("none", "wandb"))
    _one_of("logger.mode", cfg.logger.mode, ("offline", "online", "disabled"))
    detects = [("detect", cfg.detect)]
    _check_eval("eval", cfg.eval, detects)
    for label, e in cfg.suite.items():
        _check_eval(f"suite.{label}", e, detects)
    for where, d in detects:
        _at_least(f"{where}.data.limit", d.data.limit, 1, optional=True)
        _label(f"{where}.name", d.name)
        _label(f"{where}.data.name", d.data.name)
