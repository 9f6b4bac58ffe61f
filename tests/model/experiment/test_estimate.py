"""The pre-run estimate (qrexp.experiment.estimate) against what a small run actually does: prompt
lengths and prefixes against the prompts the scorer builds, prefills against the score-cache files
written, cache bytes against the bytes on disk (within 10%)."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from qrexp.engine.score_cache import SUFFIX, ScoreCache
from qrexp.experiment.config import DataConfig, EvalConfig, HeadsConfig, ModelConfig, RunConfig
from qrexp.experiment.data import load_data
from qrexp.experiment.estimate import EvalEstimate, PromptShape, estimate_run, percentile
from qrexp.experiment.run import run_experiment
from qrexp.experiment.context import scorer_of

DATA = Path(__file__).parents[2] / "data"


@pytest.fixture(autouse=True)
def irds_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))


def _cfg(tmp_path, tiny_dir, methods=("qrhead", "icr")) -> RunConfig:
    data = DataConfig(name="beir-tiny", loader="beir", qrels=True,
                      args={"source": str(DATA / "beir_tiny"), "run": str(DATA / "beir_tiny.run"), "top_k": 3,
                            "n_queries": None, "order": "bm25"})
    ev = EvalConfig(name="tiny", kind="retrieval", data=data, methods=methods, measures=("nDCG@10",))
    return RunConfig(name="estimate", stage="evaluate", out_dir=str(tmp_path / "out"), progress=False,
                     model=ModelConfig(path=str(tiny_dir)), heads=HeadsConfig(source="full"), eval=ev)


def _cache_files(tmp_path) -> list[Path]:
    return sorted(p for p in (tmp_path / "out" / "cache" / "scores").glob(f"??/*{SUFFIX}"))


def test_estimate_matches_the_run(tmp_path, tiny_dir):
    cfg = _cfg(tmp_path, tiny_dir)
    lines: list[str] = []
    (row,) = estimate_run(cfg, lines.append)
    scorer = scorer_of(cfg)
    examples = load_data(cfg.eval.data, tmp_path / "out" / "cache")
    built = [scorer.retriever.build_prompt(ex.query, ex.docs, ex.qid) for ex in examples]
    assert row.lengths == [len(p.input_ids) for p in built]                 # the prompts the scorer builds
    assert [s.prefix for s in row.shapes] == [p.cont_start for p in built]
    assert [s.doc_tokens for s in row.shapes] == [sum(e - b for b, e in p.doc_spans) for p in built]
    assert row.methods == ("qrhead", "icr") and row.new_prefills == len(examples)
    assert lines[0].startswith(f"[estimate] tiny (qrhead, icr): {len(examples)} queries, prompt tokens min"), lines
    assert "tokens/s measured" in lines[-1]

    run_experiment(cfg)                                       # prints the same estimate, then runs
    files = _cache_files(tmp_path)
    assert len(files) == 2 * row.new_prefills                 # DocScores + token scores per example, shared
    written = ScoreCache(tmp_path / "out" / "cache" / "scores").bytes_on_disk()
    assert written == sum(f.stat().st_size for f in files)
    assert row.cache_bytes == pytest.approx(written, rel=0.10), (row.cache_bytes, written)
    folders = [p for p in (tmp_path / "out" / "runs").iterdir() if p.is_dir()]
    on_disk = sum(f.stat().st_size for p in folders for f in p.rglob("*") if f.is_file())
    assert len(folders) == row.n_runs == 2
    assert row.run_bytes == pytest.approx(on_disk, rel=0.25), (row.run_bytes, on_disk)   # a rougher figure than the cache
    assert estimate_run(cfg, lines.append) == []              # every run finished: nothing to estimate


@pytest.mark.parametrize("values", [[5], [3, 1, 2], list(range(1, 11)), [7, 7, 100, 2, 9, 40, 41]])
def test_percentile_is_the_nearest_rank(values):
    for q in (50, 90, 100):
        assert percentile(values, q) == int(np.percentile(values, q, method="inverted_cdf"))


def test_over_window_counts_prompts_longer_than_the_window():
    row = EvalEstimate("x", ("qrhead",), [PromptShape(str(n), n, n - 5, 2) for n in (10, 20, 30)], window=20)
    assert row.over_window == 1 and dataclasses.replace(row, window=None).over_window == 0


def test_generation_prompts_are_counted(tmp_path, tiny_dir):
    """QA: one answer per question and cut-off (full context: one); counted, not timed."""
    from qrexp.data.lme import load_lme
    from qrexp.experiment.config import QAConfig
    data = DataConfig(name="lme-tiny", loader="lme", args={"path": str(DATA / "lme_tiny.json")})
    ev = EvalConfig(name="lme", kind="lme", data=data, methods=("qrhead", "bm25", "full-context"),
                    qa=QAConfig(enabled=True, top_k=(1, 2), methods=("qrhead", "full-context")))
    cfg = RunConfig(name="estimate", stage="evaluate", out_dir=str(tmp_path / "out"), progress=False,
                    model=ModelConfig(path=str(tiny_dir)), heads=HeadsConfig(source="full"), eval=ev)
    lines: list[str] = []
    (row,) = estimate_run(cfg, lines.append)
    n = len(load_lme(DATA / "lme_tiny.json"))
    assert row.methods == ("qrhead",) and row.generations == n * 2 + n
    assert f"{n * 3} generation prompts" in lines[0] and f"{n * 3} generation prompts" in lines[-1]


@pytest.mark.parametrize("methods, detects", [(("icr", "bm25"), False), (("qrhead", "icr"), True)])
def test_detection_is_estimated_only_when_a_pending_method_reads_detected_heads(methods, detects, tmp_path, tiny_dir):
    """heads.source=detected and stage=pipeline: the detection runs (and is estimated) only for methods
    that rank with the detected heads (qrhead), never for icr / bm25 alone (it was estimated always)."""
    base = _cfg(tmp_path, tiny_dir, methods)
    cfg = dataclasses.replace(base, stage="pipeline", heads=HeadsConfig(source="detected"),
                              detect=dataclasses.replace(base.detect, name="tiny-detect", data=base.eval.data))
    rows = estimate_run(cfg, lambda line: None)
    assert [r.name for r in rows] == (["detect:tiny-detect"] if detects else []) + ["tiny"]
    if detects:
        assert rows[0].methods == ("detect",) and len(rows[0].lengths) == len(rows[1].lengths)
