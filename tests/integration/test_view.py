"""The results viewer (`qrexp view`) on tiny-model runs of the BEIR fixture: the leaderboard cell
equals metrics.json, each attention run's token shading re-sums (outlier mask) to the document
scores of its run.trec, token texts rebuild the documents, gold marks equal the qrels file, a run
without cached token scores says so, rebuilds are byte-identical, and headless Chromium renders the
pages from disk with no console errors."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qrexp.engine.prompt import doc_block
from qrexp.engine.scoring import masked_span_sum
from qrexp.io.trec import read_trec_run
from qrexp.types import Doc

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
TEST_CONF = ROOT / "tests" / "conf"
METHODS = ("qrhead", "icr", "icr-uncal", "bm25")


def qrexp(tmp, *args):
    env = {**os.environ, "QREXP_TEST_DATA": str(DATA), "IR_DATASETS_HOME": str(tmp / "ird"),
           "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "qrexp.experiment.cli", *args[:1], f"hydra.searchpath=[file://{TEST_CONF}]",
           f"out_dir={tmp / 'out'}", "progress=false", *args[1:]]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"qrexp failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from organisms import bpe_tokenizer, tiny_model
    tmp = tmp_path_factory.mktemp("view")
    model = tmp / "tiny-model"
    tok = bpe_tokenizer()
    tiny_model("llama", len(tok)).save_pretrained(model)
    tok.save_pretrained(model)
    model_args = ("model=tiny", f"model.path={model}", "model.k=3")
    qrexp(tmp, "experiment=fixture_view", *model_args)
    proc = qrexp(tmp, "view", *model_args)
    return tmp, model_args, proc


def runs_by_method(out: Path) -> dict[str, Path]:
    found = {}
    for metrics in (out / "runs").glob("*/metrics.json"):
        rec = json.loads(metrics.read_text())
        if rec["config"].get("stage") == "evaluate":
            found[rec["config"]["method"]] = metrics.parent
    assert set(found) == set(METHODS)
    return found


def page_data(html: str) -> dict:
    m = re.search(r'<script id="qrexp-data" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def test_leaderboard_cells_equal_metrics_and_link_their_run(built):
    tmp, _, proc = built
    out = tmp / "out"
    index = (out / "view" / "index.html").read_text()
    assert "[view]" in proc.stdout + proc.stderr and "Fixture view" in index
    for method, folder in runs_by_method(out).items():
        value = json.loads((folder / "metrics.json").read_text())["metrics"]["nDCG@10"] * 100
        link = f'<a href="runs/{folder.name}/metrics.json" title="{folder.name}">{value:.1f}</a>'
        assert link in index, method
        copied = out / "view" / "runs" / folder.name
        assert (copied / "config.json").read_bytes() == (folder / "config.json").read_bytes()
        # n and the 95% interval of the mean over the run's per-query values
        rows = [json.loads(l) for l in (folder / "per_query.jsonl").read_text().splitlines()]
        vals = [r["nDCG@10"] * 100 for r in rows]
        cell = re.search(re.escape(link) + r'.*?<div class="ci">n=(\d+) \[([-\d.]+), ([-\d.]+)\]</div>', index)
        assert int(cell.group(1)) == len(vals)
        assert float(cell.group(2)) >= min(vals) - 0.05 and float(cell.group(3)) <= max(vals) + 0.05


def test_token_shading_resums_to_the_run_scores(built):
    tmp, _, _ = built
    out = tmp / "out"
    runs = runs_by_method(out)
    qrels = {}
    for line in (DATA / "beir_tiny" / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        if int(g) > 0:
            qrels.setdefault(q, {})[d] = int(g)
    corpus = {json.loads(l)["_id"]: json.loads(l) for l in (DATA / "beir_tiny" / "corpus.jsonl").read_text().splitlines()}
    pages = sorted((out / "view" / "q").glob("*/*.html"))
    assert {p.stem for p in pages} == set(qrels)
    for page in pages:
        data = page_data(page.read_text())
        assert data["gold"] == qrels[page.stem]
        by_method = {r["run_id"]: r for r in data["runs"]}
        for method, folder in runs.items():
            shown = by_method[folder.name]
            trec = read_trec_run(folder / "run.trec")[page.stem]
            assert [d for d, _ in shown["ranking"]] == sorted(trec, key=lambda d: (-trec[d], d))
            if method == "bm25":
                assert "not an attention method" in shown["reason"] and shown["values"] is None
                continue
            assert shown["reason"] is None
            pieces = data["pieces"][shown["pieces"]]
            for doc_id, score in trec.items():
                vals = torch.tensor(shown["values"][doc_id], dtype=torch.float64)
                assert math.isclose(float(masked_span_sum(vals, 2.0)), score, rel_tol=1e-3, abs_tol=1e-6), \
                    (method, page.stem, doc_id)
                assert len(pieces[doc_id]) == len(vals)
                text = "".join(pieces[doc_id])
                doc = corpus[doc_id]
                block = doc_block(0, Doc(doc_id, doc["text"], doc.get("title") or None))
                assert block.split("] ", 1)[1] in text      # title and text, as in the prompt


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package "
                    "'chromium'; .ci/run installs it)")
def test_chromium_renders_the_pages_without_console_errors(built, tmp_path):
    tmp, _, _ = built
    view = tmp / "out" / "view"
    page = next((view / "q").glob("*/q1.html"))
    for target, must in ((view / "index.html", ["Fixture view", "plotly-graph-div", "main-svg"]),
                         (page, ['class="tok"', 'class="gold"', "icr-uncal"])):
        dom, console = render(target, tmp_path / f"{target.stem}.png")
        assert 'data-ready="1"' in dom and "data-errors" not in dom, target
        assert not console, console
        for text in must:
            assert text in dom, (target, text)
        assert (tmp_path / f"{target.stem}.png").stat().st_size > 10_000


def render(target: Path, png: Path) -> tuple[str, list[str]]:
    """(DOM after scripts ran, console lines) of a page loaded from disk; writes a screenshot.
    Our pages log nothing, so any console line (console.error, an uncaught exception) is a fault."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--enable-logging=stderr", "--v=0", "--window-size=1400,1800", "--virtual-time-budget=5000"]
    dom = subprocess.run([*flags, "--dump-dom", target.as_uri()], capture_output=True, text=True, timeout=180)
    shot = subprocess.run([*flags, f"--screenshot={png}", target.as_uri()], capture_output=True, text=True,
                          timeout=180)
    console = [line for line in (dom.stderr + shot.stderr).splitlines() if ":CONSOLE" in line]
    return dom.stdout, console


def test_missing_token_scores_are_named_and_rebuilds_are_identical(built, tmp_path):
    """(Runs after the browser test: it rebuilds the viewer without the score cache.)"""
    tmp, model_args, _ = built
    view = tmp / "out" / "view"
    before = {p.relative_to(view): p.read_bytes() for p in view.rglob("*") if p.is_file()}
    qrexp(tmp, "view", *model_args)
    after = {p.relative_to(view): p.read_bytes() for p in view.rglob("*") if p.is_file()}
    assert before == after
    qrexp(tmp, "view", *model_args, f"cache_dir={tmp_path / 'empty-cache'}")
    data = page_data(next((view / "q").glob("*/q1.html")).read_text())
    reasons = {r["label"]: r["reason"] for r in data["runs"]}
    assert "no token-level scores" in reasons["qrhead"] and "no token-level scores" in reasons["icr"]
    assert all(r["values"] is None for r in data["runs"])
