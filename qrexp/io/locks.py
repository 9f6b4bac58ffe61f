"""Per-run lock files, so that concurrent jobs (two identical sweeps, a SLURM array) never compute
the same run twice: the second waits for the first and then reuses its finished run folder.

A lock is the file ``<out_dir>/.locks/<run id>.lock`` (beside, not inside, ``runs/``) holding the owner's ``{"pid", "host",
"since", "token"}``. Mutual exclusion comes from ``fcntl.flock`` on that file (released by the kernel
when the owner exits or is killed, also over NFS with lockd); the file is removed on release, so a
lock file whose flock is free was left by an owner that died: it is reported as stale (with that
owner's pid, host and whether the pid is still alive on this host) and taken over. Waiting is
polling (``poll_s``) with a log line naming the owner; ``timeout_s`` bounds the wait.

POSIX only (Linux, macOS): ``fcntl`` is not available on Windows.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from qrexp.io.files import canonical_json

LOCK_DIR = ".locks"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:         # exists, owned by another user
        return True
    return True


def read_owner(path: str | os.PathLike) -> dict[str, Any] | None:
    """The owner record of a lock file, or None if absent or unreadable (being written)."""
    try:
        owner = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def describe(owner: dict[str, Any] | None) -> str:
    """One-line description of a lock owner record ("pid 12 on host (since ...)") for log lines."""
    if not owner:
        return "an unknown owner"
    return f"pid {owner.get('pid')} on {owner.get('host')} (since {owner.get('since')})"


class LockTimeout(TimeoutError):
    """The lock stayed held by another process for longer than ``timeout_s``."""


class FileLock:
    """An exclusive lock on ``path`` (created with its parents), as a context manager.

    ``log`` gets one line when the lock is held by someone else (then again every ``report_s``)
    and one when a stale lock is taken over. ``stale`` records the previous owner in that case.
    Raises :class:`LockTimeout` after ``timeout_s`` seconds of waiting (None: wait forever).
    """

    def __init__(self, path: str | os.PathLike, log: Callable[[str], None] = print,
                 poll_s: float = 0.2, timeout_s: float | None = None, report_s: float = 60.0) -> None:
        self.path = Path(path)
        self.log, self.poll_s, self.timeout_s, self.report_s = log, poll_s, timeout_s, report_s
        self.fd: int | None = None
        self.stale: dict[str, Any] | None = None
        self.waited_s = 0.0

    def _try_once(self) -> bool:
        """One attempt; True when this process holds the lock (file content written)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        try:       # the path must still name the file we locked (a releaser may have removed it)
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return False
        previous = os.read(fd, 1 << 16)
        if previous.strip():                 # a held lock's file is removed on release: stale
            try:
                self.stale = json.loads(previous)
            except ValueError:
                self.stale = {}
            alive = (self.stale.get("host") == socket.gethostname()
                     and isinstance(self.stale.get("pid"), int) and pid_alive(self.stale["pid"]))
            self.log(f"[lock] {self.path.name}: stale lock of {describe(self.stale)} "
                     f"({'pid still alive, lock released' if alive else 'owner gone'}); taking it over")
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "token": uuid.uuid4().hex}
        os.ftruncate(fd, 0)
        os.pwrite(fd, canonical_json(owner).encode(), 0)
        os.fsync(fd)
        self.fd, self.owner = fd, owner
        return True

    def acquire(self) -> "FileLock":
        """Block until the lock is ours (polling every ``poll_s`` seconds, one log line when waiting
        and every ``report_s`` seconds after); a stale lock (owner gone) is taken over. Writes the
        owner record (pid, host, since, token) into the lock file; sets ``waited_s``. Raises
        LockTimeout naming the owner after ``timeout_s`` seconds (None: wait forever)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = last_report = time.monotonic()
        reported = False
        while not self._try_once():
            now = time.monotonic()
            owner = read_owner(self.path)
            # no readable owner: the lock is changing hands (just released, or the new owner has not
            # written its record yet); name the owner once it is known, or after a second of this
            in_transition = owner is None and now - start < 1.0
            if not in_transition and (not reported or now - last_report >= self.report_s):
                self.log(f"[lock] {self.path.stem}: held by {describe(owner)}; waiting")
                reported, last_report = True, now
            if self.timeout_s is not None and now - start >= self.timeout_s:
                raise LockTimeout(f"{self.path}: still held by {describe(owner)} "
                                  f"after {self.timeout_s:.0f} s")
            time.sleep(self.poll_s)
        self.waited_s = time.monotonic() - start
        return self

    def release(self) -> None:
        """Remove the lock file, then drop the flock (waiters then see the path gone and retry)."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def run_lock(runs_root: str | os.PathLike, run_id: str, log: Callable[[str], None] = print,
             **options) -> FileLock:
    """The lock of one run: ``<runs_root>/../.locks/<run_id>.lock`` (see :class:`FileLock`); outside
    the runs folder, so that every entry of ``runs/`` stays a run folder."""
    return FileLock(Path(runs_root).parent / LOCK_DIR / f"{run_id}.lock", log=log, **options)
