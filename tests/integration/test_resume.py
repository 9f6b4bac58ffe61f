"""Preemption on the submitit launcher (conf/hydra/launcher/local.yaml, the local executor): a sweep
of two runs on the LongMemEval fixture (icr and RankGPT rankings, QA answers for both) is killed
mid-run (SIGKILL: the job fails; submitit's preemption signal USR2: the job is checkpointed and
requeued by submitit) at known queries (QREXP_FAULT_AT, qrexp.runs.checkpoint), then submitted
again. Every run resumes at the query where it stopped, no forward pass or generation is done twice
(counted in every process by tests/integration/call_counter, not by qrexp), and the run folders
equal an uninterrupted sweep's byte for byte except the fields listed in VARYING."""
import collections
import json
import subprocess
import sys

from test_framework import TEST_CONF, counted_env

# icr: SIGKILL after its 2nd ranking; RankGPT: USR2 after its 2nd window; both: USR2 after the 3rd QA answer
FAULTS = "ranking:2,rankgpt:2:USR2,qa:3:USR2"
# metrics.json fields that describe the process, not the results (they differ between any two runs
# of the same config: time, and the forward passes done by the process that finished the run)
VARYING = ("timestamp", "wall_time_s", "extra.forwards")


def _sweep(tmp, out, tiny, counts, faults=None):
    env = counted_env(counts, faults)
    cmd = [sys.executable, "-m", "qrexp.experiment.cli", "-m", f"hydra.searchpath=[file://{TEST_CONF}]",
           "hydra/launcher=local", f"out_dir={out}", "progress=false", "model=tiny", f"model.path={tiny}",
           "eval=fixture_lme", "eval.methods=[icr],[rankgpt]", "eval.qa.methods=[]"]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=900)


def _calls(path):
    """Counter of (kind, what) over every process, and {pid: [lines]}."""
    rows = [line.split() for line in path.read_text().splitlines()]
    by_pid = collections.defaultdict(list)
    for pid, kind, what in rows:
        by_pid[pid].append((kind, what))
    return collections.Counter((kind, what) for _, kind, what in rows), by_pid


def _logs(out):
    return "\n".join(p.read_text(errors="replace") for p in (out / "hydra").rglob("*")
                     if p.is_file() and p.suffix in (".log", ".out", ".err"))


def _without(record, dotted):
    head, _, rest = dotted.partition(".")
    if rest:
        _without(record.get(head, {}), rest)
    else:
        record.pop(head, None)


def _run_folders(out):
    folders = {}
    for run in sorted((out / "runs").iterdir()):
        files = {}
        for f in sorted(p for p in run.rglob("*") if p.is_file()):
            data = f.read_bytes()
            if f.name == "metrics.json":
                record = json.loads(data)
                for field in VARYING:
                    _without(record, field)
                data = json.dumps(record, sort_keys=True).encode()
            files[str(f.relative_to(run))] = data
        folders[run.name] = files
    return folders


def test_killed_and_preempted_jobs_resume_where_they_stopped(tiny_dir, tmp_path):
    ref_counts, counts = tmp_path / "ref.calls", tmp_path / "resumed.calls"
    ref = _sweep(tmp_path, tmp_path / "ref", tiny_dir, ref_counts)
    assert ref.returncode == 0, ref.stderr[-3000:]

    first = _sweep(tmp_path, tmp_path / "out", tiny_dir, counts, FAULTS)
    assert first.returncode != 0                                  # the icr job was killed: it failed
    runs = {p.name.split("-")[2]: p for p in (tmp_path / "out" / "runs").iterdir()}
    assert set(runs) == {"icr", "rankgpt"}
    assert not (runs["icr"] / "metrics.json").exists()
    assert [json.loads(x)["key"] for x in (runs["icr"] / "partial" / "ranking.jsonl").read_text()
            .splitlines()[1:]] == ["e47becba", "6a1eabeb"]       # durable: the two finished queries
    assert (runs["rankgpt"] / "metrics.json").exists()           # requeued twice by submitit, finished
    calls_first = sum(_calls(counts)[0].values())

    second = _sweep(tmp_path, tmp_path / "out", tiny_dir, counts, FAULTS)
    assert second.returncode == 0, second.stderr[-3000:]
    log = _logs(tmp_path / "out")
    seen = lambda text: len({line for line in log.splitlines() if text in line})   # each event once
    assert seen("rank icr: resuming at query 2 of 4 (2 read back") == 1     # after SIGKILL
    assert seen("][WARNING] - Caught signal SIGUSR2 on") == 3                 # 2 x rankgpt, 1 x icr
    assert seen("rankgpt: 2 of 4 prompts answered earlier") == 1             # RankGPT window 3 of 4
    assert seen("qa: 3 of 4 prompts answered earlier") == 2                  # both QA stages
    assert seen("qa resumed 3 computed 1") == 2
    assert seen("finished earlier, skipping") == 1                           # rankgpt, 2nd launch

    # no forward pass and no generation done twice: the same work as the uninterrupted sweep
    ref_calls, _ = _calls(ref_counts)
    all_calls, by_pid = _calls(counts)
    assert all_calls == ref_calls, (all_calls - ref_calls, ref_calls - all_calls)
    forwards = sum(n for (kind, _), n in ref_calls.items() if kind == "forward")
    generations = sum(n for (kind, _), n in ref_calls.items() if kind == "generate")
    assert (forwards, generations) == (4, 12)               # 4 icr forwards; 4 windows + 2 x 4 answers
    print(f"\n[resume] uninterrupted: {forwards} forwards + {generations} generations; interrupted: "
          f"{len(by_pid)} processes, {calls_first} calls in the first launch, "
          f"{sum(all_calls.values()) - calls_first} in the second, none repeated")

    # the run folders equal the uninterrupted sweep's byte for byte (VARYING fields aside), no scratch left
    assert _run_folders(tmp_path / "out") == _run_folders(tmp_path / "ref")
    assert not any((tmp_path / "out" / "runs").glob("*/partial"))
