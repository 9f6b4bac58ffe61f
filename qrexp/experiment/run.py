"""Run one configured experiment end to end: detect -> evaluate each method -> report tables.

This is the library entry point (a notebook can call :func:`run_experiment` with a RunConfig);
qrexp.experiment.cli wraps it with Hydra. The stages are named after ``stage=``:
qrexp.experiment.detect, .evaluate, .report and .view.
"""
from __future__ import annotations

import logging
from typing import Any

from qrexp.evals.kinds import KINDS
from qrexp.experiment.config import RunConfig, evals_of
from qrexp.experiment.context import store_of
from qrexp.experiment.data import load_once
from qrexp.experiment.detect import run_detection
from qrexp.experiment.estimate import estimate_run
from qrexp.experiment.evaluate import eval_id, evaluate
from qrexp.experiment.methods import detections
from qrexp.experiment.preflight import preflight
from qrexp.experiment.report import write_report
from qrexp.experiment.run_logging import check_tracker_inputs
from qrexp.experiment.view import build_view
from qrexp.io.redact import redact_text
from qrexp.report.summary import format_counts, format_table, one_line, row_of

log_ = logging.getLogger("qrexp")


def _log(msg: str) -> None:
    """To the logging system when configured (Hydra logs to console and file), else stdout;
    credentials redacted (qrexp.io.redact)."""
    msg = redact_text(msg)
    if logging.getLogger().handlers:
        log_.info(msg)
    else:
        print(msg, flush=True)


class ExperimentFailed(RuntimeError):
    """Some evaluations failed (the others ran); ``result`` is run_experiment's dict so far."""

    def __init__(self, message: str, result: dict[str, Any] | None = None):
        super().__init__(message)                  # args == (message,): pickles across launchers
        self.result = result or {}


def run_experiment(cfg: RunConfig) -> dict[str, Any]:
    """Run the configured stage(s); returns {"detection": path, "metrics": {"eval/method": {...}},
    "failed": {label: reason}, "summary": [RunRow], "tables": [...]} and logs the summary table
    (method x measure, x100, n, run folders). Raises ExperimentFailed when some methods failed.

    The config, the data files and the data of every evaluation, and a hub model's availability are
    checked first (qrexp.experiment.preflight): bad input raises InputError before any model loads or
    run folder is written, and so do tracker inputs W&B would refuse
    (qrexp.experiment.run_logging.check_tracker_inputs).
    """
    out: dict[str, Any] = {"metrics": {}, "failed": {}, "summary": []}
    with load_once():
        preflight(cfg, _log)                    # bad config or data: InputError before any work
        check_tracker_inputs(cfg)               # W&B would refuse a tag: InputError before any work
        estimate_run(cfg, _log)                 # queries, prompt lengths, passes, disk, time (printed)
        if cfg.stage == "detect" or (cfg.stage == "pipeline" and any("qr" in detections(one)
                                                                     for one in evals_of(cfg))):
            out["detection"] = str(run_detection(cfg, "qr", _log))
        jobs = [(one, method) for one in evals_of(cfg) for method in one.eval.methods]
        for one, method in jobs if cfg.stage in ("evaluate", "pipeline") else []:
            label, store = f"{one.eval.name}/{method}", store_of(one)
            try:
                rid = eval_id(one, method)
                reused = store.is_finished(rid)
                out["metrics"][label] = evaluate(one, method, _log)
                shown = KINDS.get(one.eval.kind).headline(one.eval.measures, one.eval.ks)
                out["summary"].append(row_of(one, method, "reused" if reused else "done", out["metrics"][label],
                                             store.read_metrics(rid).get("n"), str(store.run_dir(rid)),
                                             retrieval=shown))
            except Exception as exc:                        # one failing method never stops the rest
                out["summary"].append(row_of(one, method, "failed", reason=one_line(exc)))
                if len(jobs) == 1:
                    raise
                out["failed"][label] = f"{type(exc).__name__}: {exc}"
                _log(f"[evaluate] {label} failed: {out['failed'][label]}")
        if out["summary"]:
            _log("[summary]\n" + format_table(out["summary"]) + format_counts(out["summary"]))
        if cfg.stage in ("report", "pipeline") and cfg.report.tables:
            out["tables"] = [str(p) for p in write_report(cfg, _log)]
        if cfg.stage == "view":
            out["view"] = str(build_view(cfg, log=_log))
    if out["failed"]:
        raise ExperimentFailed(f"{len(out['failed'])} method(s) failed: {out['failed']}", out)
    return out
