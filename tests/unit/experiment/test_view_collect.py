"""Viewer data collection on hand-made run rows: swept keys, the run behind each table cell (the
cell's value equals that run's metric), headline metrics, query page names and figures."""
import math

import pandas as pd

from qrexp.report.tables import TableSpec, build_table
from qrexp.experiment.view.collect import cell_runs, group_id, swept_keys
from qrexp.experiment.view.figures import experiment_figures, primary_metric
from qrexp.experiment.view.render import page_name


def rows():
    out = []
    for i, (method, k, ev, v) in enumerate([("qrhead", 4, "lme", 0.5), ("qrhead", 16, "lme", 0.75),
                                             ("icr", None, "lme", 0.6), ("bm25", None, "lme", 0.4),
                                             ("qrhead", 4, "beir", 0.3)]):
        out.append({"run_id": f"r{i}", "n": 10, "config.method": method, "config.heads.k": k,
                    "config.eval.name": ev, "config.eval.kind": "lme" if ev == "lme" else "retrieval",
                    "config.eval.ks": (3, 5), "config.eval.measures": ("ndcg_cut_10",),
                    "config.seed": 0, "metrics.R@3": v if ev == "lme" else math.nan,
                    "metrics.nDCG@10": v if ev == "beir" else math.nan,
                    "extra.n_heads": k if k else (270 if method == "icr" else math.nan)})
    return pd.DataFrame(out)


def test_swept_keys_are_the_keys_varied_within_a_method_and_eval():
    assert swept_keys(rows()) == ["heads.k"]
    assert swept_keys(rows().iloc[2:]) == []          # across methods only: not a sweep


def test_each_cell_names_the_run_whose_metric_it_shows():
    df = rows().iloc[1:4]
    spec = TableSpec(name="t", title="t", row_key="method", metric="R@3", col_key="eval.name",
                     filters={"eval.name": "lme"})
    table = build_table(df, spec)
    for row in ("qrhead", "icr", "bm25"):
        ids = cell_runs(df, spec, row, "lme")
        assert len(ids) == 1
        value = df.set_index("run_id").loc[ids[0], "metrics.R@3"] * 100
        assert table.loc[(row, "ours"), "lme"] == value


def test_headline_metric_page_names_and_groups():
    df = rows()
    assert primary_metric(df.iloc[0]) == "R@3" and primary_metric(df.iloc[4]) == "nDCG@10"
    assert page_name("q1") == "q1.html"
    odd = page_name("a/b c?")
    assert odd.endswith(".html") and "/" not in odd and odd != page_name("a/b c!")
    a = group_id({"eval": {"name": "lme", "data": {"x": 1}}, "seed": 0})
    assert a.startswith("lme-") and a != group_id({"eval": {"name": "lme", "data": {"x": 2}}, "seed": 0})


def test_figures_plot_the_swept_key_and_the_number_of_heads():
    html = experiment_figures(rows(), ["heads.k"], "exp")
    assert len(html) == 2
    assert 'id="exp-nheads"' in html[0] and "number of heads" in html[0] and "270" in html[0]
    assert 'id="exp-swept-0"' in html[1] and "metric vs heads.k" in html[1]
    assert "qrhead \\u002f lme (R@3)" in html[1] and '"y":[50.0,75.0]' in html[1]   # plotly escapes "/"
    assert experiment_figures(rows(), ["heads.k"], "exp") == html          # same bytes
