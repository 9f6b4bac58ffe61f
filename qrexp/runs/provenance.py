"""Provenance of a run: git state of the code, package versions, Python, platform, device, time.

``git_dirty`` is about source only: tracked files under ``OUTPUT_PATHS`` (results/: tables, head
files) are outputs, and regenerating them must not mark later runs dirty (issue 9, section 2).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

TRACKED_PACKAGES = ("qrexp", "torch", "transformers", "accelerate", "pytrec-eval-terrier", "wandb",
                    "pandas", "numpy", "hydra-core", "omegaconf", "datasets", "ir_datasets", "bm25s",
                    "PyStemmer")


def _git(*args: str, cwd: str | os.PathLike | None = None) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd or Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


OUTPUT_PATHS = ("results",)   # tracked outputs (tables, head files): edits there are not source edits


def git_state(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """{"git_sha": HEAD of the repo holding this package (or ``cwd``) or None, "git_dirty": whether
    tracked source files (code, configs: everything outside ``OUTPUT_PATHS``) differ from HEAD, or
    None}. Regenerated tables and head files under results/ do not make a run dirty."""
    sha = _git("rev-parse", "HEAD", cwd=cwd)
    if not sha:
        return {"git_sha": None, "git_dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                  *(f":(top,exclude){p}" for p in OUTPUT_PATHS), cwd=cwd)
    return {"git_sha": sha, "git_dirty": None if status is None else bool(status)}


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """{distribution: installed version}; an uninstalled one falls back to its module's
    ``__version__`` if imported, else None. Reads package metadata only."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # e.g. qrexp run from a checkout, not installed
            versions[name] = getattr(sys.modules.get(name.replace("-", "_")), "__version__", None)
    return versions


def current_device() -> str:
    """The CUDA device name if torch is already loaded and sees a GPU, else "cpu" (never imports torch)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:  # noqa: BLE001 - a broken CUDA setup must not lose the results
        pass
    return "cpu"


def provenance(device: str | None = None) -> dict[str, Any]:
    """What produced a result: git_sha / git_dirty (:func:`git_state`), package versions, Python,
    platform, device (default :func:`current_device`) and a UTC ISO timestamp (seconds). Runs git."""
    return {**git_state(), "packages": package_versions(), "python": platform.python_version(),
            "platform": platform.platform(), "device": device or current_device(),
            "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
