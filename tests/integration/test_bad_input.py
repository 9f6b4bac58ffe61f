"""Bad input on the command line: one line on stderr ("qrexp: error: ..."), exit status 2, before any
model loads, and no run folder; a sweep reports such a job and still runs the others."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def qrexp(tmp, tiny_dir, *args, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k != "QREXP_DEBUG"}
    env.update({"QREXP_TEST_DATA": str(DATA), "IR_DATASETS_HOME": str(tmp / "ird"), "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(extra_env or {})})   # this checkout's qrexp
    flags = [a for a in args if a == "-m"]
    cmd = [sys.executable, "-m", "qrexp", *flags, f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]",
           f"out_dir={tmp / 'out'}", "progress=false", "model=tiny", f"model.path={tiny_dir}",
           "eval=fixture_beir", *[a for a in args if a != "-m"]]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc, tmp, expected: str):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [x for x in proc.stderr.splitlines() if x.startswith("qrexp: error:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Loading weights" not in proc.stdout + proc.stderr            # the model never loaded
    assert not (tmp / "out" / "runs").exists()                            # no run folder at all


@pytest.mark.parametrize("override,expected", [
    ("scoring.calibrate=maybe", "config scoring.calibrate='maybe': expected true or false"),
    ("eval.measures=[ndcg_cut.5,10]", "quoted, e.g. 'eval.measures=[\"ndcg_cut.5,10\"]'"),
    ("eval.methods=[icr,bm2]", "config eval.methods[1]: unknown method 'bm2'; did you mean bm25?"),
])   # more probes, in process: tests/unit/experiment/test_config.py and test_preflight.py
def test_bad_config_is_one_line_before_any_work(tiny_dir, tmp_path, override, expected):
    assert_one_line_error(qrexp(tmp_path, tiny_dir, override), tmp_path, expected)


def test_bad_data_record_is_one_line_naming_file_and_line(tiny_dir, tmp_path):
    folder = tmp_path / "beir_bad"
    shutil.copytree(DATA / "beir_tiny", folder)
    lines = (folder / "corpus.jsonl").read_text().splitlines()
    lines[2] = lines[2][:-1]                                           # line 3 loses its closing brace
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    proc = qrexp(tmp_path, tiny_dir, f"eval.data.args.source={folder}", "eval.methods=[icr,bm25]")
    assert_one_line_error(proc, tmp_path, f"{folder / 'corpus.jsonl'} line 3: invalid JSON")


def test_debug_flag_shows_the_traceback(tiny_dir, tmp_path):
    proc = qrexp(tmp_path, tiny_dir, "scoring.calibrate=maybe", extra_env={"QREXP_DEBUG": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr


def test_sweep_reports_the_bad_job_and_runs_the_others(tiny_dir, tmp_path):
    proc = qrexp(tmp_path, tiny_dir, "-m", "eval.methods=[bm25],[bm2]")
    assert proc.returncode == 2
    assert "config eval.methods[0]: unknown method 'bm2'" in proc.stderr
    assert "1 sweep job(s) stopped on bad input" in proc.stderr and "Traceback" not in proc.stderr
    (folder,) = list((tmp_path / "out" / "runs").iterdir())
    assert "bm25" in folder.name
    assert json.loads((folder / "metrics.json").read_text())["metrics"]["nDCG@10"] > 0


def test_ctrl_c_is_one_line_and_the_rerun_resumes(tiny_dir, tmp_path):
    """Ctrl-C after the 2nd of 4 rankings (the fault hook raises KeyboardInterrupt there, as a SIGINT
    does): one line saying how to resume, no traceback, exit 130; the rerun reads the 2 back."""
    args = ("eval.methods=[icr]", "eval.data.args.top_k=3")
    proc = qrexp(tmp_path, tiny_dir, *args, extra_env={"QREXP_FAULT_AT": "ranking:2:INT"})
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("qrexp: interrupted; "), proc.stderr[-1000:]
    again = qrexp(tmp_path, tiny_dir, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming at query 2 of " in again.stdout + again.stderr


def test_misspelt_command_is_one_line_with_a_suggestion(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "qrexp", "viwe"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "qrexp: error: unknown command 'viwe'; did you mean 'view'? (commands: list, view; anything else "
        "is a Hydra override key=value)"), proc.stderr[-2000:]
