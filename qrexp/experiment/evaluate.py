"""The evaluation stage: rank each example's units with one method, then compute metrics.

The method comes from the method table (qrexp.experiment.methods.METHODS): attention methods rank
with a head set of qrexp.heads.sources over the cached per-example scores (a detected source runs
its detection first, qrexp.experiment.detect); ranker methods (bm25, dense, rankgpt, chance) use
their ranker; full-context ranks nothing and only answers. How rankings are judged is the
evaluation kind's (qrexp.evals.kinds.KINDS, ``eval.kind``): pytrec_eval over graded qrels for
BEIR-style data, and R@k / Success@k / R_all@k (recall, recall_any, recall_all) for long-context
units; metric names follow qrexp.measures. The protocol rules in between (missing
queries count 0 as ``trec_eval -c``, queries without a relevant document left out, identical ids
dropped) are in qrexp.evals.protocol. QA on the ranking: qrexp.experiment.qa_stage.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Sequence

from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.window import fit_window, window_record
from qrexp.evals import protocol
from qrexp.evals.kinds import KINDS, kind_fields
from qrexp.evals.protocol import report_gold_coverage
from qrexp.experiment.config import RunConfig, to_dict
from qrexp.experiment.context import cache_dir, model_label, scorer_of, scoring_options, store_of
from qrexp.experiment.data import data_paths, data_semantics, load_identified, load_once
from qrexp.experiment.context import model_of
from qrexp.experiment.detect import DETECTORS, detection_id, run_detection
from qrexp.experiment.gen_window import check_generation_windows
from qrexp.experiment.methods import Method, check_method, head_options, head_source, runs_qa
from qrexp.experiment.qa_stage import answer_questions
from qrexp.experiment.resume import open_checkpoint, rank_queries
from qrexp.experiment.run_logging import check_tracker_inputs, finish_run, reuse_run
from qrexp.heads.sources import SOURCES, HeadRequest
from qrexp.io.locks import run_lock
from qrexp.io.trec import write_trec_qrels, write_trec_run
from qrexp.measures import normalise_all, normalise_keys
from qrexp.runs.store import run_id
from qrexp.types import Example, HeadSet, Run


def method_config(cfg: RunConfig, method: Method) -> RunConfig:
    """The config a method runs with: its scoring overrides applied (icr-uncal: no calibration)."""
    if not method.scoring:
        return cfg
    return dataclasses.replace(cfg, scoring=dataclasses.replace(cfg.scoring, **method.scoring))


def heads_spec(cfg: RunConfig, source: str) -> dict:
    """Semantic description of a head set, for run ids and logs: the source, the options it uses
    and, for a detected source, its detection's labels and run id."""
    src = SOURCES.get(source)
    options = head_options(cfg)
    spec = {"source": source, **{f: options[f] for f in src.spec}}
    if src.detection:
        spec.update(DETECTORS.get(src.detection).labels(cfg), detection=detection_id(cfg, src.detection))
    return spec


def resolve_heads(cfg: RunConfig, source: str, n_layers: int, n_heads: int, log=print) -> HeadSet | None:
    """HeadSet of a source for an L x H model (None = every head), running its detection if needed."""
    src = SOURCES.get(source)
    path = run_detection(cfg, src.detection, log) if src.detection else None
    return src.build(HeadRequest(n_layers, n_heads, path=path, **head_options(cfg)))


def eval_config(cfg: RunConfig, method: str) -> dict:
    """What an evaluation run depends on (its run id hashes this): no paths, the data's fingerprint.

    Loads the evaluation data (memoized, qrexp.experiment.data) and, for detected heads, the detection data.
    """
    m = check_method(method)
    cfg = method_config(cfg, m)
    sem = {"stage": "evaluate", "method": method, "eval": to_dict(cfg.eval), "seed": cfg.seed}
    sem["eval"].pop("methods")
    sem["eval"].pop("detect")            # heads detected elsewhere enter through heads.detection
    sem["eval"]["data"] = data_semantics(cfg.eval.data, cache_dir(cfg), cfg.seed)
    sem["eval"]["measures"] = normalise_all(cfg.eval.measures)     # one vocabulary; bad names fail here
    kind = KINDS.get(cfg.eval.kind)
    for name in kind_fields():                # another kind's field cannot change the numbers
        if name not in kind.fields:
            sem["eval"].pop(name, None)
    parts = {"model": lambda: model_label(cfg), "scoring": lambda: to_dict(cfg.scoring),
             "heads": lambda: heads_spec(cfg, head_source(cfg, m)),
             "dense_model": lambda: cfg.eval.dense_model or "all-MiniLM-L6-v2"}
    sem.update({part: parts[part]() for part in m.depends_on})
    if "scoring" in m.depends_on and cfg.cache.token_dtype != "float32":
        sem["token_dtype"] = cfg.cache.token_dtype      # rounded token scores: other numbers, other run
    if not runs_qa(cfg, method):
        sem["eval"].pop("qa")
    return sem


def eval_id(cfg: RunConfig, method: str) -> str:
    return run_id(eval_config(cfg, method), ("eval.name", "method"))


def rank(cfg: RunConfig, method: str, examples: Sequence[Example], scorer: ExampleScorer | None,
         log=print, ckpt=None) -> tuple[Run, dict]:
    """Run {qid: {doc_id: score}} of ``method`` over ``examples`` and a description of what ranked
    it (attention: the heads, forward passes and loaded model identity; rankers: their counters).
    Finished queries are read back from ``ckpt`` (a qrexp.runs.checkpoint.QueryCheckpoint) when given."""
    m = check_method(method)
    if m.attention:
        r = scorer.retriever
        heads = resolve_heads(cfg, head_source(cfg, m), r.n_layers, r.n_heads, log)
        plan = scorer.plan_for(examples, scoring_options(cfg))
        log(f"[{method}] {plan.describe()}")
        run = rank_queries(ckpt, scorer, examples, heads, scoring_options(cfg), cfg.progress, f"rank {method}")
        return run, {"heads": "full" if heads is None else heads.format(),
                     "n_heads": r.n_layers * r.n_heads if heads is None else len(heads),
                     "forwards": scorer.forwards, "model": scorer.model_id,   # loaded identity
                     "cache": plan.to_dict()}
    ranker = m.ranker(cfg, ckpt)
    ranker.progress = cfg.progress
    run = ranker.rank(examples)
    return run, {"ranker": method, **{f"stats.{k}": v for k, v in getattr(ranker, "stats", {}).items()}}


def evaluate(cfg: RunConfig, method: str, log=print) -> dict:
    """Evaluate one method (skipped when its run folder is finished; a concurrent job computing the
    same run is waited for, then its result reused: qrexp.io.locks); returns its metrics.

    Writes run.trec (scores encode the evaluated ranking, see qrexp.io.trec), qrels.trec (the
    judgements scored against), per_query.jsonl, heads.txt, the tracker files, and metrics.json
    last. A finished run reused under logger=wandb without a W&B run is logged from its folder.
    """
    store, e = store_of(cfg), cfg.eval
    kind = KINDS.get(e.kind)
    with load_once(), run_lock(store.root, eval_id(cfg, method), log):   # ids and run share one load
        check_tracker_inputs(cfg)
        rid, sem = eval_id(cfg, method), eval_config(cfg, method)
        record = store.finished_record(rid, warn=log)
        if record is not None:
            log(f"[evaluate] {rid}: finished earlier, skipping")
            store.mark_used(rid, cfg.name)
            reuse_run(cfg, store, rid, sem, "evaluate", record, log)
            return normalise_keys(record["metrics"])
        store.start(rid, sem)
        ckpt = open_checkpoint(store, rid, sem, log)     # finished queries of a killed run are reused
        t0, m = time.time(), check_method(method)
        examples, fingerprint = load_identified(e.data, cache_dir(cfg), cfg.seed)
        examples = kind.ranked(examples, e)              # CLIPPER: each claim its own query (paper)
        metrics, per_query, run = {}, {}, None
        info: dict = {"data": {"fingerprint": fingerprint, "paths": data_paths(e.data)}}
        scorer = scorer_of(method_config(cfg, m)) if m.attention else None
        if scorer is not None:                   # every prompt's length, before any forward pass
            b = scorer.retriever.builder
            examples = fit_window(examples, b, b.max_length, e.data.fit_window, log, cfg.progress, scorer.prompt_length)
        check_generation_windows(cfg, method, examples, runs_qa(cfg, method), lambda: model_of(cfg.model), log)
        if not m.answers_only:
            run, ranked_info = rank(method_config(cfg, m), method, examples, scorer, log, ckpt)
            info.update(ranked_info)
            if window_record(examples):
                info["window_truncated"] = window_record(examples)
            n_dropped = None
            rules = kind.relevance
            if rules.identical_ids and e.ignore_identical_ids:     # identical query/doc ids dropped
                run, n_dropped = protocol.drop_identical_ids(run)
            per_query, metrics = kind.score(run, examples, e.measures, e.ks, e.data.qrels)
            if not rules.judged:
                info.update(report_gold_coverage(examples, metrics, log))
            write_trec_run(run, store.path(rid, "run.trec"), tag=f"qrexp-{method}")
            write_trec_qrels(kind.qrels(examples, e.data.qrels), store.path(rid, "qrels.trec"))
            info["protocol"] = protocol.record(rules, e.ignore_identical_ids,
                                               protocol.data_counts(examples, rules, e.data.qrels),
                                               len(per_query), n_dropped)
        if runs_qa(cfg, method):
            qa_metrics, qa_rows = answer_questions(cfg, method, examples, run, log, ckpt)
            metrics.update(qa_metrics)
            for row in qa_rows:
                per_query.setdefault(row["qid"], {}).update({k: v for k, v in row.items() if k != "qid"})
        metrics = normalise_keys(metrics)                               # QA "accuracy@5" -> "Acc@5"
        store.write_jsonl(rid, "per_query.jsonl", [{"qid": q, **normalise_keys(v)} for q, v in per_query.items()])
        if "heads" in info:
            store.write_text(rid, "heads.txt", info["heads"] + "\n")
        store.mark_used(rid, cfg.name)
        finish_run(cfg, store, rid, sem, "evaluate", metrics, len(examples), {**sem, "experiment": cfg.name},
                   extra=info)
        ckpt.discard()                                 # scratch: the run is complete without it
        shown = {k: round(v, 4) for k, v in metrics.items() if k in headline(cfg)}
        log(f"[evaluate] {rid}: {shown} ({time.time() - t0:.1f}s, n={len(examples)})")
        return metrics


def headline(cfg: RunConfig) -> set[str]:
    """The metrics an evaluation's log line shows: its kind's headline measures and the QA accuracies."""
    return set(KINDS.get(cfg.eval.kind).headline(cfg.eval.measures, cfg.eval.ks)) | {"Acc", "PairAcc"}
