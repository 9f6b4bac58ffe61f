"""Build the static results viewer from the run folders under ``cfg.out_dir`` (library entry point;
``qrexp view`` / ``stage=view`` call it through qrexp.experiment.view.cli)."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Mapping

from qrexp.experiment.config import RunConfig
from qrexp.experiment.context import store_of
from qrexp.experiment.preflight import InputError
from qrexp.experiment.view.collect import experiments_of
from qrexp.experiment.view.drill import drill_groups
from qrexp.experiment.view.render import render


def view_dir(cfg: RunConfig) -> Path:
    """Where the viewer is written: ``<out_dir>/view``."""
    return Path(cfg.out_dir) / "view"


def build_view(cfg: RunConfig, experiments: Mapping[str, RunConfig] | None = None, log=print) -> Path:
    """Write ``<out_dir>/view/index.html`` and its pages from every finished run under
    ``<out_dir>/runs``; returns the index path.

    ``experiments`` ({experiment name: its RunConfig}) supplies report table specs; ``cfg`` itself
    counts when it has tables. Token shading reads ``cache_dir(cfg)``'s score cache and loads each
    run's model once (no forward pass). The folder is built next to the old one and swapped in,
    so a failed build leaves the previous viewer intact. Raises InputError (a ValueError) when
    there are no finished runs.
    """
    t0 = time.perf_counter()
    runs_root = store_of(cfg).root
    if not runs_root.is_dir() or not any(runs_root.glob("*/metrics.json")):
        raise InputError(f"qrexp view: no finished runs under {runs_root} (set out_dir=...)")
    configs = dict(experiments or {})
    if cfg.report.tables:
        configs[cfg.name] = cfg
    all_runs, exps = experiments_of(runs_root, configs, log)
    stage = all_runs["config.stage"] if "config.stage" in all_runs else None
    evals = all_runs[stage == "evaluate"] if stage is not None else all_runs.iloc[:0]
    groups = drill_groups(cfg, evals, runs_root, log)
    out = view_dir(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".view.", dir=out.parent))
    try:
        pages = render(tmp, all_runs, exps, groups, runs_root, runs_label=f"{Path(cfg.out_dir).name}/runs")
        old = None
        if out.exists():
            old = out.with_name(f".view.old.{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"[view] {out / 'index.html'}: {len(exps)} experiments, {len(groups)} query groups, "
        f"{pages} pages in {time.perf_counter() - t0:.1f} s")
    return out / "index.html"
