"""Hydra edge of the run and sweep summaries (qrexp.report.summary).

Each job of a sweep writes ``qrexp_summary.json`` (its overrides, run rows and failure) into its
Hydra output folder; the launching process prints the sweep summary at the end of the multirun,
also when a job failed (Hydra's sweeper raises before its own end-of-multirun hook in that case, so
``qrexp.experiment.cli.main`` prints it on the way out). Works for in-process and for submitit / joblib
launchers, whose jobs run in other processes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode

from qrexp.experiment.config import from_hydra
from qrexp.experiment.run import run_experiment
from qrexp.report.summary import one_line, sweep_report, write_job_record

_sweep_dir: Path | None = None            # set in the launching process while a multirun is under way


class SweepSummary(Callback):
    """hydra.callbacks entry: remembers the sweep folder, prints the summary when the sweep ends."""

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        global _sweep_dir
        _sweep_dir = Path(str(config.hydra.sweep.dir))

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        print_sweep_summary()


def print_sweep_summary() -> None:
    """Print the summary of the multirun under way (once); nothing outside a multirun."""
    global _sweep_dir
    folder, _sweep_dir = _sweep_dir, None
    if folder is not None and folder.is_dir():
        text = sweep_report(folder)
        if text:
            print("\n" + text, end="", flush=True)


def run_job(cfg) -> dict:
    """Convert the composed config and run it; in a multirun, record the job's outcome for the summary."""
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    folder = hc.runtime.output_dir if hc is not None and hc.mode == RunMode.MULTIRUN else None
    overrides = list(hc.overrides.task) if folder else []
    try:
        result = run_experiment(from_hydra(cfg))
    except Exception as exc:
        if folder:
            write_job_record(folder, overrides, getattr(exc, "result", {}).get("summary", []), one_line(exc))
        raise
    if folder:
        write_job_record(folder, overrides, result["summary"], None)
    return result
