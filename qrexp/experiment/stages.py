"""Pipeline stages on a typed RunConfig (no Hydra): detection, head-set resolution, evaluation.

Each stage writes a self-describing run folder (RunStore) whose id is derived from the semantic
config, so a finished stage is skipped on rerun and an interrupted sweep resumes.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

from qrexp.heads import sets as heads_mod
from qrexp.experiment.config import HeadsConfig, RunConfig, to_dict
from qrexp.experiment.data import data_semantics, load_data
from qrexp.experiment.detect import detect_heads
from qrexp.types import HeadSet
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions
from qrexp.engine.score_cache import ScoreCache
from qrexp.io.locks import run_lock
from qrexp.runs.store import RunStore, run_id
from qrexp.engine.window import fit_window

ATTENTION_METHODS = {"qrhead": None, "icr": "full", "icr-uncal": "full", "random": "random",
                     "rethead": "niah", "published": "published"}
METHOD_SCORING = {"icr-uncal": {"calibrate": False}}   # scoring overrides that define a method


def cache_dir(cfg: RunConfig) -> Path:
    return Path(cfg.cache_dir or Path(cfg.out_dir) / "cache")


def store_of(cfg: RunConfig) -> RunStore:
    return RunStore(Path(cfg.out_dir) / "runs")


@lru_cache(maxsize=2)
def _load(model_cfg):
    from qrexp.engine.models import load_model
    m = model_cfg
    model, tok = load_model(m.path, gguf_file=m.gguf_file, dtype=m.dtype, device=m.device,
                            device_map=m.device_map, revision=m.revision)
    model.qrexp_name = m.name            # checked against the path when the config was built
    return model, tok


def scorer_of(cfg: RunConfig) -> ExampleScorer:
    """The cached scorer for this model + prompt settings (the model is loaded once per process)."""
    from qrexp.engine.retriever import QRRetriever
    model, tok = _load(cfg.model)
    s = cfg.scoring
    retriever = QRRetriever(model, tok, prompt_style=cfg.model.prompt_style, query_span=s.query_span,
                            null_query=s.null_query, calibrate=s.calibrate, mask_sigma=s.mask_sigma,
                            reference_family=cfg.model.reference_family)
    return ExampleScorer(retriever, ScoreCache(cache_dir(cfg) / "scores"), max_bytes=cfg.cache.max_bytes,
                         compress=cfg.cache.compress)


def method_config(cfg: RunConfig, method: str) -> RunConfig:
    """The config a method runs with (e.g. icr-uncal turns calibration off)."""
    override = METHOD_SCORING.get(method)
    return dataclasses.replace(cfg, scoring=dataclasses.replace(cfg.scoring, **override)) if override else cfg


def scoring_options(cfg: RunConfig) -> ScoringOptions:
    s = cfg.scoring
    return ScoringOptions(calibrate=s.calibrate, mask_sigma=s.mask_sigma, aggregation=s.aggregation)


def model_label(cfg: RunConfig) -> dict:
    """The model part of run ids and run folders: the label (derived from / checked against the path
    by ModelConfig), path, GGUF file (when set), revision, dtype and prompt style."""
    m = cfg.model
    label = {"name": m.name, "path": m.path, "revision": m.revision, "dtype": m.dtype,
             "prompt_style": m.prompt_style}
    if m.gguf_file:
        label["gguf_file"] = m.gguf_file
    return label


# ---------------------------------------------------------------------------------- detection
def detection_config(cfg: RunConfig) -> dict:
    """What a QR detection depends on (the run id hashes this): no paths, the data's fingerprint."""
    detect = {**to_dict(cfg.detect), "data": data_semantics(cfg.detect.data, cache_dir(cfg), cfg.seed)}
    return {"stage": "detect", "model": model_label(cfg), "scoring": to_dict(cfg.scoring),
            "detect": detect, "seed": cfg.seed}


def detection_id(cfg: RunConfig) -> str:
    return run_id(detection_config(cfg), ("model.name", "detect.name", "detect.objective"))


def begin_detection(cfg: RunConfig, rid: str, config: dict, tag: str, log) -> tuple[RunStore, Path, bool]:
    """(store, heads file, done): a finished detection run is reused (and logged to W&B if W&B has
    no record of it), else its folder is started. Tracker inputs are checked first."""
    from qrexp.experiment.run_logging import check_tracker_inputs, reuse_run
    check_tracker_inputs(cfg)
    store = store_of(cfg)
    heads_file = store.path(rid, "heads.json")
    record = store.finished_record(rid, warn=log)
    if record is not None:
        log(f"[{tag}] {rid}: finished earlier, reusing {heads_file}")
        reuse_run(cfg, store, rid, config, tag, record, log)
        return store, heads_file, True
    store.start(rid, config)
    return store, heads_file, False


def publish_heads(cfg: RunConfig, rid: str, log=print) -> None:
    """Copy a detection run's heads (ours, paper format, heat map) to <out_dir>/heads/detected/<run id>.*

    Files already there that hold the same heads and scores are kept byte for byte (see
    qrexp.heads.files.publish_detection), so rerunning a detection never rewrites tracked head files
    with float noise; different content replaces them with a log line.
    """
    from qrexp.heads.files import publish_detection
    store = store_of(cfg)
    publish_detection(store.path(rid, "heads.json"), Path(cfg.out_dir) / "heads" / "detected" / rid, log)


def run_detection(cfg: RunConfig, log=print) -> Path:
    """Detect heads (skipped when finished; a concurrent job detecting the same run is waited for,
    then its result reused: qrexp.io.locks); returns the path of our heads JSON."""
    with run_lock(store_of(cfg).root, detection_id(cfg), log):
        return _run_detection(cfg, log)


def _run_detection(cfg: RunConfig, log=print) -> Path:
    from qrexp.experiment.run_logging import finish_run
    rid = detection_id(cfg)
    store, heads_file, done = begin_detection(cfg, rid, detection_config(cfg), "detect", log)
    if done:
        return heads_file
    scorer = scorer_of(cfg)
    examples = load_data(cfg.detect.data, cache_dir(cfg), cfg.seed)
    examples = fit_window(examples, scorer.retriever.builder, scorer.retriever.builder.max_length,
                          cfg.detect.data.fit_window, log, cfg.progress)
    qrels = {ex.qid: dict(ex.meta["qrels"]) for ex in examples} if cfg.detect.data.qrels else None
    plan = scorer.plan_for(examples, scoring_options(cfg), tokens=False)   # detection reads DocScores
    log(f"[detect] {plan.describe()}")
    det = detect_heads(scorer, examples, cfg.detect.objective, cfg.model.k, scoring_options(cfg),
                       qrels=qrels, out_stem=heads_file, name=f"{cfg.detect.name}-{cfg.detect.objective}",
                       provenance={"run_id": rid, "detect": detection_config(cfg)["detect"]},   # no paths
                       progress=cfg.progress)
    publish_heads(cfg, rid, log)
    top = det.heads.format()
    finish_run(cfg, store, rid, detection_config(cfg), "detect", {"top_heads": top}, len(examples),
               detection_config(cfg), extra={"forwards": scorer.forwards, "model": scorer.model_id,
                                                        "cache": plan.to_dict()})
    log(f"[detect] {rid}: top-{cfg.model.k} {cfg.detect.objective} heads {top}")
    return heads_file


# ---------------------------------------------------------------------------------- head sets
def method_heads(cfg: RunConfig, method: str) -> HeadsConfig:
    """The head-set config an attention method uses (qrhead: the configured one)."""
    source = ATTENTION_METHODS[method]
    if source is None:
        return cfg.heads
    return dataclasses.replace(cfg.heads, source=source)


def heads_spec(cfg: RunConfig, hc: HeadsConfig) -> dict:
    """Semantic description of a head set, for run ids and logs."""
    k = cfg.model.k if hc.k is None else hc.k         # heads.k=0 is refused when the config is built
    spec = {"source": hc.source}
    if hc.source == "detected":
        spec.update(k=k, detect=cfg.detect.name, objective=cfg.detect.objective,
                    detection=detection_id(cfg))
    elif hc.source == "niah":
        from qrexp.experiment.niah import niah_id
        spec.update(k=k, detect="niah", objective="niah-copy", detection=niah_id(cfg))
    elif hc.source == "random":
        spec.update(k=k, seed=hc.seed)
    elif hc.source == "published":
        spec.update(key=cfg.model.published_key, task=hc.task)
    elif hc.source == "explicit":
        spec.update(heads=hc.heads)
    return spec


def resolve_heads(cfg: RunConfig, hc: HeadsConfig, n_layers: int, n_heads: int,
                  log=print) -> HeadSet | None:
    """HeadSet for a head config (None = every head), running detection if needed."""
    k = cfg.model.k if hc.k is None else hc.k         # heads.k=0 is refused when the config is built
    if hc.source == "full":
        return None
    if hc.source == "random":
        return heads_mod.random(k, hc.seed, n_layers, n_heads)
    if hc.source == "explicit":
        return HeadSet.parse(hc.heads, "explicit", n_layers, n_heads)
    if hc.source == "published":
        if not cfg.model.published_key or not hc.task:
            raise ValueError(f"heads.source=published needs model.published_key and heads.task "
                             f"(model {cfg.model.name!r} has key {cfg.model.published_key!r})")
        hs = heads_mod.published(cfg.model.published_key, hc.task)
        return HeadSet(hs.name, hs.heads, n_layers, n_heads).top(k)
    if hc.source == "detected":
        path = run_detection(cfg, log)
    else:
        from qrexp.experiment.niah import run_niah_detection
        path = run_niah_detection(cfg, log)
    hs = heads_mod.detected(path, k)
    return HeadSet(hs.name, hs.heads, n_layers, n_heads)
