"""Are the data files and the model an experiment needs there? (Part of qrexp.experiment.preflight.)

A missing LongMemEval / CLIPPER / BEIR file or an unreachable hub model used to surface only after
detection or data generation had run; :func:`check_available` raises first, with one line naming the
exact file expected and the ``data_dir`` / ``QREXP_DATA`` setting (or how to use a local model).
"""
from __future__ import annotations

import os
from pathlib import Path

from qrexp.engine.hub import hub_load_options
from qrexp.engine.models import EMBEDDED
from qrexp.experiment.config import DataConfig, RunConfig, evals_of
from qrexp.experiment.methods import METHODS

PATH_ARGS = ("path", "rows", "chapters", "run", "source")
EXPECTED = {"path": "file", "rows": "file", "run": "file", "chapters": "folder", "source": "folder"}


class MissingData(FileNotFoundError):
    """A data file or folder named by the config does not exist."""


def _is_data_path(value: str, data_dir: str) -> bool:
    """A config value that names a path under data_dir (or an absolute path), not an ir_datasets id."""
    root = str(data_dir).rstrip("/\\")
    return os.path.isabs(value) or value.startswith(root + "/") or value.startswith(root + os.sep)


def check_data(data: DataConfig, data_dir: str, where: str) -> None:
    """Raise MissingData (one line) when a path in ``data.args`` is missing; generated data is skipped."""
    if data.generate:
        return
    for key in PATH_ARGS:
        value = data.args.get(key)
        if not isinstance(value, str) or not _is_data_path(value, data_dir):
            continue
        kind = EXPECTED[key]
        ok = Path(value).is_dir() if kind == "folder" else Path(value).is_file()
        if not ok:
            missing = "file" if kind == "file" else "folder"
            raise MissingData(f"data {data.name!r} ({where}.data): {Path(value).resolve()}: {missing} not found "
                              f"({where}.data.args.{key}, loader {data.loader}); put the data there or point "
                              f"data_dir=... (or $QREXP_DATA) at the folder holding it (data_dir is now "
                              f"{data_dir!r}; see README, Reproducing the paper)")


def needs_model(cfg: RunConfig) -> bool:
    """Whether this run loads the scored model (detection, attention methods, RankGPT or QA)."""
    if cfg.stage == "report":
        return False
    if cfg.stage == "detect":
        return True
    return any(m not in METHODS or METHODS.get(m).uses_model or one.eval.qa.enabled
               for one in evals_of(cfg) for m in one.eval.methods)


def check_model(cfg: RunConfig) -> None:
    """Raise qrexp.engine.hub.HubUnreachable at once for a hub model that is neither cached nor reachable."""
    path = cfg.model.path
    if path in EMBEDDED or cfg.model.gguf_file or Path(path).expanduser().exists():
        return
    hub_load_options(path, cfg.model.revision)


def check_available(cfg: RunConfig, detection: bool) -> None:
    """Data files of the detection (when ``detection``) and of each evaluation, then the model.
    Raises MissingData or qrexp.engine.hub.HubUnreachable; returns None when all is in place."""
    if cfg.stage == "report":
        return
    for one in evals_of(cfg):
        if detection:
            check_data(one.detect.data, cfg.data_dir, "detect")
        if cfg.stage != "detect":
            check_data(one.eval.data, cfg.data_dir, "eval")
    if needs_model(cfg):
        check_model(cfg)
