"""Run locks with real processes (multiprocessing, spawn): mutual exclusion, one computation
reused by every waiter, stale locks of killed owners taken over, time-outs naming the owner."""
import json
import multiprocessing as mp
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from qrexp.io.locks import FileLock, LockTimeout, read_owner, run_lock
from qrexp.io.files import atomic_write_text

CTX = mp.get_context("spawn")


def _critical(lock_path: str, journal: str, hold_s: float) -> None:
    with FileLock(lock_path, log=lambda m: None, poll_s=0.01):
        with open(journal, "a") as fh:
            fh.write(f"start {os.getpid()}\n")
            fh.flush()
        time.sleep(hold_s)
        with open(journal, "a") as fh:
            fh.write(f"end {os.getpid()}\n")


def test_only_one_process_inside_at_a_time(tmp_path):
    journal = tmp_path / "journal.txt"
    procs = [CTX.Process(target=_critical, args=(str(tmp_path / "x.lock"), str(journal), 0.15))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)      # spawned children import qrexp (torch): slow on a loaded machine
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    lines = journal.read_text().splitlines()
    assert len(lines) == 8
    for start, end in zip(lines[::2], lines[1::2]):        # strictly start/end pairs of one pid
        assert start.split()[0] == "start" and end == "end " + start.split()[1]
    assert not (tmp_path / "x.lock").exists()              # released locks leave no file


def _compute_or_reuse(root: str, rid: str, out: str, start=None) -> None:
    """What evaluate() does: under the run's lock, reuse a finished result or compute it. ``start``
    (a barrier) lines the processes up after their imports, so they contend for the lock together."""
    lines = []
    if start is not None:
        start.wait(300)
    with run_lock(root, rid, log=lines.append, poll_s=0.01):
        result = Path(root) / rid / "metrics.json"
        if result.is_file():
            value, how = json.loads(result.read_text())["value"], "reused"
        else:
            with open(Path(root) / "computations.txt", "a") as fh:   # count real computations
                fh.write(f"{os.getpid()}\n")
            time.sleep(0.5)                                            # the "forward passes"
            value, how = 0.1 + 0.2, "computed"
            atomic_write_text(result, json.dumps({"value": value}))
    Path(out).write_text(json.dumps({"value": value, "how": how, "log": lines}))


def test_identical_jobs_compute_once_and_the_others_reuse(tmp_path):
    outs = [tmp_path / f"out{i}.json" for i in range(3)]
    runs = tmp_path / "runs"
    runs.mkdir()
    start = CTX.Barrier(len(outs))                  # imports (torch) take seconds; contend together
    procs = [CTX.Process(target=_compute_or_reuse, args=(str(runs), "run-a1b2", str(o), start)) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    results = [json.loads(o.read_text()) for o in outs]
    assert len((runs / "computations.txt").read_text().split()) == 1
    assert sorted(p.name for p in runs.iterdir()) == ["computations.txt", "run-a1b2"]   # no lock files
    assert sorted(r["how"] for r in results) == ["computed", "reused", "reused"]
    assert {r["value"] for r in results} == {0.1 + 0.2}
    waiters = [r for r in results if r["how"] == "reused"]
    # a waiter that arrived while the run was computed names the holder; one that arrived after it
    # finished just reuses it (which happens first depends on process start-up under load)
    assert all("held by pid" in line for r in waiters for line in r["log"] if "waiting" in line)


def test_a_lock_changing_hands_is_not_reported_as_an_unknown_owner(tmp_path):
    """Between an owner's flock and its record being written the lock file is empty (and between a
    release and the next owner it is absent): a waiter polling then must not log "an unknown owner"
    but wait for the record and name the owner (the race that made a waiter's log anonymous)."""
    import fcntl
    import threading
    lock = tmp_path / "r.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)          # held, record not yet written
    record = json.dumps({"pid": 4242, "host": "elsewhere", "since": "t0"})
    writer = threading.Timer(0.3, lambda: os.pwrite(fd, record.encode(), 0))
    writer.start()
    lines = []
    try:
        with pytest.raises(LockTimeout, match="still held by pid 4242 on elsewhere"):
            FileLock(lock, log=lines.append, poll_s=0.01, timeout_s=0.6).acquire()
    finally:
        writer.join()
        os.close(fd)
    assert lines == [f"[lock] r: held by pid 4242 on elsewhere (since t0); waiting"]


def _hold_forever(lock_path: str, ready: str) -> None:
    with FileLock(lock_path, log=lambda m: None):
        Path(ready).touch()
        time.sleep(600)


def _start_holder(tmp_path):
    lock, ready = tmp_path / ".locks" / "r.lock", tmp_path / "ready"
    holder = CTX.Process(target=_hold_forever, args=(str(lock), str(ready)))
    holder.start()
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.02)
    assert ready.exists()
    return holder, lock


def test_stale_lock_of_a_killed_owner_is_detected_and_taken_over(tmp_path):
    holder, lock = _start_holder(tmp_path)
    owner = read_owner(lock)
    assert owner["pid"] == holder.pid and owner["host"] == socket.gethostname()
    os.kill(holder.pid, signal.SIGKILL)                    # dies without releasing: the file stays
    holder.join(30)
    assert lock.exists()
    lines = []
    t0 = time.monotonic()
    with FileLock(lock, log=lines.append, poll_s=0.01, timeout_s=10) as mine:
        assert time.monotonic() - t0 < 2
        assert mine.stale["pid"] == holder.pid
        assert read_owner(lock)["pid"] == os.getpid()
    assert len(lines) == 1 and f"stale lock of pid {holder.pid} on {socket.gethostname()}" in lines[0]
    assert "owner gone" in lines[0] and not lock.exists()


def test_wait_times_out_naming_the_owner(tmp_path):
    holder, lock = _start_holder(tmp_path)
    try:
        with pytest.raises(LockTimeout, match=f"still held by pid {holder.pid} on "):
            FileLock(lock, log=lambda m: None, poll_s=0.02, timeout_s=0.3).acquire()
    finally:
        holder.terminate()
        holder.join(30)


def test_each_launch_gets_its_own_hydra_folder():
    """Two processes started together resolve conf/config.yaml's hydra.sweep.dir and hydra.run.dir
    to different folders (timestamp + pid + random), even within the same second."""
    import subprocess
    import sys
    code = ("from hydra import compose, initialize_config_dir\n"
            "from hydra.core.hydra_config import HydraConfig\n"
            "import qrexp.experiment.cli\n"
            "from qrexp.experiment.cli import CONF_DIR\n"
            "with initialize_config_dir(version_base='1.3', config_dir=CONF_DIR):\n"
            "    cfg = compose('config', overrides=['out_dir=o'], return_hydra_config=True)\n"
            "print(cfg.hydra.sweep.dir, cfg.hydra.run.dir)\n")
    root = Path(__file__).resolve().parents[3]
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    (sweep_a, run_a), (sweep_b, run_b) = outs
    assert sweep_a.startswith("o/hydra/multirun/") and run_a.startswith("o/hydra/")
    assert sweep_a != sweep_b and run_a != run_b
    assert sweep_a.rsplit("-", 2)[1] == str(procs[0].pid)       # <date>_<time>-<pid>-<random>
