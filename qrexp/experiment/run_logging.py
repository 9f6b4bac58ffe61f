"""Closing a run folder: tracker logging first, the finish marker (metrics.json) last; and logging a
finished run to W&B when W&B has no record of it (a run reused under ``logger=wandb``).

Order of a stage's writes: artifacts (run.trec, qrels.trec, per_query.jsonl, heads files, heat map)
-> trackers (history.jsonl, tables/, media/, artifacts.json, the W&B run) -> wandb.json (which W&B
runs hold this run) -> metrics.json. A crash or a failing W&B init anywhere before metrics.json
leaves an unfinished folder, and the next run recomputes it in full (cached scores make that cheap).
Tracker inputs W&B would refuse (tags over 64 characters, bad project names) are checked by
:func:`check_tracker_inputs` before any work starts.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

from qrexp.experiment.config import RunConfig, evals_of
from qrexp.experiment.preflight import InputError
from qrexp.runs.store import RunStore
from qrexp.runs.tracking import LocalTracker, MultiTracker, Tracker, WandbTracker

WANDB_RECORD = "wandb.json"
TAG_MAX, GROUP_MAX, PROJECT_MAX = 64, 128, 128     # W&B limits (wandb_settings validates tags 1..64)
_PROJECT_BAD = re.compile(r"[/\\#?%:]")


def wandb_options(cfg: RunConfig, rid: str, config: Mapping[str, Any], job_type: str) -> dict | None:
    """WandbTracker keyword arguments for one run folder, or None when logger is not wandb."""
    if cfg.logger.kind != "wandb":
        return None
    tags = [cfg.model.name, cfg.eval.name, str(config.get("method", job_type)), cfg.name]
    options = {"project": cfg.logger.project, "group": cfg.name, "job_type": job_type,
               "tags": tags, "config": dict(config), "mode": cfg.logger.mode, "name": rid}
    if cfg.logger.entity:
        options["entity"] = cfg.logger.entity
    return options


def check_tracker_inputs(cfg: RunConfig) -> None:
    """Raise a one-line InputError (a ValueError), before any work, for a W&B tag, group or project
    W&B would refuse.

    Checks every tag the stages of ``cfg`` will send (model name, each eval name, each method, the
    experiment name); does nothing unless ``logger=wandb``.
    """
    if cfg.logger.kind != "wandb":
        return
    project = cfg.logger.project or ""
    if not project or len(project) > PROJECT_MAX or _PROJECT_BAD.search(project):
        raise InputError(f"logger.project={project!r}: W&B needs 1-{PROJECT_MAX} characters without "
                         "/ \\ # ? % :; set logger.project=<name>")
    if len(cfg.name) > GROUP_MAX:
        raise InputError(f"name={cfg.name!r} is {len(cfg.name)} characters; the W&B group allows "
                         f"{GROUP_MAX}: set a shorter name=<experiment name>")
    sources = [("model.name", cfg.model.name), ("name", cfg.name)]
    for one in evals_of(cfg):
        sources.append(("eval.name", one.eval.name))
        sources += [("eval.methods", m) for m in one.eval.methods]
    sources += [("stage", "detect"), ("stage", "detect-niah")]
    for key, value in sources:
        tag = str(value)
        if not 1 <= len(tag) <= TAG_MAX:
            raise InputError(f"W&B tag from {key}={tag!r} is {len(tag)} characters; W&B allows 1-{TAG_MAX}: "
                             f"set a shorter {key}=... (or logger=none)")


def _record_key(options: Mapping[str, Any]) -> tuple:
    return options.get("entity"), options["project"], options["mode"]


def wandb_runs(store: RunStore, rid: str) -> list[dict[str, Any]]:
    """The W&B runs recorded for a run folder (entity, project, mode, id)."""
    path = store.path(rid, WANDB_RECORD)
    try:
        records = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    except ValueError:
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def has_wandb_run(store: RunStore, rid: str, options: Mapping[str, Any]) -> bool:
    """Whether W&B (this entity/project/mode) already holds the run; an offline record counts only
    while its offline-run folder still exists."""
    for rec in wandb_runs(store, rid):
        if (rec.get("entity"), rec.get("project"), rec.get("mode")) != _record_key(options):
            continue
        if rec.get("mode") != "offline" or list(store.run_dir(rid).glob(f"wandb/offline-run-*-{rec.get('id')}")):
            return True
    return False


def _remember(store: RunStore, rid: str, options: Mapping[str, Any], tracker: WandbTracker) -> None:
    if options["mode"] == "disabled":
        return
    entity, project, mode = _record_key(options)
    kept = [r for r in wandb_runs(store, rid)
            if (r.get("entity"), r.get("project"), r.get("mode")) != (entity, project, mode)]
    store.write_json(rid, WANDB_RECORD, kept + [{"entity": entity, "project": project, "mode": mode,
                                                 "id": tracker.run_id}])


def log_folder(tracker: Tracker, store: RunStore, rid: str, metrics: Mapping[str, Any]) -> None:
    """Log what a run folder holds: numeric metrics, per_query.jsonl as a table, the heads file
    (heads.json, else heads.txt) as an artifact and heads.png as an image."""
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if numbers:
        tracker.log_metrics(numbers)
    per_query = store.path(rid, "per_query.jsonl")
    if per_query.is_file():
        rows = [json.loads(line) for line in per_query.read_text(encoding="utf-8").splitlines() if line]
        if rows:
            import pandas as pd
            tracker.log_table("per_query", pd.DataFrame(rows))
    if store.path(rid, "heads.png").is_file():
        tracker.log_image("head_scores", store.path(rid, "heads.png"))
    for name in ("heads.json", "heads.txt"):
        if store.path(rid, name).is_file():
            tracker.log_artifact(f"heads-{rid}", "heads", store.path(rid, name))
            break


def finish_run(cfg: RunConfig, store: RunStore, rid: str, config: Mapping[str, Any], job_type: str,
               metrics: Mapping[str, Any], n: int, record_config: Mapping[str, Any],
               extra: Mapping[str, Any] | None = None) -> None:
    """Log the folder to the trackers, record the W&B run, then write metrics.json (last)."""
    options = wandb_options(cfg, rid, config, job_type)
    local = LocalTracker(store, rid)
    wandb = None
    if options:
        options.setdefault("dir", store.run_dir(rid))
        wandb = WandbTracker(**options)
    with (MultiTracker(local, wandb) if wandb else local) as tracker:
        log_folder(tracker, store, rid, metrics)
    if wandb is not None:
        _remember(store, rid, options, wandb)
    store.finish(rid, metrics, n, record_config, extra=extra)


def reuse_run(cfg: RunConfig, store: RunStore, rid: str, config: Mapping[str, Any], job_type: str,
              record: Mapping[str, Any], log: Callable[[str], None] = print) -> None:
    """A finished run reused under ``logger=wandb`` with no W&B run for this project and mode (e.g.
    it finished under logger=none) is logged to W&B from its folder; the folder's files stay as they are."""
    options = wandb_options(cfg, rid, config, job_type)
    if not options or options["mode"] == "disabled" or has_wandb_run(store, rid, options):
        return
    log(f"[{job_type}] {rid}: no W&B run in project {options['project']!r} ({options['mode']}); "
        "logging the finished run from its folder")
    options.setdefault("dir", store.run_dir(rid))
    with WandbTracker(**options) as tracker:
        log_folder(tracker, store, rid, record["metrics"])
    _remember(store, rid, options, tracker)
