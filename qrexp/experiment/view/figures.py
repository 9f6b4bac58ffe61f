"""Interactive figures with Plotly (plotly.py builds the figure, the page loads the plotly.js bundle
that ships inside the PyPI ``plotly`` package): head-score heat maps with the selected heads boxed,
a metric against the number of heads, and a metric against each swept config key.

Each function returns an HTML fragment (a div and the script that draws it) with a fixed div id,
so the same runs give the same bytes.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from qrexp.evals.kinds import KINDS
from qrexp.measures import normalise

PLOTLY_JS = "plotly.min.js"


def plotly_js_path() -> Path:
    """The plotly.js bundle inside the installed plotly package (copied next to the pages)."""
    import plotly
    path = Path(plotly.__file__).resolve().parent / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise FileNotFoundError(f"plotly is installed but its {PLOTLY_JS} is missing ({path.parent})")
    return path


def _html(fig, div_id: str) -> str:
    import plotly.io as pio
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def head_heatmap(heads_json: Path, div_id: str, title: str = "") -> str:
    """Heat map of a detection's HeadScores [L, H] (layers on y, 0 at top; heads on x) from its
    heads.json ("scores" grid, "heads" = top-k list "layer-head"), the top-k heads boxed in red."""
    import plotly.graph_objects as go
    data = json.loads(heads_json.read_text(encoding="utf-8"))
    if "scores" not in data or "heads" not in data:
        raise ValueError(f"{heads_json}: missing field 'scores' or 'heads'")
    grid = data["scores"]
    fig = go.Figure(go.Heatmap(z=grid, colorscale="Viridis", colorbar={"title": "head score"},
                               hovertemplate="layer %{y}, head %{x}<br>score %{z:.4g}<extra></extra>"))
    inset = 0.08                       # boxes sit inside their cell: never clipped at the edges
    for token in data["heads"]:
        layer, head = (int(x) for x in str(token).split("-"))
        fig.add_shape(type="rect", x0=head - 0.5 + inset, x1=head + 0.5 - inset,
                      y0=layer - 0.5 + inset, y1=layer + 0.5 - inset, line={"color": "red", "width": 2})
    n_layers = len(grid)
    title = title or f"{data.get('objective')} head scores, {data.get('n_examples')} examples, top {len(data['heads'])} boxed"
    fig.update_layout(title={"text": title, "font": {"size": 12}}, height=max(320, 14 * n_layers + 120),
                      margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      xaxis={"title": "head", "constrain": "domain"},
                      yaxis={"title": "layer", "autorange": "reversed"})
    return _html(fig, div_id)


def metric_lines(df: pd.DataFrame, x: str, y: str, trace: str, div_id: str, title: str,
                 x_title: str, y_title: str, log_x: bool = False, label: str | None = None) -> str:
    """Markers and lines of ``y`` against ``x``, one trace per value of ``trace``; ``df`` columns
    x, y, trace and "run_id" (shown on hover); ``label`` names a column written next to each point
    (then markers only)."""
    import plotly.graph_objects as go
    fig = go.Figure()
    for name, part in df.groupby(trace, sort=True):
        part = part.sort_values(x, key=lambda s: pd.to_numeric(s, errors="coerce"))
        fig.add_trace(go.Scatter(
            x=part[x].tolist(), y=part[y].tolist(), name=str(name),
            mode="markers+text" if label else "lines+markers",
            text=part[label].tolist() if label else None, textposition="middle right",
            customdata=part["run_id"].tolist(),
            hovertemplate="%{x}: %{y:.1f}<br>%{customdata}<extra>" + str(name) + "</extra>"))
    xaxis = {"title": x_title, "type": "log" if log_x else "-"}
    if log_x:
        ticks = sorted({float(v) for v in df[x]})
        xaxis.update(tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    fig.update_layout(title={"text": title, "font": {"size": 13}}, height=360,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40}, xaxis=xaxis, yaxis={"title": y_title})
    return _html(fig, div_id)


def primary_metric(row: pd.Series) -> str | None:
    """The headline metric of an evaluation run: the first configured measure for a judged kind
    (BEIR-style retrieval, qrexp.evals.kinds), else R@k at the first k of the config that was
    computed (qrexp.measures names; also for a kind not registered in this process)."""
    kind = row.get("config.eval.kind")
    if kind in KINDS and KINDS.get(kind).relevance.judged:
        measures = row.get("config.eval.measures") or ()
        return normalise(measures[0]) if measures else None
    for k in row.get("config.eval.ks") or ():
        if not _missing(row.get(f"metrics.R@{k}")):
            return f"R@{k}"
    return None


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def points(runs: pd.DataFrame, x_col: str, metric_of: Callable[[pd.Series], str | None] = primary_metric
           ) -> pd.DataFrame:
    """(x, value on 0-100, method, eval "name (metric)", trace "method / eval (metric)", run_id)
    per run that has x and a headline metric (``metric_of(row)``)."""
    rows = []
    for _, r in runs.iterrows():
        metric = metric_of(r)
        x, y = r.get(x_col), r.get(f"metrics.{metric}") if metric else None
        if _missing(x) or _missing(y):
            continue
        ev = f"{r.get('config.eval.name')} ({metric})"
        rows.append({"x": x, "y": 100.0 * float(y), "run_id": r["run_id"], "method": r.get("config.method"),
                     "eval": ev, "trace": f"{r.get('config.method')} / {ev}"})
    return pd.DataFrame(rows, columns=["x", "y", "run_id", "method", "eval", "trace"])


def experiment_figures(runs: pd.DataFrame, swept: Sequence[str], prefix: str,
                       metric_of: Callable[[pd.Series], str | None] = primary_metric) -> list[str]:
    """Metric vs number of heads (when the runs use several head counts; one trace per eval, each
    point named by its method) and metric vs each swept key (one line per method and eval), as
    HTML fragments; ``metric_of(row)`` picks each run's metric."""
    out = []
    if "extra.n_heads" in runs:
        pts = points(runs, "extra.n_heads", metric_of)
        if pts["x"].nunique() > 1:
            out.append(metric_lines(pts.assign(x=pts["x"].astype(int)), "x", "y", "eval",
                                    f"{prefix}-nheads", "metric vs number of heads (each point a run)",
                                    "number of heads", "metric x 100", log_x=True, label="method"))
    for i, key in enumerate(swept):
        pts = points(runs, f"config.{key}", metric_of)
        if len(pts):
            pts["x"] = pts["x"].map(lambda v: "none" if v is None else v)
            out.append(metric_lines(pts, "x", "y", "trace", f"{prefix}-swept-{i}",
                                    f"metric vs {key}", key, "metric x 100"))
    return out
