"""Detection files: writing, reading and publishing head rankings, byte-stable.

Two formats, both written by :func:`write_detection` and both read by :func:`read_detection`:
  * ours, ``<stem>.json``: {"objective", "model", "n_examples", "k", "heads" (top k, "layer-head"),
    "scores" (the L x H grid), "provenance"};
  * the QRHead paper code's, ``<stem>.paper.json``: ``[["layer-head", score], ...]`` best first.

Head scores are rounded to SIGNIFICANT significant digits before they are ranked and written, and
publishing keeps a tracked file when a rerun found the same heads and scores (up to float noise),
instead of rewriting it with different bytes. Why: detection sums attention over many examples;
thread counts, BLAS builds and devices change the last bits (~1e-8), which used to rewrite
results/heads/detected/*.json and mark every later run ``git_dirty``. Source: issue 9, section 2.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import torch

from qrexp.heads.objectives import rank_heads
from qrexp.io.files import atomic_write_bytes, write_json
from qrexp.io.jsonio import read_text
from qrexp.io.redact import redact
from qrexp.types import Head, format_head, parse_head, rank_by_score

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


def _stem(path: str | Path) -> Path:
    """results/x.json, results/x.paper.json or results/x -> results/x."""
    p = Path(path)
    for suffix in (".paper.json", ".json"):
        if p.name.endswith(suffix):
            return p.with_name(p.name[: -len(suffix)])
    return p


def write_detection(path: str | Path, ranked: list[tuple[Head, float]], provenance: dict, *,
                    objective: str, model: str, n_examples: int, k: int) -> tuple[Path, Path]:
    """Write ``<stem>.paper.json`` ([["layer-head", score], ...], best first) and ``<stem>.json``
    (ours), each atomically; ``path`` may be either file or the bare stem. Returns (ours, paper).

    ``ranked`` must cover the full L x H grid once each (as :func:`qrexp.heads.objectives.rank_heads`
    returns). Scores are written rounded to SIGNIFICANT digits and re-ranked after rounding (ties by
    (layer, head)), so equal numbers give equal bytes and the file's order is the one
    :func:`read_detection` recomputes. ``provenance`` is stored with credentials redacted.
    Raises ValueError (naming ``path``) for a non-finite score, an empty or incomplete ranking, or
    k outside [1, L*H].
    """
    for (l, h), score in ranked:
        if not math.isfinite(score):
            raise ValueError(f"{path}: head {l}-{h} has non-finite score {score}")
    n_given, rounded = len(ranked), {tuple(head): round_score(score) for head, score in ranked}
    ranked = [(head, rounded[head]) for head in rank_by_score(rounded, str(path), "head")]
    heads = [h for h, _ in ranked]
    if not heads:
        raise ValueError(f"{path}: empty ranking")
    n_layers = max(l for l, _ in heads) + 1
    n_heads = max(h for _, h in heads) + 1
    if n_given != len(heads) or len(heads) != n_layers * n_heads:
        raise ValueError(f"{path}: ranking must list each of the {n_layers}x{n_heads} heads once, "
                         f"got {n_given} entries")
    if not 1 <= k <= len(heads):
        raise ValueError(f"{path}: k={k} must be in [1, {len(heads)}]")
    grid = [[0.0] * n_heads for _ in range(n_layers)]
    for (l, h), score in ranked:
        grid[l][h] = float(score)
    stem = _stem(path)
    ours, paper = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".paper.json")
    # the detection files' form: indent 1, field order kept (tracked files keep their bytes)
    write_json(paper, [[format_head(h), float(s)] for h, s in ranked], indent=1, sort_keys=False)
    write_json(ours, {
        "objective": objective, "model": model, "n_examples": int(n_examples), "k": int(k),
        "heads": [format_head(h) for h in heads[:k]], "scores": grid,
        "provenance": redact(dict(provenance))}, indent=1, sort_keys=False)   # configs without credentials
    return ours, paper


def _load_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None


def read_detection(path: str | Path) -> tuple[list[tuple[Head, float]], torch.Tensor]:
    """Read either format -> (ranked [((layer, head), score), ...] best first, HeadScores [L, H] float64).

    Our format's ranking is recomputed from its score grid (ties by (layer, head)). A paper-format
    file keeps its own order; heads it does not list are NaN in the grid (L, H = largest listed + 1).
    Raises ValueError naming the file (and entry) for invalid JSON, a missing or non-grid 'scores'
    field, or a paper-format entry that is not ["layer-head", number].
    """
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict):
        if "scores" not in data:
            raise ValueError(f"{path}: missing field 'scores'")
        try:
            scores = torch.tensor(data["scores"], dtype=torch.float64)   # the written decimals, exactly
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: field 'scores' is not an L x H number grid ({e})") from None
        if scores.dim() != 2:
            raise ValueError(f"{path}: field 'scores' must be an L x H grid")
        return rank_heads(scores), scores
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a detection object or a non-empty [[\"layer-head\", score], ...] list")
    ranked = []
    for i, row in enumerate(data):
        if not (isinstance(row, list) and len(row) == 2 and isinstance(row[1], (int, float))):
            raise ValueError(f"{path}: entry {i} must be [\"layer-head\", score], got {row!r:.60}")
        ranked.append((parse_head(row[0], f"{path} entry {i}"), float(row[1])))
    n_layers = max(l for (l, _), _ in ranked) + 1
    n_heads = max(h for (_, h), _ in ranked) + 1
    scores = torch.full((n_layers, n_heads), float("nan"), dtype=torch.float64)
    for (l, h), s in ranked:
        scores[l, h] = s
    return ranked, scores


def read_detection_k(path: str | Path) -> int | None:
    """The k stored in our format (None for a paper-format file); ValueError on invalid JSON."""
    data = _load_json(Path(path))
    return int(data["k"]) if isinstance(data, dict) and "k" in data else None
