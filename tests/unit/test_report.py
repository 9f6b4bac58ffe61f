"""Leaderboard tables: exact renderings, missing cells, deltas and the paper's numbers."""
import dataclasses
import math
import re

import pandas as pd
import pytest

from qrexp.report.render import latex_escape, to_csv, to_latex, to_markdown, write_table
from qrexp.report.tables import TableSpec, build_table, load_paper_table, paper_numbers
from qrexp.runs.store import RunStore, run_id
from qrexp.runs.table import load_runs

PAPER_TABLES = ("table1", "table2", "table3", "table5", "table6", "table8")


@pytest.fixture
def runs(tmp_path):
    """Finished runs written through the store and read back with load_runs."""
    store = RunStore(tmp_path / "runs")
    for model, method, dataset, ndcg in (("m1", "bm25", "nq", 0.30125), ("m1", "bm25", "fiqa", 0.24),
                                         ("m1", "qrretriever", "nq", 0.5861),
                                         ("m2", "qrretriever", "fiqa", 0.9)):
        cfg = {"model": model, "method": method, "dataset": dataset}
        store.finish(run_id(cfg, ("method", "dataset")), {"ndcg_cut_10": ndcg}, n=512, config=cfg)
    return load_runs(tmp_path / "runs")


SPEC = TableSpec(name="beir_demo", title="BEIR: nDCG@10 & recall_5 (x100%)", row_key="method",
                 col_key="dataset", metric="ndcg_cut_10", filters={"model": "m1"},
                 row_order=["bm25", "qrretriever"], col_order=["nq", "fiqa"], average="avg",
                 paper={"bm25": {"nq": 30.5, "fiqa": 23.6, "avg": 27.0}, "qrretriever": {"nq": 58.6}})

EXPECTED_MD = """\
### BEIR: nDCG@10 & recall_5 (x100%)

| method | source | nq | fiqa | avg |
|---|---|---:|---:|---:|
| bm25 | ours | 30.1 | 24.0 | 27.1 |
|  | paper | 30.5 | 23.6 | 27.0 |
|  | Δ | -0.4 | +0.4 | +0.1 |
| qrretriever | ours | 58.6 | – | – |
|  | paper | 58.6 | – | – |
|  | Δ | +0.0 | – | – |
"""

EXPECTED_TEX = r"""\begin{table}[t]
\centering
\caption{BEIR: nDCG@10 \& recall\_5 (x100\%)}
\label{tab:beir_demo}
\begin{tabular}{llrrr}
\toprule
method &  & nq & fiqa & avg \\
\midrule
bm25 & ours & 30.1 & 24.0 & 27.1 \\
 & paper & 30.5 & 23.6 & 27.0 \\
 & $\Delta$ & -0.4 & +0.4 & +0.1 \\
\midrule
qrretriever & ours & 58.6 & -- & -- \\
 & paper & 58.6 & -- & -- \\
 & $\Delta$ & +0.0 & -- & -- \\
\bottomrule
\end{tabular}
\end{table}
"""


def test_build_table_values_missing_and_delta(runs):
    table = build_table(runs, SPEC)
    assert list(table.index) == [(r, s) for r in ("bm25", "qrretriever") for s in ("ours", "paper", "delta")]
    assert list(table.columns) == ["nq", "fiqa", "avg"]
    ours = table.xs("ours", level="source")
    assert ours.loc["bm25", "nq"] == pytest.approx(30.125)
    assert ours.loc["bm25", "avg"] == pytest.approx((30.125 + 24.0) / 2)
    # m2's fiqa run is filtered out: missing stays NaN (never 0), and so does the partial average
    assert math.isnan(ours.loc["qrretriever", "fiqa"]) and math.isnan(ours.loc["qrretriever", "avg"])
    delta = table.xs("delta", level="source")
    paper = table.xs("paper", level="source")
    assert delta.loc["bm25", "nq"] == pytest.approx(30.125 - 30.5)
    pd.testing.assert_frame_equal(delta, ours - paper)


def test_markdown_and_latex_exact(runs):
    table = build_table(runs, SPEC)
    assert to_markdown(table, SPEC) == EXPECTED_MD
    assert to_latex(table, SPEC) == EXPECTED_TEX


def test_no_paper_numbers_only_ours_and_missing_dash(runs):
    spec = TableSpec(name="t", title="T", row_key="method", col_key="dataset", metric="ndcg_cut_10",
                     filters={"model": "m1"}, digits=2)
    table = build_table(runs, spec)
    assert list(table.index) == [("bm25", "ours"), ("qrretriever", "ours")]
    assert list(table.columns) == ["fiqa", "nq"]  # sorted when no order is given
    md = to_markdown(table, spec).splitlines()
    # only "ours" rows: no source column; the swept key names its columns
    assert md[2] == "| method | dataset=fiqa | dataset=nq |" and md[3] == "|---|---:|---:|"
    assert md[-1] == "| qrretriever | – | 58.61 |"
    assert "dataset=nq" in to_latex(table, spec) and "{lrr}" in to_latex(table, spec)
    assert "\\midrule\nqrretriever" not in to_latex(table, spec)  # no group rules without paper rows


def test_column_metrics_and_filters():
    runs = pd.DataFrame([
        {"run_id": "a", "config.method": "qrhead", "config.task": "lme", "config.qa.top_k": 5,
         "metrics.recall@5": 0.855, "metrics.recall@10": 0.917, "metrics.accuracy": 0.598},
        {"run_id": "b", "config.method": "qrhead", "config.task": "lme", "config.qa.top_k": 10,
         "metrics.recall@5": 0.855, "metrics.recall@10": 0.917, "metrics.accuracy": 0.602},
    ])
    spec = TableSpec(name="t1", title="LME", row_key="method", metric="accuracy", filters={"task": "lme"},
                     col_order=["lme-r@5", "lme-r@10", "lme-acc@5", "lme-acc@10"],
                     column_metrics={"lme-r@5": "recall@5", "lme-r@10": "recall@10"},
                     column_filters={"lme-acc@5": {"qa.top_k": 5}, "lme-acc@10": {"qa.top_k": "10"}},
                     paper=paper_numbers("table1"))
    table = build_table(runs, spec)
    ours = table.xs("ours", level="source").loc["qrhead"]
    assert list(ours.round(1)) == [85.5, 91.7, 59.8, 60.2]
    assert list(table.xs("delta", level="source").loc["qrhead"].round(6)) == [0.0, 0.0, 0.0, 0.0]
    # rows come from the paper when no order is given; methods without runs stay missing
    assert table.xs("ours", level="source").loc["bm25"].isna().all()
    assert table.loc[("bm25", "paper"), "lme-r@5"] == 57.5
    disagree = TableSpec(name="t1", title="LME", row_key="method", metric="accuracy", col_order=["acc"])
    with pytest.raises(ValueError, match=r"row 'qrhead', column 'acc': runs \['a', 'b'\] disagree"):
        build_table(runs, disagree)
    with pytest.raises(KeyError, match="did you mean config.task"):
        build_table(runs, TableSpec(name="x", title="x", row_key="method", metric="accuracy",
                                    filters={"tsk": "lme"}))


def test_write_table_atomic_files_and_csv(runs, tmp_path):
    table = build_table(runs, SPEC)
    paths = write_table(table, SPEC, tmp_path / "tables")
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [
        "beir_demo.csv", "beir_demo.md", "beir_demo.tex"]
    assert paths["md"].read_text() == EXPECTED_MD
    csv = paths["csv"].read_text().splitlines()
    assert csv[0] == "method,source,nq,fiqa,avg"
    assert csv[4] == "qrretriever,ours,58.61,,"
    back = pd.read_csv(paths["csv"])
    assert back["fiqa"].isna().sum() == 3 and back.loc[0, "nq"] == pytest.approx(30.125)
    assert to_csv(table) == paths["csv"].read_text()


def test_latex_escape():
    assert latex_escape(r"a_b 50% & #1 $x$ {y} ~^\ ") == (
        r"a\_b 50\% \& \#1 \$x\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{} ")


def test_paper_numbers_table2():
    t2 = paper_numbers("table2")
    assert t2["bm25"]["nq"] == 30.5
    assert t2["qrhead"]["nq"] == 58.6 and t2["icr"]["avg"] == 48.5  # Llama-3.1-8B by default
    qwen = paper_numbers("table2", model="qwen2.5-7b")
    assert qwen["qrhead"]["avg"] == 44.2 and qwen["bm25"] == t2["bm25"]
    assert paper_numbers("table2", model="llama-3.1-70b")["qrhead"]["nq"] == 62.1
    with pytest.raises(KeyError, match="no model 'llama-8b'"):
        paper_numbers("table2", model="llama-8b")
    with pytest.raises(FileNotFoundError, match="no paper table 'table4'"):
        paper_numbers("table4")
    # the paper's averages agree with its 11 per-set numbers (a transcription check)
    data = load_paper_table("table2")
    for entry in data["rows"]:
        *values, avg = entry["values"]
        assert sum(values) / len(values) == pytest.approx(avg, abs=0.051), entry


def test_paper_numbers_match_paper_md_and_labels():
    assert paper_numbers("table1")["full-context"] == {"lme-acc@5": 46.5, "clipper-acc@3": 31.3}
    assert paper_numbers("table1")["icr"]["clipper-r@5"] == 94.7
    assert paper_numbers("table1", model="llama-3.1-70b")["icr"]["lme-r@5"] == 32.1
    assert paper_numbers("table3")["qrhead"] == {"beir-avg": 47.5, "lme-recall": 85.5}
    assert paper_numbers("table3", model="qwen2.5-7b")["random"] == {"beir-avg": 19.9, "lme-recall": 57.2}
    assert paper_numbers("table5")["qrhead-niah"] == {"beir-avg": 46.8, "lme-recall": 83.4}
    assert sorted(v["beir-avg"] for v in paper_numbers("table6").values()) == [49.7, 49.8, 49.9]
    assert paper_numbers("table8") == {"16": {"nq": 58.6}, "64": {"nq": 57.4}, "256": {"nq": 56.6}}
    label = re.compile(r"^[a-z0-9][a-z0-9.@-]*$")
    for name in PAPER_TABLES:
        data = load_paper_table(name)
        assert data["title"].startswith(f"Table {name[5:]}:")
        assert all(label.match(c) for c in data["columns"]), name
        assert all(label.match(str(e["row"])) for e in data["rows"]), name


def test_bad_paper_file_names_the_row(tmp_path):
    (tmp_path / "bad.yaml").write_text("title: x\ncolumns: [a, b]\nrows:\n  - {row: r, values: [1]}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: row 1 \('r', model None\): needs 'row' and 2 values"):
        paper_numbers("bad", root=tmp_path)


def test_metric_named_in_either_vocabulary_reads_the_same_runs(runs):
    """A spec saying nDCG@10 reads runs whose metrics.json says ndcg_cut_10 (written before the rename)."""
    spec = TableSpec(name="t", title="T", row_key="method", col_key="dataset", metric="ndcg_cut_10",
                     filters={"model": "m1"})
    old = build_table(runs, spec)
    new = build_table(runs, dataclasses.replace(spec, metric="nDCG@10"))
    pd.testing.assert_frame_equal(old, new)
    assert new.loc[("qrretriever", "ours"), "nq"] == pytest.approx(58.61)
