"""Hydra's own files, written without secrets, and a launch id that keeps output folders apart.

Hydra would save ``.hydra/{config,hydra,overrides}.yaml`` of each job and ``multirun.yaml`` of a
sweep with every override in clear, including ``eval.qa.judge_url=http://user:TOKEN@host/v1`` or a
rejected ``+eval.qa.judge_api_key=...``. conf/config.yaml turns Hydra's saving off
(``hydra.output_subdir: null``) and :func:`save_job_files` writes the same three files through
:func:`qrexp.io.redact.redact` instead (credential-named keys masked as ``***``, URLs cleaned);
``multirun.yaml``, which Hydra's sweeper writes before the first job starts, is rewritten redacted by
that first job.

``${qrexp_launch:}`` (registered by :func:`register_resolvers`) is ``<pid>-<6 random hex>``, fixed for
the process: ``hydra.run.dir`` / ``hydra.sweep.dir`` use it after the timestamp, so two launches in the
same second never share a folder or interleave their logs.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from qrexp.io.redact import redact, redact_text
from qrexp.io.files import atomic_write_text
from qrexp.io.package_data import package_data

LAUNCH_ID = f"{os.getpid()}-{secrets.token_hex(3)}"
CONF_DIR = str(package_data("conf"))                           # conf/, shipped in the package


def register_resolvers() -> None:
    """Register ``${qrexp_launch:}`` with OmegaConf (idempotent)."""
    from omegaconf import OmegaConf
    if not OmegaConf.has_resolver("qrexp_launch"):
        OmegaConf.register_new_resolver("qrexp_launch", lambda: LAUNCH_ID)


def _yaml(data: Any) -> str:
    from omegaconf import OmegaConf
    return OmegaConf.to_yaml(OmegaConf.create(data))


def save_job_files(cfg) -> list[Path]:
    """Write the redacted ``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml`` of the running
    job into its output folder (atomic writes), and redact the sweep's ``multirun.yaml`` in place.

    ``cfg``: the job's DictConfig (without the hydra node). Returns the paths written. Does nothing
    outside a Hydra job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return []
    hc = HydraConfig.get()
    folder = Path(hc.runtime.output_dir) / (hc.output_subdir or ".hydra")   # over Hydra's, if enabled
    job = OmegaConf.to_container(cfg, resolve=False)
    hydra_node = OmegaConf.to_container(HydraConfig.instance().cfg, resolve=False)
    overrides = [redact_text(o) for o in OmegaConf.to_container(hc.overrides.task)]
    written = [atomic_write_text(folder / "config.yaml", _yaml(redact(job, drop_keys=False))),
               atomic_write_text(folder / "hydra.yaml", _yaml(redact(hydra_node, drop_keys=False))),
               atomic_write_text(folder / "overrides.yaml", _yaml(overrides))]
    if hc.mode == RunMode.MULTIRUN:
        sweep_file = Path(hc.sweep.dir) / "multirun.yaml"
        if sweep_file.is_file():
            saved = OmegaConf.to_container(OmegaConf.load(sweep_file), resolve=False)
            clean = _yaml(redact(saved, drop_keys=False))
            if clean != _yaml(saved):
                written.append(atomic_write_text(sweep_file, clean))
    return written
