"""Claim lines of the report: verdicts and the paired bootstrap CI, checked by hand."""
import math

import numpy as np
import pandas as pd
import pytest

from qrexp.report.tables import TableSpec, build_table
from qrexp.experiment.report import check_claims, paired_bootstrap


def test_paired_bootstrap_mean_and_ci():
    a = {f"q{i}": float(i % 2) for i in range(40)}          # 0,1,0,1...
    b = {f"q{i}": 0.0 for i in range(40)}
    mean, lo, hi, n = paired_bootstrap(a, b, resamples=4000, seed=1)
    assert n == 40 and mean == 0.5
    se = math.sqrt(0.25 / 40)                                # bootstrap CI ~ mean +- 1.96 se
    assert lo == pytest.approx(0.5 - 1.96 * se, abs=0.03) and hi == pytest.approx(0.5 + 1.96 * se, abs=0.03)
    assert paired_bootstrap({"x": 1.0}, {"y": 0.0})[3] == 0  # no shared queries


def test_claims_with_per_query_rows(tmp_path):
    rows = {"r_a": [0.9, 0.8, 1.0], "r_b": [0.5, 0.6, 0.7]}
    for rid, vals in rows.items():
        (tmp_path / rid).mkdir()
        (tmp_path / rid / "per_query.jsonl").write_text(
            "".join(f'{{"qid": "q{i}", "recall@5": {v}}}\n' for i, v in enumerate(vals)))
    runs = pd.DataFrame([{"run_id": "r_a", "config.method": "qrhead", "config.eval.name": "t",
                          "metrics.recall@5": np.mean(rows["r_a"])},
                         {"run_id": "r_b", "config.method": "icr", "config.eval.name": "t",
                          "metrics.recall@5": np.mean(rows["r_b"])}])
    spec = TableSpec(name="x", title="x", row_key="method", col_key="eval.name", metric="recall@5")
    table = build_table(runs, spec)
    lines = check_claims(table, [["qrhead", ">", "icr", "t"], ["icr", ">", "qrhead", "t"],
                                 ["qrhead", ">", "bm25", "t"]], 1, runs, spec, tmp_path)
    assert lines[0].startswith("qrhead > icr on t: holds (90.0 vs 60.0; paired difference +30.0")
    assert "over 3 queries" in lines[0]
    assert lines[1].startswith("icr > qrhead on t: does NOT hold")
    assert lines[2] == "qrhead > bm25 on t: cannot be checked (missing run)"
