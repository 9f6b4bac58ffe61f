"""examples/notebook.ipynb runs top to bottom (its code cells in one namespace, as a kernel would)
and its numbers match a hand computation from its own runs."""
import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook.ipynb"


def run_cells(path: Path, cwd: Path) -> dict:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    namespace: dict = {"__name__": "__main__"}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name} cell {i}", "exec"), namespace)
    return namespace


@pytest.mark.slow
def test_notebook_detects_ranks_and_tabulates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = run_cells(NOTEBOOK, tmp_path)
    assert len(ns["detection"].heads) == 8
    hits, scores = ns["hits"], ns["qr"].score_docs("Which city is Aiko Tanaka's home?", [d.text for d in ns["DOCS"]])
    assert [h.doc_id for h in hits] == sorted(scores, key=lambda d: (-scores[d], d))[:3]
    for name, run in ns["runs"].items():
        top = [max(sorted(run[ex.qid]), key=run[ex.qid].get) for ex in ns["evaluate_on"]]
        r1 = 100 * sum(t in ex.gold for t, ex in zip(top, ns["evaluate_on"])) / len(top)
        assert ns["table"].loc[name, "R@1"] == pytest.approx(round(r1, 1))
    assert list(ns["all_runs"].columns) == ["run_id", "n"]          # no runs in a fresh folder
