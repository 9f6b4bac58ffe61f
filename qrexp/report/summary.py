"""End-of-run and end-of-sweep summaries in the field's terms.

A run ends with one table per evaluation data set: methods as rows, measures as columns in
ir_measures-style names (``nDCG@10``, ``R@5``; qrexp.measures) on the 0-100 scale of the paper's
tables, with the number of queries ``n`` and the run folder. A sweep ends with the same table over
all its jobs (a ``job`` column names the swept overrides, e.g. ``heads.k=16``) and a count of runs
done / reused / failed, with each failure's one-line reason.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from qrexp.io.files import atomic_write_text, dumps_json
from qrexp.measures import canonical_key, is_measure, sort_key
from qrexp.io.redact import redact

MISSING = "–"
JOB_RECORD = "qrexp_summary.json"          # one per sweep job, in the job's Hydra output folder
STATUSES = ("done", "reused", "failed")


@dataclass
class RunRow:
    """One evaluation run in a summary; ``measures`` hold 0-1 values under canonical names."""
    eval: str
    method: str
    status: str                           # done | reused | failed
    measures: dict[str, float] = field(default_factory=dict)
    n: int | None = None
    path: str | None = None               # the run folder
    reason: str | None = None             # one line, for failed runs
    job: str = ""                         # the swept overrides of the job (sweeps only)


def headline(retrieval: Sequence[str], metrics: Mapping[str, Any]) -> list[str]:
    """The measures a summary shows, in canonical names: the evaluation kind's ``retrieval`` headline
    measures (qrexp.evals.kinds.EvalKind.headline, given by the caller: the configured trec_eval
    measures for BEIR-style evaluations, R@k at the configured cut-offs for long-context ones), then
    the QA accuracies (Acc@k, PairAcc@k) when present; only those ``metrics`` holds."""
    present = {canonical_key(k) for k in metrics}
    names = list(retrieval)
    names += sorted((n for n in present if n.startswith(("Acc", "PairAcc")) and is_measure(n)), key=sort_key)
    return [n for n in dict.fromkeys(names) if n in present]


def row_of(cfg, method: str, status: str, metrics: Mapping[str, Any] | None = None, n: int | None = None,
           path: str | None = None, reason: str | None = None, retrieval: Sequence[str] = ()) -> RunRow:
    """A RunRow for evaluation ``method`` under RunConfig ``cfg``: the :func:`headline` measures of
    ``metrics`` (``retrieval``: the kind's headline retrieval measures, canonical names)."""
    metrics = {canonical_key(k): v for k, v in (metrics or {}).items()}
    shown = headline(retrieval, metrics)
    return RunRow(cfg.eval.name, method, status, {k: float(metrics[k]) for k in shown
                                                  if isinstance(metrics[k], (int, float))}, n, path, reason)


def _fmt(value: float | None) -> str:
    return MISSING if value is None or math.isnan(value) else f"{100 * value:.1f}"


def _align(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def format_table(rows: Iterable[RunRow]) -> str:
    """One block per evaluation data set: method (and job) x measure (x100), n, status, run folder."""
    rows = [r for r in rows if r.status != "failed"]
    out = []
    for name in dict.fromkeys(r.eval for r in rows):
        block = [r for r in rows if r.eval == name]
        measures = sorted({m for r in block for m in r.measures}, key=sort_key)
        jobs = any(r.job for r in block)
        head = [*(["job"] if jobs else []), "method", *measures, "n", "status", "run"]
        body = [[*([r.job or MISSING] if jobs else []), r.method, *(_fmt(r.measures.get(m)) for m in measures),
                 MISSING if r.n is None else str(r.n), r.status, r.path or MISSING] for r in block]
        first = 1 + jobs
        right = set(range(first, first + len(measures) + 1))
        out += [f"{name} (measures x100)", *_align([head, *body], right), ""]
    return "\n".join(out).rstrip() + "\n" if out else ""


def format_counts(rows: Iterable[RunRow], failed_jobs: Mapping[str, str] | None = None) -> str:
    """"runs: 3 done, 1 reused, 1 failed" and one line per failure (run or whole job) with its reason."""
    rows = list(rows)
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    counts["failed"] += len(failed_jobs or {})
    lines = [f"runs: {counts['done']} done, {counts['reused']} reused, {counts['failed']} failed"]
    for r in rows:
        if r.status == "failed":
            lines.append(f"  failed {(r.job + ' ') if r.job else ''}{r.eval}/{r.method}: {r.reason}")
    for job, reason in (failed_jobs or {}).items():
        lines.append(f"  failed job {job or MISSING}: {reason}")
    return "\n".join(lines) + "\n"


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (a failure's reason in a summary)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# ------------------------------------------------------------------------------------ sweeps
def write_job_record(folder: str | Path, overrides: Sequence[str], rows: Sequence[RunRow],
                     error: str | None) -> Path:
    """Write <folder>/qrexp_summary.json (atomically): the job's overrides, rows and failure (if any),
    credentials redacted (qrexp.io.redact: URL userinfo, token-like values, secret environment values)."""
    record = redact({"overrides": list(overrides), "rows": [dataclasses.asdict(r) for r in rows], "error": error},
                    drop_keys=False)
    return atomic_write_text(Path(folder) / JOB_RECORD, dumps_json(record, JOB_RECORD, indent=1))


def _job_labels(overrides: Sequence[Sequence[str]]) -> list[str]:
    """Each job named by the overrides that vary across the sweep ("heads.k=16 scoring.calibrate=false")."""
    split = [dict(o.split("=", 1) if "=" in o else (o, "") for o in job) for job in overrides]
    keys = list(dict.fromkeys(k for job in split for k in job))
    varying = [k for k in keys if len({job.get(k) for job in split}) > 1]
    return [" ".join(f"{k}={job[k]}" for k in varying if k in job) for job in split]


def read_job_records(sweep_dir: str | Path) -> tuple[list[RunRow], dict[str, str]]:
    """(rows of every job, {job: reason} for jobs that failed before any run row) under ``sweep_dir``."""
    def order(p: Path):
        return [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in p.relative_to(sweep_dir).parts]
    records = [json.loads(p.read_text(encoding="utf-8"))
               for p in sorted(Path(sweep_dir).rglob(JOB_RECORD), key=order)]
    rows: list[RunRow] = []
    failed_jobs: dict[str, str] = {}
    for record, label in zip(records, _job_labels([r["overrides"] for r in records])):
        job_rows = [dataclasses.replace(RunRow(**r), job=label) for r in record["rows"]]
        rows += job_rows
        if record.get("error") and not any(r.status == "failed" for r in job_rows):
            failed_jobs[label] = record["error"]
    return rows, failed_jobs


def sweep_report(sweep_dir: str | Path) -> str:
    """The end-of-sweep summary: every job's table rows, then the done / reused / failed count."""
    rows, failed_jobs = read_job_records(sweep_dir)
    if not rows and not failed_jobs:
        return ""
    return f"Sweep summary ({sweep_dir})\n" + format_table(rows) + format_counts(rows, failed_jobs)
