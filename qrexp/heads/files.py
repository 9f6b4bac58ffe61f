"""Head files that stay byte-stable: head scores rounded to a fixed number of significant digits
before they are ranked and written, and publishing that keeps a tracked file when a rerun found the
same heads and scores (up to float noise), instead of rewriting it with different bytes.

Why: detection sums attention over many examples; thread counts, BLAS builds and devices change the
last bits (~1e-8), which used to rewrite results/heads/detected/*.json and mark every later run
``git_dirty``. Source: issue 9, section 2.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import torch

from qrexp.io.files import atomic_write_bytes

SIGNIFICANT = 6                    # digits kept in head files (float32 scores carry about 7)
REL_TOL, ABS_TOL = 1e-5, 1e-7      # "same scores" when publishing over an existing file
SUFFIXES = (".json", ".paper.json", ".png")


def round_score(value: float) -> float:
    """``value`` rounded to SIGNIFICANT significant digits (0.0 for -0.0); NaN/inf raise."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"head score {value} is not finite")
    return float(f"{value:.{SIGNIFICANT}g}") + 0.0


def round_scores(scores: torch.Tensor) -> torch.Tensor:
    """HeadScores [L, H] -> float64 [L, H] with every value :func:`round_score`-ed, so the ranking
    made from it is the ranking a reader of the written file recomputes."""
    flat = [round_score(v) for v in scores.detach().to(torch.float64).flatten().tolist()]
    return torch.tensor(flat, dtype=torch.float64).reshape(scores.shape)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def same_detection(a: str | Path, b: str | Path) -> bool:
    """Whether two detection JSON files (either format) hold the same heads, in the same order, and
    the same fields, with scores equal up to REL_TOL / ABS_TOL. Unreadable files are not the same."""
    try:
        da, db = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (a, b))
    except (OSError, ValueError):
        return False
    return _close(da, db)


def publish_detection(heads_json: str | Path, target_stem: str | Path,
                      log: Callable[[str], None] = print) -> list[Path]:
    """Copy ``<stem>.json``, ``.paper.json`` and ``.png`` of a detection (``heads_json`` is the
    ``.json``) to ``<target_stem>.*``; returns the paths written.

    When every target exists and both JSON files match (:func:`same_detection`), nothing is written:
    the tracked bytes stay. Otherwise each file is written atomically and a target whose bytes change
    is named in one log line.
    """
    source_stem = Path(str(heads_json)[: -len(".json")])
    target_stem = Path(target_stem)
    pairs = [(Path(f"{source_stem}{s}"), Path(f"{target_stem}{s}")) for s in SUFFIXES]
    pairs = [(src, dst) for src, dst in pairs if src.is_file()]
    if all(dst.is_file() for _, dst in pairs) and all(
            same_detection(src, dst) for src, dst in pairs if src.suffix == ".json"):
        return []
    written = []
    for src, dst in pairs:
        data = src.read_bytes()
        if dst.is_file() and dst.read_bytes() != data:
            log(f"[detect] replacing {dst}: the new detection found different heads or scores")
        written.append(atomic_write_bytes(dst, data))
    return written
