"""Two identical sweeps started together into one out_dir (two real processes): every run is
computed once (the other sweep waits and reuses it), each launch gets its own Hydra multirun folder
with unmixed job logs, and the report table equals one written alone."""
import os
import re
import subprocess
import sys
import time

from hydra import compose, initialize_config_dir

from qrexp.experiment.config import evals_of, from_hydra
from qrexp.experiment.evaluate import eval_id
from qrexp.io.locks import run_lock
from test_framework import CONF, DATA, ROOT, TEST_CONF, qrexp  # noqa: F401

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
