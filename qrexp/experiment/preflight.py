"""Check the config and the data of every evaluation once, up front, before any model loads.

:func:`preflight` runs at the start of :func:`qrexp.experiment.run.run_experiment`: it checks what the
config's types cannot (method, measure, loader and objective names, loader arguments, the head
source each method needs), loads the data of every evaluation and detection that the stage will run
(the examples are kept for the run, see :func:`qrexp.experiment.data.load_once`) and logs the protocol
warnings (gold ids outside the candidates, queries without a relevant document). Nothing is written
and no model is loaded, so bad input costs no work and leaves no partial run folder.
"""
from __future__ import annotations

import inspect
import os
from typing import Callable

import pytrec_eval

from qrexp.data import LOADERS
from qrexp.engine.hub import HubUnreachable
from qrexp.evals import protocol
from qrexp.evals.kinds import KINDS
from qrexp.evals.metrics import measure_names
from qrexp.experiment.availability import check_available
from qrexp.experiment.config import EvalConfig, RunConfig, evals_of
from qrexp.experiment.context import cache_dir
from qrexp.experiment.data import GENERATORS, load_data
from qrexp.experiment.methods import check_method, detections, missing_options, runs_qa
from qrexp.heads.objectives import OBJECTIVES
from qrexp.measures import parse_all
from qrexp.types import ConfigError

USER_ERRORS = (ValueError, KeyError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
               PermissionError, UnicodeDecodeError)


class InputError(ValueError):
    """Bad config or data found before any work (one line: file/config path, record, field, fix)."""


def one_line(exc: BaseException) -> str:
    """The message of an exception on one line (KeyError's quotes removed)."""
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(msg).split()) or type(exc).__name__


def preflight(cfg: RunConfig, log: Callable[[str], None] = print) -> None:
    """Raise InputError for any bad config value or data record of the stage(s) ``cfg`` runs."""
    try:
        _check(cfg, log)
    except InputError:
        raise
    except USER_ERRORS as exc:
        raise InputError(one_line(exc)) from exc


def _check(cfg: RunConfig, log) -> None:
    labels = [f"suite.{k}" for k in cfg.suite] or ["eval"]
    _check_model_path(cfg)
    detection = cfg.stage == "detect" or (cfg.stage == "pipeline" and any(_runs_detection(o) for o in evals_of(cfg)))
    try:                                    # data files named with data_dir; hub model reachable or cached
        check_available(cfg, detection)
    except HubUnreachable as exc:
        raise InputError(one_line(exc)) from exc
    if cfg.stage == "detect" or (cfg.stage == "pipeline" and any(_runs_detection(o) for o in evals_of(cfg))):
        _check_detection(cfg, "detect")                      # the top-level detection these stages run
    if cfg.stage == "detect":
        return
    for where, one in zip(labels, evals_of(cfg) if cfg.stage not in ("report", "view") else []):
        _check_methods(one, where)
        _check_loader(one.eval.data, f"{where}.data")
        examples = _load(load_data, one.eval.data, cache_dir(one), one.seed, f"{where}.data")
        rules = KINDS.get(one.eval.kind).relevance
        counts = protocol.data_counts(examples, rules, one.eval.data.qrels)
        if counts["n_no_relevant"] == len(examples) and not all(check_method(m).answers_only
                                                                     for m in one.eval.methods):
            raise ConfigError(f"data {one.eval.data.name!r} ({where}.data): none of its "
                              f"{len(examples)} queries has a relevant document, nothing to score")
        for line in protocol.warnings_of(one.eval.data.name, counts, rules):
            log(f"[check] warning: {line}")
        if _runs_detection(one):
            _check_detection(one, f"{where}.detect" if one.eval.detect is not None else "detect")


def _check_detection(one: RunConfig, where: str) -> None:
    """The detection objective exists and the detection data loads (with qrels if asked for)."""
    if one.detect.objective not in OBJECTIVES:
        OBJECTIVES.get(one.detect.objective)                  # did-you-mean error
    _check_loader(one.detect.data, f"{where}.data")
    examples = _load(load_data, one.detect.data, cache_dir(one), one.seed, f"{where}.data")
    if one.detect.data.qrels:
        protocol.data_counts(examples, protocol.JUDGED, graded=True)   # every example has graded qrels


def _load(load_data, data, cache, seed: int, where: str):
    """load_data, its errors prefixed with the data set and the config path that names it."""
    try:
        return load_data(data, cache, seed)
    except USER_ERRORS as exc:
        raise InputError(f"data {data.name!r} ({where}): {one_line(exc)}") from exc


def _check_model_path(cfg: RunConfig) -> None:
    """A model.path written as a local path (/..., ./..., ../..., ~/...) must exist (hub ids and
    embedded aliases are resolved when the model loads)."""
    path = cfg.model.path
    if cfg.stage not in ("report", "view") and path.startswith(("/", "./", "../", "~")) and not os.path.exists(os.path.expanduser(path)):
        raise ConfigError(f"config model.path={path!r}: no such file or folder; give a model folder, "
                          "a .gguf file, a hub id (org/name) or an embedded alias (smollm2-135m)")


def _runs_detection(one: RunConfig) -> bool:
    """Whether evaluating ``one`` runs a QR detection (qrhead with heads.source=detected)."""
    return "qr" in detections(one)


def _check_methods(one: RunConfig, where: str) -> None:
    e: EvalConfig = one.eval
    for i, method in enumerate(e.methods):
        try:
            check_method(method)
        except ValueError as exc:
            raise ConfigError(f"config {where}.methods[{i}]: {exc}") from None
    for i, method in enumerate(e.qa.methods):
        if method not in e.methods:
            raise ConfigError(f"config {where}.qa.methods[{i}]={method!r}: not among {where}.methods "
                              f"({', '.join(e.methods)}); QA answers from the rankings of those methods")
    for method in e.methods:                      # options the method's head source needs
        missing = missing_options(one, method)
        if missing:
            raise ConfigError(f"config: method {method!r} needs {' and '.join(missing)} "
                              f"(model {one.model.name!r} has key {one.model.published_key!r}, "
                              f"heads.task={one.heads.task!r})")
    if KINDS.get(e.kind).relevance.judged:       # measures computed by trec_eval (pytrec_eval)
        for i, measure in enumerate(e.measures):
            try:                                 # ir_measures names or pytrec_eval names (qrexp.measures)
                found = parse_all(measure)
            except ValueError as exc:
                raise ConfigError(f"config {where}.measures[{i}]: {exc}") from None
            if not all(m.trec and _measure_ok(m.trec, measure_names) for m in found):
                raise ConfigError(f"config {where}.measures[{i}]={measure!r}: not computed by trec_eval "
                                  "(e.g. nDCG@10, R@100, P@5, AP, RR; or ndcg_cut_10, 'ndcg_cut.5,10')")
    if any(runs_qa(one, m) for m in e.methods) and e.qa.judge == "llm":
        for name in ("judge_url", "judge_model"):
            if not getattr(e.qa, name):
                raise ConfigError(f"config {where}.qa.{name}: needed by qa.judge=llm; set it, "
                                  "or use qa.judge=contains")


def _check_loader(data, where: str) -> None:
    """The loader exists and accepts exactly the configured arguments."""
    loader = LOADERS.get(data.loader)
    if data.generate is not None:
        GENERATORS.get(data.generate)
    params = inspect.signature(loader).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(data.args) - set(params))
    if unknown:
        raise ConfigError(f"config {where}.args.{unknown[0]}: not an argument of the {data.loader!r} "
                          f"loader (its arguments: {', '.join(params)})")
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty
               and p.kind is not inspect.Parameter.VAR_POSITIONAL and n not in data.args]
    if missing:
        raise ConfigError(f"config {where}.args.{missing[0]}: required by the {data.loader!r} loader; set it")


def _measure_ok(measure: str, measure_names) -> bool:
    """pytrec_eval knows ``measure`` and reports it under the name asked for ("ndcg_cut_11x" would
    silently become ndcg_cut_11; "ndcg_cut.5,10" gives ndcg_cut_5 and ndcg_cut_10)."""
    try:
        names = set(measure_names([measure]))
    except ValueError:
        return False
    if measure in pytrec_eval.supported_measures:          # a family: its default cut-offs
        return True
    if "." in measure:
        base, params = measure.split(".", 1)
        return names == {f"{base}_{p}" for p in params.split(",")}
    return names == {measure}
