"""A run folder's life on the tiny model, in process (issue 9): the finish marker is the last write,
so a run killed at any write resumes to the full set of artifacts with the same bytes; a finished run
reused under logger=wandb is logged from its folder; W&B inputs are checked before any work; every
run.trec written re-scores (pytrec_eval) to its metrics.json."""
import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from qrexp.experiment.config import from_hydra
from run_files import rescore_run_folder, scored_run_folders

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.setenv("QREXP_TEST_DATA", str(DATA))
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "ird"))
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")          # any network use fails
    for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))


def config(tiny_dir, out, *overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("config", overrides=[f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]",
                                           "model=tiny", f"model.path={tiny_dir}", "detect=fixture",
                                           "eval=fixture_beir", f"out_dir={out}", "progress=false",
                                           "model.k=2", *overrides])
    return from_hydra(cfg)


def files(out: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under out/ (runs/, heads/), score cache left out."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "cache" not in p.relative_to(out).parts}


VOLATILE = ("metrics.json",)   # holds wall time and a timestamp: compared field by field instead


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the pipeline catches it."""


def test_killed_at_any_write_resumes_to_the_full_artifacts(tiny_dir, tmp_path, monkeypatch):
    from qrexp.experiment.run import run_experiment
    cache = f"cache_dir={tmp_path / 'cache'}"
    real_replace, writes = os.replace, []

    def counting(src, dst, *args, **kwargs):
        if "runs" in Path(dst).parts or "heads" in Path(dst).parts:
            writes.append(str(dst))
            if len(writes) == kill_at:
                raise Killed(dst)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", counting)
    kill_at = 0
    ref_out = tmp_path / "ref"
    run_experiment(config(tiny_dir, ref_out, cache, "eval.methods=[qrhead]"))
    reference, n_writes = files(ref_out), len(writes)
    names = {Path(p).name for p in reference}
    assert {"run.trec", "qrels.trec", "per_query.jsonl", "heads.txt", "history.jsonl", "per_query.csv",
            "artifacts.json", "heads.json", "heads.paper.json", "heads.png", "metrics.json"} <= names
    last = {Path(w).parent.name: Path(w).name for w in writes if "runs" in Path(w).parts
            and Path(w).parent.parent.name == "runs"}
    assert len(last) == 2 and set(last.values()) == {"metrics.json"}   # each run's last write
    assert n_writes >= 18
    for kill_at in range(1, n_writes + 1):
        out = tmp_path / f"kill{kill_at}"
        writes.clear()
        with pytest.raises(Killed):
            run_experiment(config(tiny_dir, out, cache, "eval.methods=[qrhead]"))
        killed_in = Path(writes[-1])
        writes.clear()
        kill_at_saved, kill_at = kill_at, 0
        run_experiment(config(tiny_dir, out, cache, "eval.methods=[qrhead]"))
        kill_at = kill_at_saved
        got = files(out)
        assert sorted(got) == sorted(reference), f"killed writing {killed_in}"
        for name, data in reference.items():
            if Path(name).name in VOLATILE:
                a, b = json.loads(data), json.loads(got[name])
                assert (a["metrics"], a["n"], a["config"]) == (b["metrics"], b["n"], b["config"]), name
            elif not name.endswith(".png"):
                assert got[name] == data, f"{name} differs after a kill at {killed_in}"


def test_finished_runs_reused_under_wandb_are_logged_from_their_folder(tiny_dir, tmp_path):
    from qrexp.experiment.run import run_experiment
    from unit.runs.test_tracking import read_wandb_log
    out = tmp_path / "out"
    run_experiment(config(tiny_dir, out, "eval.methods=[qrhead]"))          # logger=none
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 2 and not any((r / "wandb").exists() for r in runs)
    stamps = {r: (r / "metrics.json").stat().st_mtime_ns for r in runs}
    lines = []
    import qrexp.experiment.run as experiment
    experiment._log, saved = lines.append, experiment._log
    try:
        run_experiment(config(tiny_dir, out, "eval.methods=[qrhead]", "logger=wandb", "logger.mode=offline"))
        run_experiment(config(tiny_dir, out, "eval.methods=[qrhead]", "logger=wandb", "logger.mode=offline"))
    finally:
        experiment._log = saved
    assert sum("logging the finished run from its folder" in line for line in lines) == 2
    for run in runs:
        offline = list((run / "wandb").glob("offline-run-*"))
        assert len(offline) == 1, run.name                      # logged once, not again on the third run
        record = json.loads((run / "wandb.json").read_text())
        assert record == [{"entity": None, "project": "qrexp", "mode": "offline",
                           "id": offline[0].name.rsplit("-", 1)[1]}]
        assert (run / "metrics.json").stat().st_mtime_ns == stamps[run]   # the folder itself untouched
    evaluation = next(r for r in runs if "fixture-beir-qrhead" in r.name)
    summary, config_logged = read_wandb_log(next((evaluation / "wandb").glob("offline-run-*/run-*.wandb")))
    metrics = json.loads((evaluation / "metrics.json").read_text())["metrics"]
    assert summary["nDCG@10"] == metrics["nDCG@10"] and summary["R@5"] == metrics["R@5"]
    assert config_logged["method"] == "qrhead"


def test_wandb_tag_too_long_fails_before_any_work(tiny_dir, tmp_path):
    from qrexp.experiment.run import run_experiment
    name = "an-experiment-name-" + "x" * 60
    cfg = config(tiny_dir, tmp_path / "out", "logger=wandb", f"name={name}")
    with pytest.raises(ValueError) as err:
        run_experiment(cfg)
    assert str(err.value) == (f"W&B tag from name={name!r} is {len(name)} characters; W&B allows 1-64: "
                              "set a shorter name=... (or logger=none)")
    assert not (tmp_path / "out").exists()


def test_corrupt_metrics_json_is_recomputed_with_one_warning(tiny_dir, tmp_path):
    from qrexp.experiment.evaluate import evaluate
    cfg = config(tiny_dir, tmp_path / "out", "eval.methods=[icr]")
    first = evaluate(cfg, "icr", log=lambda line: None)
    folder = next((tmp_path / "out" / "runs").iterdir())
    (folder / "metrics.json").write_text('{"metrics": {"ndcg_cut_10": 0.')     # cut off mid-write
    lines = []
    assert evaluate(cfg, "icr", log=lines.append) == first
    assert sum("corrupt metrics.json" in line for line in lines) == 1
    assert json.loads((folder / "metrics.json").read_text())["metrics"] == first


def test_every_run_file_of_a_sweep_reproduces_its_metrics(tiny_dir, tmp_path):
    """BEIR-style (nDCG, recall with graded qrels) and long-context recall runs, including BM25 and
    chance whose scores tie or differ below float32 precision: pytrec_eval on run.trec + qrels.trec
    gives metrics.json and per_query.jsonl exactly."""
    from qrexp.experiment.run import run_experiment
    out = tmp_path / "out"
    run_experiment(config(tiny_dir, out, "eval.methods=[icr,bm25,chance,random]"))
    run_experiment(config(tiny_dir, out, "eval=fixture_lme", "eval.methods=[icr,bm25,chance]",
                          "eval.qa.enabled=false"))
    folders = scored_run_folders(out)
    assert len(folders) == 7
    assert [p for folder in folders for p in rescore_run_folder(folder)] == []
    bm25 = next(f for f in folders if "fixture-lme-bm25" in f.name)       # BM25 ties at 0.0 were split
    assert any(-1e-40 < float(line.split()[4]) < 0 for line in (bm25 / "run.trec").read_text().splitlines())


def test_a_failed_wandb_init_leaves_the_run_unfinished_and_the_rerun_logs_it(tiny_dir, tmp_path, monkeypatch):
    from qrexp.experiment import run_logging
    from qrexp.experiment.evaluate import evaluate

    class FailingInit:
        def __init__(self, **options):
            raise RuntimeError("wandb.init failed (e.g. no network)")

    cfg = config(tiny_dir, tmp_path / "out", "eval.methods=[icr]", "logger=wandb", "logger.mode=offline")
    working = run_logging.WandbTracker
    monkeypatch.setattr(run_logging, "WandbTracker", FailingInit)
    with pytest.raises(RuntimeError, match="wandb.init failed"):
        evaluate(cfg, "icr", log=lambda line: None)
    folder = next((tmp_path / "out" / "runs").iterdir())
    assert (folder / "run.trec").is_file() and not (folder / "metrics.json").exists()
    monkeypatch.setattr(run_logging, "WandbTracker", working)
    lines = []
    metrics = evaluate(cfg, "icr", log=lines.append)
    assert not any("finished earlier" in line for line in lines)          # recomputed, not skipped
    assert json.loads((folder / "metrics.json").read_text())["metrics"] == metrics
    offline = list((folder / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and json.loads((folder / "wandb.json").read_text())[0]["id"] in offline[0].name
