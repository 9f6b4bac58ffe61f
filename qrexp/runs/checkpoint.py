"""Per-query checkpoints inside one run folder, so that a run killed at query 400 of 512 (a SLURM
preemption, a node failure, Ctrl-C) restarts at query 400 instead of query 0.

Layout: ``<run folder>/partial/<journal>.jsonl``, one journal per kind of per-query work (``ranking``:
one ranking per query; ``qa``, ``judge``, ``rankgpt``: one reply per generator prompt; ``niah``: one
NIAH detection case, qrexp.experiment.detect.niah_scores). A journal is
append-only JSON lines:

* line 1, the header ``{"format", "journal", "depends"}``: ``depends`` is the sha256 of the canonical
  JSON of what the whole run depends on (the run's semantic config, the same one its run id hashes
  in 10 hex digits) and of the qrexp source code (:func:`code_digest`: results computed by other
  code are not reused). A journal written for another config or code is reported and started over.
* every other line, one finished unit ``{"key", "dep", "value"}``: ``dep`` is the sha256 of what that
  unit depends on (the example's qid, query and documents; the prompt, the generator and its
  settings), so reused state is checked against its inputs: a record whose inputs changed is
  recomputed, never served.

Writes: each record is one ``os.write`` of a whole line to a file opened with ``O_APPEND``, then
``fsync``. A line torn by a kill (no final newline, or not JSON) is cut off on the next open (the
file is truncated to its last whole line). Only the process holding the run's lock
(:func:`qrexp.io.locks.run_lock`) opens a run's journals, so journals are never written by two
jobs at once. The run's finish marker (metrics.json) is written after every artifact; the journals
are scratch and are removed by :meth:`QueryCheckpoint.discard` once it is written.

Fault injection for preemption tests: ``QREXP_FAULT_AT=<journal>:<n>[:<SIGNAL>][,...]`` sends the
process ``SIGNAL`` (default ``KILL``; ``USR2`` is submitit's preemption signal) right after that
journal's ``n``-th record is on disk. A resumed process starts with ``n`` records, so it is not signalled again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from tqdm.auto import tqdm

from qrexp.io.files import canonical_json

FORMAT = "qrexp.partial.v1"
PARTIAL_DIR = "partial"
FAULT_ENV = "QREXP_FAULT_AT"
MISSING = object()
T = TypeVar("T")


def digest(obj: Any) -> str:
    """sha256 hex of the canonical JSON of ``obj`` (key order does not matter)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the path and bytes of every ``.py`` file of the installed qrexp package (a few
    milliseconds): equal for a requeued job, different after any edit of the code."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(f"{path.relative_to(package).as_posix()}\0".encode("utf-8"))
        h.update(path.read_bytes())
    return h.hexdigest()


class Journal:
    """One append-only journal of finished units (see the module docstring for the file format).

    ``done``: {key: (dep digest, value)} read from disk; ``resumed``: how many records were read;
    ``computed``: how many this process appended. Raises OSError when the folder is not writable.
    """

    def __init__(self, path: Path, depends: str, log: Callable[[str], None] = print) -> None:
        self.path, self.depends, self.log = Path(path), depends, log
        self.name = self.path.stem
        self.done: dict[str, tuple[str, Any]] = {}
        self.count = 0                        # records in the file (read + appended)
        self.computed = 0
        self._load()
        self.resumed = self.count
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        if self.path.stat().st_size == 0:
            self._append({"format": FORMAT, "journal": self.name, "depends": depends})

    def _load(self) -> None:
        """Read the records of a journal written for the same ``depends``; cut off a torn tail."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return
        good, lines = 0, raw.split(b"\n")
        for i, line in enumerate(lines[:-1]):              # the last piece has no newline: torn or empty
            try:
                rec = json.loads(line)
            except ValueError:
                break
            if i == 0:
                if not (isinstance(rec, dict) and rec.get("format") == FORMAT
                        and rec.get("depends") == self.depends):
                    self.log(f"[checkpoint] {self.path}: written for another config, code or format "
                             f"({str(rec.get('depends') if isinstance(rec, dict) else rec)[:12]}... != "
                             f"{self.depends[:12]}...); starting over")
                    self.path.unlink()
                    return
            elif isinstance(rec, dict) and {"key", "dep", "value"} <= rec.keys():
                self.done[rec["key"]] = (rec["dep"], rec["value"])
                self.count += 1
            else:
                break
            good += len(line) + 1
        if good < len(raw):
            self.log(f"[checkpoint] {self.path}: cut off {len(raw) - good} bytes of a torn last record")
            os.truncate(self.path, good)

    def _append(self, record: Mapping[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        written = os.write(self.fd, data)
        if written != len(data):
            raise OSError(f"{self.path}: short write ({written} of {len(data)} bytes)")
        os.fsync(self.fd)

    def lookup(self, key: str, dep: str) -> Any:
        """The recorded value of ``key`` if it was computed from the same inputs ``dep``, else MISSING."""
        found = self.done.get(key)
        if found is None:
            return MISSING
        if found[0] != dep:
            self.log(f"[checkpoint] {self.path.name}: {key[:40]} was computed from other inputs; recomputing")
            del self.done[key]
            return MISSING
        return found[1]

    def record(self, key: str, dep: str, value: Any) -> None:
        """Append one finished unit (durable on return), then apply ``QREXP_FAULT_AT`` if it names this point."""
        self._append({"key": key, "dep": dep, "value": value})
        self.done[key] = (dep, value)
        self.count += 1
        self.computed += 1
        _fault_point(self.name, self.count)

    def map(self, items: Sequence[T], key_of: Callable[[T], str], dep_of: Callable[[T], Any],
            compute: Callable[[list[T]], list[Any]], desc: str = "", progress: bool = True,
            batch: int = 1, unit: str = "query") -> list[Any]:
        """Values of ``items`` in order: the recorded value of an item finished before (same key and
        inputs), else ``compute(chunk)`` over the unfinished items in chunks of ``batch`` (one value
        per item, in order), each recorded as its chunk returns; a tqdm bar counts items. ``unit``
        names an item in the resume log line ("resuming at <unit> N of M")."""
        deps = [digest(dep_of(item)) for item in items]
        out = [self.lookup(key_of(item), dep) for item, dep in zip(items, deps)]
        todo = [i for i, value in enumerate(out) if value is MISSING]
        if len(todo) < len(items):
            self.log(f"[checkpoint] {desc or self.name}: resuming at {unit} {todo[0] if todo else len(items)} "
                     f"of {len(items)} ({len(items) - len(todo)} read back from {self.path.name})")
        with tqdm(total=len(todo), desc=desc or self.name, disable=not progress) as bar:
            for start in range(0, len(todo), max(1, batch)):
                chunk = todo[start:start + max(1, batch)]
                values = compute([items[i] for i in chunk])
                if len(values) != len(chunk):
                    raise RuntimeError(f"{self.path}: compute returned {len(values)} values for {len(chunk)} items")
                for i, value in zip(chunk, values):
                    out[i] = value
                    self.record(key_of(items[i]), deps[i], value)
                bar.update(len(chunk))
        return out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class QueryCheckpoint:
    """The journals of one run folder (``<folder>/partial/``), all checked against ``depends``.

    ``depends``: what the run depends on (its semantic config; JSON-able; the qrexp code digest is
    added). Open it only while
    holding the run's lock; call :meth:`discard` after the run's metrics.json is written.
    """

    def __init__(self, folder: str | os.PathLike, depends: Any, log: Callable[[str], None] = print) -> None:
        self.root = Path(folder) / PARTIAL_DIR
        self.depends, self.log = digest({"run": depends, "code": code_digest()}), log
        self.journals: dict[str, Journal] = {}

    def journal(self, name: str) -> Journal:
        if name not in self.journals:
            self.journals[name] = Journal(self.root / f"{name}.jsonl", self.depends, self.log)
        return self.journals[name]

    def summary(self) -> dict[str, dict[str, int]]:
        """{journal: {"resumed": records read, "computed": records appended}} of this process."""
        return {n: {"resumed": j.resumed, "computed": j.computed} for n, j in sorted(self.journals.items())}

    def discard(self) -> None:
        """Log what was resumed and computed, then close and remove the journals (call it after the
        finish marker: the run is complete without them)."""
        if self.journals:
            self.log(f"[checkpoint] {self.root.parent.name}: " + "; ".join(
                f"{n} resumed {c['resumed']} computed {c['computed']}" for n, c in self.summary().items()))
        for j in self.journals.values():
            j.close()
        self.journals.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _fault_point(journal: str, count: int) -> None:
    """Signal this process when a point of ``QREXP_FAULT_AT`` names ``journal`` at ``count`` records."""
    for point in os.environ.get(FAULT_ENV, "").split(","):
        name, _, rest = point.strip().partition(":")
        n, _, sig = rest.partition(":")
        if name == journal and n.isdigit() and int(n) == count:
            if sig == "INT":       # what Ctrl-C does, whatever SIGINT handler an embedding app installed
                raise KeyboardInterrupt(f"{FAULT_ENV}: {point.strip()}")
            os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))


def finished_keys(folder: str | os.PathLike, name: str) -> list[str]:
    """The record keys of a journal in a run folder (for tests and progress reports; [] if none)."""
    path = Path(folder) / PARTIAL_DIR / f"{name}.jsonl"
    if not path.is_file():
        return []
    lines: Iterable[bytes] = path.read_bytes().split(b"\n")[1:-1]
    return [json.loads(line)["key"] for line in lines]
