"""Two identical sweeps started together into one out_dir (two real processes): every run is
computed once (the other sweep waits and reuses it), each launch gets its own Hydra multirun folder
with unmixed job logs, and the report table equals one written alone."""
import json
import os
import re
import subprocess
import sys
import time

from hydra import compose, initialize_config_dir

from qrexp.experiment.config import evals_of, from_hydra
from qrexp.experiment.evaluate import eval_id
from qrexp.io.locks import run_lock
from test_framework import CONF, DATA, ROOT, TEST_CONF, counted_env, qrexp  # noqa: F401

COMPUTED = re.compile(r"\[evaluate\] (\S+): \{")              # a run computed (not skipped)


def _sweep_cmd(tmp, tiny):
    return [sys.executable, "-m", "qrexp.experiment.cli", "-m", f"hydra.searchpath=[file://{TEST_CONF}]",
            f"out_dir={tmp / 'out'}", "progress=false", "model=tiny", f"model.path={tiny}",
            "eval=fixture_beir", "eval.methods=[icr],[random]", "scoring.calibrate=true,false",
            "model.k=3", "report=fixture"]


def _first_run_id(tiny, monkeypatch):
    """The run id of the sweep's first job (icr, calibrate=true), from the same config."""
    monkeypatch.setenv("QREXP_TEST_DATA", str(DATA))
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = from_hydra(compose("config", overrides=[
            f"hydra.searchpath=[file://{TEST_CONF}]", "model=tiny", f"model.path={tiny}",
            "eval=fixture_beir", "eval.methods=[icr]", "scoring.calibrate=true", "model.k=3"]))
    return eval_id(evals_of(cfg)[0], "icr")


def test_identical_concurrent_sweeps_compute_each_run_once(tiny_dir, tmp_path, monkeypatch):
    env = {**os.environ, "QREXP_TEST_DATA": str(DATA), "IR_DATASETS_HOME": str(tmp_path / "ird"),
           "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    first = _first_run_id(tiny_dir, monkeypatch)
    logs = [tmp_path / f"sweep{i}.log" for i in range(2)]
    # hold the first job's lock so that both sweeps are certainly inside the same run together
    with run_lock(tmp_path / "out" / "runs", first, log=lambda m: None):
        procs = [subprocess.Popen(_sweep_cmd(tmp_path, tiny_dir), cwd=tmp_path, env=env,
                                  stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]
        deadline = time.time() + 400
        while time.time() < deadline and not all(
                f"{first}: held by pid {os.getpid()}" in log.read_text() for log in logs):
            assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs]
            time.sleep(0.5)
        assert all(f"{first}: held by pid {os.getpid()}" in log.read_text() for log in logs)
    for p in procs:
        p.wait(600)
    outputs = [log.read_text() for log in logs]
    assert [p.returncode for p in procs] == [0, 0], [o[-3000:] for o in outputs]

    runs = sorted(p.name for p in (tmp_path / "out" / "runs").iterdir()
                  if p.name.startswith("fixture-beir") and (p / "metrics.json").is_file())
    computed = [rid for out in outputs for rid in COMPUTED.findall(out)]
    assert len(runs) == 4 and sorted(computed) == runs          # each run computed exactly once
    assert sum(out.count("finished earlier, skipping") for out in outputs) == 4   # the others reused

    # one multirun folder per launch, four job folders each, one evaluation in each job's log
    sweeps = sorted((tmp_path / "out" / "hydra" / "multirun").iterdir())
    assert len(sweeps) == 2
    for sweep in sweeps:
        assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
        for job in (sweep / str(i) for i in range(4)):
            text = "".join(p.read_text() for p in job.glob("*.log"))
            assert len(re.findall(r"\[evaluate\] fixture-beir-\S+: (?:\{|finished earlier)", text)) == 1

    # the shared table equals a table written alone from the same runs
    qrexp(tmp_path, "model=tiny", f"model.path={tiny_dir}", "eval=fixture_beir", "stage=report",
          "report=fixture", f"report.out={tmp_path / 'solo'}")
    shared = (tmp_path / "out" / "tables" / "fixture_sweep.md").read_text()
    assert shared == (tmp_path / "solo" / "fixture_sweep.md").read_text()
    assert shared.count("Sample sizes") == 1


# ------------------------------------------------------------------ preemption while another job waits


def _job(tmp, log, *overrides, counts, faults=None):
    env = counted_env(counts, faults)
    cmd = [sys.executable, "-m", "qrexp.experiment.cli", f"hydra.searchpath=[file://{TEST_CONF}]",
           "progress=false", "eval=fixture_lme", "eval.qa.enabled=false", "eval.qa.methods=[]", *overrides]
    return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_for(proc_log, text, procs, seconds=400):
    deadline = time.time() + seconds
    while time.time() < deadline and text not in proc_log.read_text():
        assert all(p.poll() is None for p in procs), proc_log.read_text()[-3000:]
        time.sleep(0.3)
    assert text in proc_log.read_text(), proc_log.read_text()[-3000:]


def _forwards(counts):
    return sorted(line.split()[2] for line in counts.read_text().splitlines() if line.split()[1] == "forward")


def test_a_waiting_job_takes_over_a_killed_jobs_run_and_resumes_it(tiny_dir, tmp_path):
    """Job A computes a run and stops (SIGSTOP, holding the run lock) after 2 of 4 queries; job B on
    the same run waits on the lock; A is killed (a node lost): B takes the stale lock over, reuses
    A's 2 journaled queries and computes the other 2: every query's forward pass is done once."""
    counts, logs = tmp_path / "calls", [tmp_path / "a.log", tmp_path / "b.log"]
    args = ["model=tiny", f"model.path={tiny_dir}", f"out_dir={tmp_path / 'out'}", "eval.methods=[icr]"]
    a = _job(tmp_path, logs[0], *args, counts=counts, faults="ranking:2:STOP")
    try:
        journal = tmp_path / "out" / "runs"
        deadline = time.time() + 400
        while time.time() < deadline and not any(journal.glob("*/partial/ranking.jsonl")):
            assert a.poll() is None, logs[0].read_text()[-3000:]
            time.sleep(0.3)
        b = _job(tmp_path, logs[1], *args, counts=counts)
        _wait_for(logs[1], f"held by pid {a.pid}", [b])                 # B waits for A
        assert len(_forwards(counts)) == 2                               # A stopped after its 2nd query
        a.kill()                                                         # SIGKILL: the flock is freed
        a.wait(60)
        assert b.wait(600) == 0, logs[1].read_text()[-3000:]
    finally:
        for p in (a,):
            if p.poll() is None:
                p.kill()
    out = logs[1].read_text()
    # A's pid may still exist as a zombie until the test reaps it: either wording names the takeover
    assert f"stale lock of pid {a.pid}" in out and ("owner gone" in out or "lock released" in out)
    assert "rank icr: resuming at query 2 of 4 (2 read back" in out
    assert "ranking resumed 2 computed 2" in out
    assert _forwards(counts) == sorted(["e47becba", "6a1eabeb", "c3d4e5f6_abs", "gpt4_0f1e2d3c"])
    run = next((tmp_path / "out" / "runs").glob("fixture-lme-icr-*"))
    assert (run / "metrics.json").is_file() and not (run / "partial").exists()


def test_jobs_sharing_one_score_cache_leave_it_consistent(tiny_dir, tmp_path):
    """Two jobs with different runs (icr, icr-uncal: the same cached TokenScores per example) and
    out_dirs but one cache_dir, started together: both finish, and a third job reading only that
    cache does no forward pass and reproduces both runs' metrics exactly. Per-example compute locks
    (qrexp.engine.score_cache) make the two jobs compute each example once between them."""
    counts = tmp_path / "calls"
    cache = f"cache_dir={tmp_path / 'cache'}"
    common = ["model=tiny", f"model.path={tiny_dir}", cache]
    procs = [_job(tmp_path, tmp_path / f"{m}.log", *common, f"out_dir={tmp_path / m}", f"eval.methods=[{m}]",
                  counts=counts) for m in ("icr", "icr-uncal")]
    for p, m in zip(procs, ("icr", "icr-uncal")):
        assert p.wait(600) == 0, (tmp_path / f"{m}.log").read_text()[-3000:]
    concurrent = len(_forwards(counts))
    assert concurrent == 4             # each example computed by one job; the other waits and reads it
    print(f"\n[shared cache] 2 concurrent jobs x 4 examples: {concurrent} forward passes")
    check = _job(tmp_path, tmp_path / "check.log", *common, f"out_dir={tmp_path / 'check'}",
                 "eval.methods=[icr,icr-uncal]", counts=counts)
    assert check.wait(600) == 0, (tmp_path / "check.log").read_text()[-3000:]
    assert len(_forwards(counts)) == concurrent                    # the cache is complete and readable
    assert "recomputing" not in (tmp_path / "check.log").read_text()  # no file was torn or mis-shaped
    for m in ("icr", "icr-uncal"):
        (ran,) = (tmp_path / m / "runs").glob("fixture-lme-*")
        rechecked = tmp_path / "check" / "runs" / ran.name
        assert (ran / "run.trec").read_bytes() == (rechecked / "run.trec").read_bytes()
        assert json.loads((ran / "metrics.json").read_text())["metrics"] == \
            json.loads((rechecked / "metrics.json").read_text())["metrics"]
