"""Run one configured experiment end to end: detect -> evaluate each method -> report tables.

This is the library entry point (a notebook can call :func:`run_experiment` with a RunConfig);
qrexp.runner wraps it with Hydra.
"""
from __future__ import annotations

import logging
from typing import Any

from .config import RunConfig, evals_of
from .data import load_once
from .evaluation import evaluate
from .preflight import preflight
from .redact import redact_text
from .run_logging import check_tracker_inputs
from .stages import ATTENTION_METHODS, run_detection

log_ = logging.getLogger("qrexp")


def _log(msg: str) -> None:
    """To the logging system when configured (Hydra logs to console and file), else stdout;
    credentials redacted (qrexp.redact)."""
    msg = redact_text(msg)
    if logging.getLogger().handlers:
        log_.info(msg)
    else:
        print(msg, flush=True)


def run_experiment(cfg: RunConfig) -> dict[str, Any]:
    """Run the configured stage(s); returns {"detection": path, "metrics": {method: {...}}, "tables": [...]}.

    The config and the data of every evaluation are checked first (qrexp.preflight): bad input raises
    InputError before any model loads or run folder is written, and so do tracker inputs W&B would
    refuse (qrexp.run_logging.check_tracker_inputs).
    """
    with load_once():
        preflight(cfg, _log)                    # bad config or data: InputError before any work
        check_tracker_inputs(cfg)               # W&B would refuse a tag: InputError before any work
        return _run(cfg)


def _run(cfg: RunConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"metrics": {}, "failed": {}}
    if cfg.stage in ("detect", "pipeline") and _needs_detection(cfg):
        out["detection"] = str(run_detection(cfg, _log))
    if cfg.stage in ("evaluate", "pipeline"):
        jobs = [(one, method) for one in evals_of(cfg) for method in one.eval.methods]
        for one, method in jobs:
            label = f"{one.eval.name}/{method}"
            try:
                out["metrics"][label] = evaluate(one, method, _log)
            except Exception as exc:                        # one failing method never stops the rest
                if len(jobs) == 1:
                    raise
                out["failed"][label] = f"{type(exc).__name__}: {exc}"
                _log(f"[evaluate] {label} failed: {out['failed'][label]}")
    if cfg.stage in ("report", "pipeline") and cfg.report.tables:
        from .reporting import write_report
        out["tables"] = [str(p) for p in write_report(cfg, _log)]
    if out["failed"]:
        raise RuntimeError(f"{len(out['failed'])} method(s) failed: {out['failed']}")
    return out


def _needs_detection(cfg: RunConfig) -> bool:
    if cfg.stage == "detect":
        return True
    return cfg.heads.source == "detected" and any(
        ATTENTION_METHODS.get(m, "") is None for one in evals_of(cfg) for m in one.eval.methods)
