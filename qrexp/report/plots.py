"""PNG heat maps: HeadScores [L, H] (top-k heads marked) and NIAH accuracy over context length x
needle depth (paper Fig. 1 style). Uses matplotlib's Agg canvas directly (no pyplot, no display);
files are written to a temp file and moved into place.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from qrexp.types import HeadSet

from qrexp.heads.sets import top_k
from qrexp.io.files import atomic_write_bytes


def _save_png(fig: Figure, path: str | Path) -> Path:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def head_scores_figure(scores: torch.Tensor, *, k: int = 16, marked: HeadSet | None = None,
                       title: str | None = None, cmap: str = "viridis") -> Figure:
    """The heat map figure of HeadScores [L, H] (see plot_head_scores); raises ValueError for a
    non-2D tensor or a marked head outside the grid."""
    if scores.dim() != 2:
        raise ValueError(f"plot_head_scores: scores must be [L, H], got {tuple(scores.shape)}")
    n_layers, n_heads = scores.shape
    heads = marked if marked is not None else top_k(scores, min(k, scores.numel()))
    fig = Figure(figsize=(max(4.0, 0.22 * n_heads + 2), max(3.0, 0.2 * n_layers + 1.2)))
    ax = fig.add_subplot()
    img = ax.imshow(scores.detach().double().numpy(), aspect="auto", cmap=cmap,
                    interpolation="nearest", origin="upper")
    fig.colorbar(img, ax=ax, label="head score")
    for layer, head in heads:
        if layer >= n_layers or head >= n_heads:
            raise ValueError(f"plot_head_scores: marked head {layer}-{head} outside {n_layers}x{n_heads}")
        ax.add_patch(_square(head, layer, edge="red"))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title or f"head scores (outlined: {heads.name}, {len(heads)} heads)", fontsize=9)
    return fig


def plot_head_scores(scores: torch.Tensor, path: str | Path, *, k: int = 16,
                     marked: HeadSet | None = None, title: str | None = None,
                     cmap: str = "viridis") -> Path:
    """Heat map of HeadScores [L, H]: layers on y (0 at top), heads on x, colorbar; writes a PNG.

    The top-k heads (or the heads of ``marked``, if given) are outlined with red squares drawn
    inside their cells, so boxes in the first/last row or column are not clipped by the axes.
    """
    return _save_png(head_scores_figure(scores, k=k, marked=marked, title=title, cmap=cmap), path)


BOX_INSET = 0.1   # cell units: the outline (1.2 pt) stays inside its cell at every figure size


def _square(x: float, y: float, edge: str) -> Rectangle:
    side = 1 - 2 * BOX_INSET
    return Rectangle((x - 0.5 + BOX_INSET, y - 0.5 + BOX_INSET), side, side, fill=False,
                     edgecolor=edge, linewidth=1.2, zorder=3)


def plot_niah_heatmap(values: np.ndarray | torch.Tensor, context_lengths: Sequence[int],
                      depths: Sequence[float], path: str | Path, *, title: str | None = None,
                      annotate: bool = True) -> Path:
    """Heat map of NIAH accuracy ``values`` [len(depths), len(context_lengths)] in [0, 1].

    x = context length (tokens), y = needle depth (fraction of the context, 0 = start, at top);
    NaN cells (not run) are drawn grey. Red = 0, green = 1.
    """
    vals = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values,
                      dtype=np.float64)
    want = (len(depths), len(context_lengths))
    if vals.shape != want:
        raise ValueError(f"plot_niah_heatmap: values shape {vals.shape} != (depths, lengths) {want}")
    finite = vals[~np.isnan(vals)]
    if ((finite < 0) | (finite > 1)).any():
        raise ValueError("plot_niah_heatmap: values must lie in [0, 1]")
    fig = Figure(figsize=(max(4.0, 0.6 * want[1] + 2), max(3.0, 0.45 * want[0] + 1.2)))
    ax = fig.add_subplot()
    cmap = _red_green()
    img = ax.imshow(np.ma.masked_invalid(vals), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                    interpolation="nearest", origin="upper")
    fig.colorbar(img, ax=ax, label="accuracy")
    ax.set_xticks(range(want[1]), [_short(n) for n in context_lengths], rotation=45, fontsize=8)
    ax.set_yticks(range(want[0]), [f"{d:.2g}" for d in depths], fontsize=8)
    if annotate:
        for i in range(want[0]):
            for j in range(want[1]):
                if not np.isnan(vals[i, j]):
                    ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("needle depth")
    mean = float(finite.mean()) if finite.size else float("nan")
    ax.set_title(title or f"NIAH accuracy (mean {mean:.2f})", fontsize=9)
    return _save_png(fig, path)


def _red_green() -> LinearSegmentedColormap:
    cmap = LinearSegmentedColormap.from_list("qrexp_red_green", ["#d7301f", "#fdd049", "#1a9850"])
    return cmap.with_extremes(bad="#bbbbbb")


def _short(n: int) -> str:
    """4000 -> '4K', 128000 -> '128K', 1500 -> '1.5K', 900 -> '900'."""
    return f"{n / 1000:g}K" if n >= 1000 else str(n)
