"""Paper-table rehearsals (slow tier): the tables' own pipelines on tiny real-format data fill every
cell of the data sets they run (robust04 / trec-news are licensed and not in the suite)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]


def rehearse(tmp, table, *args):
    env = {**os.environ, "IR_DATASETS_HOME": str(tmp / "ird"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "rehearse.py"), table, "--out", str(tmp),
                           "progress=false", *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def ours_cells(table_md: str) -> dict[str, list[str]]:
    lines = [line for line in table_md.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[1] == "ours":
            rows[cells[0]] = dict(zip(header[2:], cells[2:]))
    return rows


def test_table2_rehearsal_fills_every_run_cell(tmp_path, tiny_dir):
    proc = rehearse(tmp_path, "table2", "--model", "tiny", f"model.path={tiny_dir}")
    assert "[window] prompt tokens over 4 examples" in proc.stdout + proc.stderr
    # a model other than the paper table's writes its own file (never the paper model's table)
    rows = ours_cells((tmp_path / "tables" / "table2-tiny.md").read_text("utf-8"))
    assert set(rows) == {"bm25", "icr", "qrhead"}
    suite = ["nq", "trec-covid", "nfcorpus", "fiqa", "scifact", "scidocs", "fever", "climate-fever", "dbpedia-entity"]
    for method, cells in rows.items():
        assert all(cells[c] not in ("–", "") for c in suite), (method, cells)
        assert cells["robust04"] == cells["trec-news"] == "–"
