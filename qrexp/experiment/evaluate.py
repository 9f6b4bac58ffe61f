"""The evaluation stage: rank each example's units with one method, then compute metrics.

Attention methods (qrhead, icr, random, rethead, published) rank with head sets over the cached
per-example scores; baselines (bm25, dense, rankgpt) come from qrexp.evals.baselines. Retrieval metrics:
pytrec_eval over graded qrels for BEIR-style data, and R@k / Success@k / R_all@k (recall,
recall_any, recall_all) for long-context units; metric names follow qrexp.measures. The protocol
rules in between (missing queries count 0 as ``trec_eval -c``, queries without a relevant document
left out, identical ids dropped) are in qrexp.evals.protocol.
"""
from __future__ import annotations

import time
from typing import Sequence

from qrexp.evals import protocol
from qrexp.experiment.config import RunConfig, to_dict
from qrexp.experiment.data import data_paths, data_semantics, load_identified, load_once
from qrexp.io.locks import run_lock
from qrexp.measures import normalise_all, normalise_keys
from qrexp.evals.metrics import evaluate_run, retrieval_metrics
from qrexp.experiment.resume import journaled, open_checkpoint, rank_queries
from qrexp.experiment.run_logging import check_tracker_inputs, finish_run, reuse_run
from qrexp.experiment.stages import (ATTENTION_METHODS, cache_dir, heads_spec, method_config, method_heads, model_label,
                     resolve_heads, scorer_of, scoring_options, store_of)
from qrexp.evals.qa_clipper import claim_examples
from qrexp.runs.store import run_id
from qrexp.evals.protocol import report_gold_coverage
from qrexp.io.trec import write_trec_qrels, write_trec_run
from qrexp.types import Example, Run
from qrexp.engine.window import fit_window, window_record
from qrexp.experiment.gen_window import check_generation_windows

BASELINES = ("bm25", "dense", "rankgpt", "chance", "full-context")


def check_method(method: str) -> None:
    known = [*ATTENTION_METHODS, *BASELINES]
    if method not in known:
        import difflib
        close = difflib.get_close_matches(method, known, n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"unknown method {method!r}{hint} (known: {', '.join(known)})")


def eval_config(cfg: RunConfig, method: str) -> dict:
    """What an evaluation run depends on (its run id hashes this): no paths, the data's fingerprint.

    Loads the evaluation data (memoized, qrexp.experiment.data) and, for detected heads, the detection data.
    """
    check_method(method)
    cfg = method_config(cfg, method)
    sem = {"stage": "evaluate", "method": method, "eval": to_dict(cfg.eval), "seed": cfg.seed}
    sem["eval"].pop("methods")
    sem["eval"].pop("detect")            # heads detected elsewhere enter through heads.detection
    sem["eval"]["data"] = data_semantics(cfg.eval.data, cache_dir(cfg), cfg.seed)
    sem["eval"]["measures"] = normalise_all(cfg.eval.measures)     # one vocabulary; bad names fail here
    if cfg.eval.kind != "retrieval":                    # a field that cannot change the numbers
        sem["eval"].pop("ignore_identical_ids")
    if cfg.eval.kind != "clipper":
        sem["eval"].pop("claim_queries")
    if method in ATTENTION_METHODS:
        sem.update(model=model_label(cfg), scoring=to_dict(cfg.scoring),
                   heads=heads_spec(cfg, method_heads(cfg, method)))
    elif method == "dense":
        sem["dense_model"] = cfg.eval.dense_model or "all-MiniLM-L6-v2"
    elif method in ("rankgpt", "full-context"):
        sem["model"] = model_label(cfg)
    if method != "full-context" and not wants_qa(cfg, method):
        sem["eval"].pop("qa")
    return sem


def wants_qa(cfg: RunConfig, method: str) -> bool:
    qa = cfg.eval.qa
    return qa.enabled and (not qa.methods or method in qa.methods)


def eval_id(cfg: RunConfig, method: str) -> str:
    return run_id(eval_config(cfg, method), ("eval.name", "method"))


def rank_with(cfg: RunConfig, method: str, examples: Sequence[Example], log=print,
              ckpt=None) -> tuple[Run, dict]:
    """Run {qid: {doc_id: score}} for ``method`` and a description of what ranked it (finished
    queries read back from ``ckpt``, a qrexp.runs.checkpoint.QueryCheckpoint, when given)."""
    if method in ATTENTION_METHODS:
        cfg = method_config(cfg, method)
        scorer = scorer_of(cfg)
        r = scorer.retriever
        heads = resolve_heads(cfg, method_heads(cfg, method), r.n_layers, r.n_heads, log)
        plan = scorer.plan_for(examples, scoring_options(cfg))
        log(f"[{method}] {plan.describe()}")
        run = rank_queries(ckpt, scorer, examples, heads, scoring_options(cfg), cfg.progress, f"rank {method}")
        return run, {"heads": "full" if heads is None else heads.format(),
                     "n_heads": r.n_layers * r.n_heads if heads is None else len(heads),
                     "forwards": scorer.forwards, "model": scorer.model_id,   # loaded identity
                     "cache": plan.to_dict()}
    return rank_baseline(cfg, method, examples, ckpt)


def rank_baseline(cfg: RunConfig, method: str, examples: Sequence[Example], ckpt=None) -> tuple[Run, dict]:
    """BM25 (the first-stage corpus ranking; see qrexp.evals.baselines.BM25Ranker), a dense bi-encoder, or
    RankGPT with the scored model."""
    from qrexp.evals.baselines import RANKERS
    if method == "chance":                       # a seeded random ranking: the chance level
        import random
        rng = random.Random(f"chance-{cfg.seed}")
        return {ex.qid: {d.doc_id: rng.random() for d in ex.docs} for ex in examples}, {"ranker": "chance"}
    if method == "dense":
        ranker = RANKERS.get("dense")(model=cfg.eval.dense_model)
    elif method == "rankgpt":
        from qrexp.evals.llm import HFGenerator
        from qrexp.experiment.stages import _load
        ranker = RANKERS.get("rankgpt")(journaled(ckpt, HFGenerator(*_load(cfg.model)), "rankgpt"))
    else:
        ranker = RANKERS.get(method)()
    ranker.progress = cfg.progress
    run = ranker.rank(examples)
    return run, {"ranker": method, **{f"stats.{k}": v for k, v in getattr(ranker, "stats", {}).items()}}


def gold_sets(examples: Sequence[Example]) -> dict[str, set[str]]:
    """Gold unit ids per query; abstention questions get an empty set (left out of recall; see
    :func:`qrexp.evals.protocol.report_gold_coverage` for how the left-out ones are reported)."""
    return {ex.qid: set() if ex.meta.get("abstention") else set(ex.gold) for ex in examples}


def eval_qrels(cfg: RunConfig, examples: Sequence[Example]) -> dict[str, dict[str, int]]:
    """The judgements metrics are computed against (and qrels.trec holds): the scored qrels of
    qrexp.evals.protocol (retrieval; queries without a relevant document left out) or gold units = 1
    (long-context recall; abstention questions and questions without gold left out)."""
    if cfg.eval.kind == "retrieval":
        return protocol.scored_qrels(examples, cfg.eval.data.qrels)
    return {qid: {d: 1 for d in sorted(gold)} for qid, gold in gold_sets(examples).items() if gold}


def retrieval_scores(cfg: RunConfig, examples: Sequence[Example], run: Run):
    """(per query, means); queries with no relevant document are left out (qrexp.evals.protocol)."""
    if cfg.eval.kind == "retrieval":
        return evaluate_run(run, eval_qrels(cfg, examples), cfg.eval.measures, missing="zero")
    return retrieval_metrics(run, gold_sets(examples), cfg.eval.ks)


def protocol_run(cfg: RunConfig, run: Run) -> tuple[Run, int | None]:
    """The run that is scored and written: identical query/doc ids dropped when configured."""
    if cfg.eval.kind == "retrieval" and cfg.eval.ignore_identical_ids:
        return protocol.drop_identical_ids(run)
    return run, None


def evaluate(cfg: RunConfig, method: str, log=print) -> dict:
    """Evaluate one method (skipped when its run folder is finished; a concurrent job computing the
    same run is waited for, then its result reused: qrexp.io.locks); returns its metrics.

    Writes run.trec (scores encode the evaluated ranking, see qrexp.io.trec), qrels.trec (the
    judgements scored against), per_query.jsonl, heads.txt, the tracker files, and metrics.json
    last. A finished run reused under logger=wandb without a W&B run is logged from its folder.
    """
    with load_once():                    # the run id and the run share one load of the data
        with run_lock(store_of(cfg).root, eval_id(cfg, method), log):
            return _evaluate(cfg, method, log)


def _evaluate(cfg: RunConfig, method: str, log) -> dict:
    check_tracker_inputs(cfg)
    store, rid = store_of(cfg), eval_id(cfg, method)
    sem = eval_config(cfg, method)
    record = store.finished_record(rid, warn=log)
    if record is not None:
        log(f"[evaluate] {rid}: finished earlier, skipping")
        store.mark_used(rid, cfg.name)
        reuse_run(cfg, store, rid, sem, "evaluate", record, log)
        return normalise_keys(record["metrics"])
    store.start(rid, sem)
    ckpt = open_checkpoint(store, rid, sem, log)     # finished queries of a killed run are reused
    t0 = time.time()
    examples, fingerprint = load_identified(cfg.eval.data, cache_dir(cfg), cfg.seed)
    if cfg.eval.kind == "clipper" and cfg.eval.claim_queries == "per_claim":
        examples = claim_examples(examples)          # each claim is its own query (paper protocol)
    metrics, per_query = {}, {}
    info: dict = {"data": {"fingerprint": fingerprint, "paths": data_paths(cfg.eval.data)}}
    if method in ATTENTION_METHODS:           # every prompt's length, before any forward pass
        builder = scorer_of(method_config(cfg, method)).retriever.builder
        examples = fit_window(examples, builder, builder.max_length, cfg.eval.data.fit_window, log, cfg.progress)
    check_generation_windows(cfg, method, examples, method == "full-context" or wants_qa(cfg, method),
                             lambda: (scorer_of(cfg).retriever.model, scorer_of(cfg).retriever.builder.tokenizer), log)
    if method != "full-context":
        run, ranked_info = rank_with(cfg, method, examples, log, ckpt)
        info.update(ranked_info)
        if window_record(examples):
            info["window_truncated"] = window_record(examples)
        run, n_dropped = protocol_run(cfg, run)
        per_query, metrics = retrieval_scores(cfg, examples, run)
        if cfg.eval.kind != "retrieval":
            info.update(report_gold_coverage(examples, metrics, log))
        write_trec_run(run, store.path(rid, "run.trec"), tag=f"qrexp-{method}")
        write_trec_qrels(eval_qrels(cfg, examples), store.path(rid, "qrels.trec"))
        info["protocol"] = protocol.record(cfg.eval.kind, cfg.eval.ignore_identical_ids,
                                           protocol.data_counts(examples, cfg.eval.kind, cfg.eval.data.qrels),
                                           len(per_query), n_dropped)
    else:
        run = None
    if method == "full-context" or wants_qa(cfg, method):
        from qrexp.experiment.qa_stage import answer_questions
        qa_metrics, qa_rows = answer_questions(cfg, method, examples, run, log, ckpt)
        metrics.update(qa_metrics)
        for row in qa_rows:
            per_query.setdefault(row["qid"], {}).update({k: v for k, v in row.items() if k != "qid"})
    metrics = normalise_keys(metrics)                               # QA "accuracy@5" -> "Acc@5"
    rows = [{"qid": qid, **normalise_keys(vals)} for qid, vals in per_query.items()]
    store.write_jsonl(rid, "per_query.jsonl", rows)
    if "heads" in info:
        store.write_text(rid, "heads.txt", info["heads"] + "\n")
    store.mark_used(rid, cfg.name)
    finish_run(cfg, store, rid, sem, "evaluate", metrics, len(examples), {**sem, "experiment": cfg.name},
               extra=info)
    ckpt.discard()                                     # scratch: the run is complete without it
    shown = {k: round(v, 4) for k, v in metrics.items() if k in _headline(cfg)}
    log(f"[evaluate] {rid}: {shown} ({time.time() - t0:.1f}s, n={len(examples)})")
    return metrics


def _headline(cfg: RunConfig) -> set[str]:
    if cfg.eval.kind == "retrieval":
        return set(normalise_all(cfg.eval.measures))
    return {f"R@{k}" for k in cfg.eval.ks} | {"Acc", "PairAcc"}
