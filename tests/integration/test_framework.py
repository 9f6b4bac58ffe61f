"""The experiment framework: every config composes; a 2x2 sweep on a tiny model writes run folders
and a table equal to their metrics; reruns skip; W&B offline; submitit's local launcher."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from qrexp.experiment.config import RunConfig, evals_of, from_hydra

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
TEST_CONF = ROOT / "tests" / "conf"
DATA = ROOT / "tests" / "data"


def _options(group: str) -> list[str]:
    return sorted(str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).rglob("*.yaml"))


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_every_experiment_composes(experiment):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = from_hydra(compose("config", overrides=[f"experiment={experiment}"]))
    assert isinstance(cfg, RunConfig) and cfg.name != "default"
    assert all(one.eval.methods for one in evals_of(cfg))


@pytest.mark.parametrize("group", ["model", "detect", "heads", "eval", "logger", "report"])
def test_every_group_option_composes(group, tmp_path):
    paths = {("model", "tiny"): [f"model.path={tmp_path}"], ("model", "hf"): ["model.path=org/x"]}
    for option in _options(group):
        path = paths.get((group, option), [])
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
            cfg = from_hydra(compose("config", overrides=[f"{group}={option}", *path]))
        assert isinstance(cfg, RunConfig), option


def qrexp(tmp, *args, check=True):
    env = {**os.environ, "QREXP_TEST_DATA": str(DATA), "IR_DATASETS_HOME": str(tmp / "ird"),
           "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT)}   # this checkout's qrexp, not an installed one
    flags = [a for a in args if a == "-m"]                 # argparse wants flags before overrides
    cmd = [sys.executable, "-m", "qrexp.experiment.cli", *flags, f"hydra.searchpath=[file://{TEST_CONF}]",
           f"out_dir={tmp / 'out'}", "progress=false", *[a for a in args if a != "-m"]]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"qrexp failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def counted_env(counts, faults=None) -> dict:
    """Environment of a qrexp subprocess whose forwards and generations are counted into ``counts``
    (tests/integration/call_counter), with ``QREXP_FAULT_AT=faults`` when given (else unset)."""
    counter = ROOT / "tests" / "integration" / "call_counter"
    env = {**os.environ, "QREXP_TEST_DATA": str(DATA), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(counter), str(ROOT)]), "QREXP_COUNT_CALLS": str(counts),
           "OMP_NUM_THREADS": "1"}
    env.pop("QREXP_FAULT_AT", None)
    if faults:
        env["QREXP_FAULT_AT"] = faults
    return env


def sweep_args(tiny_dir):
    return ["-m", "model=tiny", f"model.path={tiny_dir}", "detect=fixture", "eval=fixture_beir",
            "eval.methods=[icr],[random]", "scoring.calibrate=true,false", "model.k=3"]


def test_sweep_writes_runs_and_table_and_reruns_skip(tiny_dir, tmp_path):
    first = qrexp(tmp_path, *sweep_args(tiny_dir))
    runs = tmp_path / "out" / "runs"
    evals = sorted(p for p in runs.iterdir() if p.name.startswith("fixture-beir"))
    assert len(evals) == 4
    metrics = {}
    for folder in evals:
        rec = json.loads((folder / "metrics.json").read_text())
        key = (rec["config"]["method"], str(rec["config"]["scoring"]["calibrate"]))
        metrics[key] = rec["metrics"]["nDCG@10"]
        assert {"run.trec", "per_query.jsonl", "config.json"} <= {p.name for p in folder.iterdir()}
        assert rec["git_sha"] is None or len(rec["git_sha"]) == 40
        assert "torch" in rec["packages"] and rec["n"] == 2            # q1, q2 have qrels; q3 has none
    # a table built from the run folders (report stage), cells equal metrics.json
    qrexp(tmp_path, "model=tiny", f"model.path={tiny_dir}", "eval=fixture_beir", "stage=report",
          "report=fixture")
    md = (tmp_path / "out" / "tables" / "fixture_sweep.md").read_text()
    csv = (tmp_path / "out" / "tables" / "fixture_sweep.csv").read_text().splitlines()
    header = csv[0].split(",")
    for line in csv[1:]:
        row = line.split(",")
        for col, cell in zip(header[2:], row[2:]):
            assert float(cell) == pytest.approx(100 * metrics[(row[0], col)], abs=1e-6)
    assert "| icr |" in md and "| random |" in md
    # the same sweep again: every run is skipped, nothing recomputed
    before = {p: (p / "metrics.json").stat().st_mtime_ns for p in evals}
    out = qrexp(tmp_path, *sweep_args(tiny_dir))
    assert (out.stdout + out.stderr).count("finished earlier, skipping") == 4
    assert before == {p: (p / "metrics.json").stat().st_mtime_ns for p in evals}
    # the sweep summary: method x measure on the 0-100 scale, n and run folder per job, then counts
    assert "runs: 4 done, 0 reused, 0 failed" in first.stdout
    assert "runs: 0 done, 4 reused, 0 failed" in out.stdout
    summary = first.stdout[first.stdout.index("Sweep summary"):]
    header = next(line for line in summary.splitlines() if line.startswith("job"))
    assert header.split()[:5] == ["job", "method", "nDCG@10", "R@5", "n"]
    for folder in evals:
        rec = json.loads((folder / "metrics.json").read_text())
        calibrate = str(rec["config"]["scoring"]["calibrate"])   # Hydra writes True / False
        line = next(line for line in summary.splitlines() if line.endswith(str(folder)))
        cells = line.split()
        assert cells[0] == f"eval.methods=[{rec['config']['method']}]" and cells[1] == f"scoring.calibrate={calibrate}"
        assert cells[3] == f"{100 * rec['metrics']['nDCG@10']:.1f}" and cells[4] == f"{100 * rec['metrics']['R@5']:.1f}"
        assert cells[5] == str(rec["n"])


def test_failing_sweep_job_is_reported_and_others_run(tiny_dir, tmp_path):
    proc = qrexp(tmp_path, "-m", "model=tiny", f"model.path={tiny_dir}", "eval=fixture_beir",
                 "eval.methods=[icr],[published]", "heads.task=lme", check=False)
    assert proc.returncode != 0
    assert "published_key" in proc.stdout + proc.stderr
    finished = [p for p in (tmp_path / "out" / "runs").iterdir() if (p / "metrics.json").exists()]
    assert len(finished) == 1 and "icr" in finished[0].name
    # the sweep still ends with its summary: one run done, one job failed with a one-line reason
    assert "runs: 1 done, 0 reused, 1 failed" in proc.stdout
    failure = next(line for line in proc.stdout.splitlines() if line.startswith("  failed"))
    assert "job eval.methods=[published]: InputError: config: method 'published' needs model.published_key" in failure


def test_detection_then_qrhead_and_wandb_offline(tiny_dir, tmp_path):
    qrexp(tmp_path, "model=tiny", f"model.path={tiny_dir}", "detect=fixture", "eval=fixture_beir",
          "eval.methods=[qrhead]", "model.k=2", "logger=wandb", "logger.mode=offline")
    runs = tmp_path / "out" / "runs"
    detection = next(p for p in runs.iterdir() if "fixture-qrscore" in p.name)
    heads = json.loads((detection / "heads.json").read_text())
    assert len(heads["heads"]) == 2 and (detection / "heads.png").exists()
    qr = next(p for p in runs.iterdir() if p.name.startswith("fixture-beir-qrhead"))
    assert (qr / "heads.txt").read_text().strip() == ",".join(heads["heads"])
    assert list((qr / "wandb").glob("offline-run-*")), "no offline W&B run folder"
    detected = tmp_path / "out" / "heads" / "detected"
    assert (detected / f"{detection.name}.json").exists()


def test_submitit_local_launcher(tiny_dir, tmp_path):
    qrexp(tmp_path, "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
          "model=tiny", f"model.path={tiny_dir}", "eval=fixture_beir", "eval.methods=[icr],[random]")
    finished = [p for p in (tmp_path / "out" / "runs").iterdir() if (p / "metrics.json").exists()]
    assert len(finished) == 2


def test_every_evaluation_kind_runs_from_an_experiment_config(tiny_dir, tmp_path):
    """BEIR, LongMemEval (recall + QA) and CLIPPER (recall + claim verification) on the fixtures,
    with BM25, dense, RankGPT and full-context baselines, into run folders and one table."""
    qrexp(tmp_path, "experiment=fixture_suite", "model=tiny", f"model.path={tiny_dir}")
    runs = {}
    for metrics in (tmp_path / "out" / "runs").glob("*/metrics.json"):
        rec = json.loads(metrics.read_text())
        if rec["config"].get("stage") == "evaluate":
            runs[(rec["config"]["eval"]["name"], rec["config"]["method"])] = rec
    assert set(runs) == {("fixture-beir", "icr"), ("fixture-lme", "icr"), ("fixture-lme", "bm25"),
                         ("fixture-lme", "rankgpt"), ("fixture-lme", "full-context"),
                         ("fixture-clipper", "icr"), ("fixture-clipper", "dense"),
                         ("fixture-clipper", "full-context")}
    lme = runs[("fixture-lme", "icr")]
    assert lme["n"] == 4 and "Acc@2" in lme["metrics"] and "R@3" in lme["metrics"]
    assert "Acc" in runs[("fixture-lme", "full-context")]["metrics"]
    assert "PairAcc@1" in runs[("fixture-clipper", "icr")]["metrics"]
    assert lme["extra"]["gold_coverage"] == {"n": 4, "with_gold": 3, "left_out": {"abstention question": 1}}
    assert runs[("fixture-lme", "bm25")]["extra"]["stats.own_docs"] == 4
    assert "stats.parse_failures" in runs[("fixture-lme", "rankgpt")]["extra"]
    rows = [json.loads(line) for line in
            (tmp_path / "out" / "runs" / lme["run_id"] / "per_query.jsonl").read_text().splitlines()]
    assert {"qid", "R@1", "hypothesis@2", "label@2"} <= set(rows[0])
    table = (tmp_path / "out" / "tables" / "fixture_suite.md").read_text()
    assert "| icr |" in table and "fixture-clipper" in table
