"""A run without a cut-off (full context: "Acc", not "Acc@5") fills the "@k" columns of its measure
(qrexp.report.tables._uncut_cell): Table 1 prints the full-context accuracy under acc@5 / acc@3."""
import math

import pandas as pd

from qrexp.report.tables import TableSpec, build_table


def test_full_context_accuracy_fills_the_acc_at_k_columns_and_no_recall_column():
    runs = pd.DataFrame([
        {"run_id": "a", "config.method": "full-context", "metrics.Acc": 0.25, "metrics.Acc@5": math.nan,
         "metrics.R@5": math.nan},
        {"run_id": "b", "config.method": "bm25", "metrics.Acc": math.nan, "metrics.Acc@5": 0.5, "metrics.R@5": 0.75},
    ])
    spec = TableSpec(name="t", title="t", row_key="method", metric="R@5", col_order=["r@5", "acc@5"],
                     column_metrics={"r@5": "R@5", "acc@5": "Acc@5"})
    ours = build_table(runs, spec).xs("ours", level="source")
    assert ours.loc["full-context", "acc@5"] == 25.0 and math.isnan(ours.loc["full-context", "r@5"])
    assert ours.loc["bm25", "acc@5"] == 50.0 and ours.loc["bm25", "r@5"] == 75.0
