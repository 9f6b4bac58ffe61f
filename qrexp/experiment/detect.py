"""The detection stage: score every head, rank, write the heads files, publish them, close the run.

One skeleton (:func:`run_detection`) serves every detector of ``DETECTORS``:

    qr    QR detection: cached DocScores of labelled examples -> objective (QRscore, nDCG@10, ...)
    niah  NIAH detection (the RetHead baseline): greedy answers to generated needle-in-a-haystack
          cases read with the attention capture, Wu et al.'s copy score per head

A detector says what its run id hashes and computes HeadScores [L, H]; the skeleton does the rest:
reuse a finished run (qrexp.io.locks: a concurrent job is waited for), write ``heads.json`` (ours),
``heads.paper.json`` and the ``heads.png`` heat map, copy them to ``<out_dir>/heads/detected/``, log
to the trackers and write metrics.json last. A head source reads a detector's file through
``HeadSource.detection`` (qrexp.heads.sources). How to add a detector: one function returning
:class:`Scored` and one ``DETECTORS.register`` entry below; a new objective for the QR detector is
one ``@OBJECTIVES.register`` function in qrexp.heads.objectives.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from qrexp.data.niah import NEEDLES, niah_grid
from qrexp.engine.models import model_fingerprint
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions
from qrexp.engine.window import fit_window
from qrexp.experiment.config import RunConfig, to_dict
from qrexp.experiment.context import cache_dir, model_label, model_of, scorer_of, scoring_options, store_of
from qrexp.experiment.data import data_semantics, load_data
from qrexp.experiment.resume import open_checkpoint
from qrexp.experiment.run_logging import check_tracker_inputs, finish_run, reuse_run
from qrexp.heads.files import publish_detection, round_scores
from qrexp.heads.niah import (NIAH_TEMPLATE, NiahCase, NiahRun, NiahScores, case_from_example,
                              combine_niah_runs, score_niah_case)
from qrexp.heads.files import write_detection
from qrexp.heads.objectives import detect, rank_heads, relevance_of
from qrexp.heads.sets import top_k
from qrexp.io.locks import run_lock
from qrexp.registry import Registry
from qrexp.report.plots import plot_head_scores
from qrexp.runs.checkpoint import Journal, QueryCheckpoint
from qrexp.runs.store import run_id
from qrexp.types import Example, Head, HeadSet, Qrels


@dataclass
class Detection:
    objective: str
    scores: torch.Tensor                  # HeadScores [L, H], float64 rounded as in the written files
    ranked: list[tuple[Head, float]]
    heads: HeadSet                        # the top-k
    n_examples: int
    files: dict[str, Path]


def scoring_provenance(scorer: ExampleScorer, opts: ScoringOptions) -> dict:
    """The scoring settings a QR detection records: the prompt settings and the options used."""
    return {**scorer.retriever.settings_dict(), "calibrate": opts.calibrate, "mask_sigma": opts.mask_sigma}


def write_heads(stem: str | Path, scores: torch.Tensor, provenance: Mapping, *, objective: str, model: str,
                n_examples: int, k: int, title: str) -> dict[str, Path]:
    """Write <stem>.json (ours), <stem>.paper.json and the heat map <stem>.png of HeadScores [L, H]."""
    ours, paper = write_detection(stem, rank_heads(scores), dict(provenance), objective=objective,
                                  model=model, n_examples=n_examples, k=k)
    png = plot_head_scores(scores, Path(ours).with_suffix(".png"), k=k, title=title)
    return {"heads": ours, "paper": paper, "heatmap": png}


def detect_heads(scorer: ExampleScorer, examples: Sequence[Example], objective: str = "qrscore",
                 k: int = 16, opts: ScoringOptions = ScoringOptions(), qrels: Qrels | None = None,
                 out_stem: str | Path | None = None, name: str | None = None,
                 provenance: Mapping | None = None, progress: bool = True) -> Detection:
    """Score every head on ``examples`` with ``objective`` (qrscore, ndcg10, recall1).

    Relevance is the examples' gold set, or graded labels from ``qrels`` when given. With
    ``out_stem`` writes <stem>.json (ours, with provenance), <stem>.paper.json and <stem>.png.
    """
    if not examples:
        raise ValueError("head detection needs at least one example")
    # docs in doc id order: the objectives' stable sorts then break ties as evaluation does
    # (qrexp.types.rank_by_score: doc id ascending); qrscore is a sum and does not depend on it
    orders = [torch.tensor(sorted(range(len(ex.docs)), key=lambda i: ex.doc_ids[i])) for ex in examples]
    doc_scores = map(operator.getitem, scorer.iter_doc_scores(examples, opts, progress,   # no Python frame
                                                              desc=f"detect ({objective})"), orders)
    relevance = (relevance_of(ex, qrels)[o] for ex, o in zip(examples, orders))
    scores = round_scores(detect(objective, doc_scores, relevance))   # as written: byte-stable files
    files: dict[str, Path] = {}
    if out_stem is not None:
        model = model_fingerprint(scorer.retriever.model)
        prov = {"scoring": scoring_provenance(scorer, opts), "model": model, **dict(provenance or {})}
        files = write_heads(out_stem, scores, prov, objective=objective, model=str(model["name"]),
                            n_examples=len(examples), k=k,
                            title=f"{objective} on {len(examples)} examples ({model['name']})")
    return Detection(objective, scores, rank_heads(scores), top_k(scores, k, name or f"{objective}-top{k}"),
                     len(examples), files)


@dataclass(frozen=True)
class Scored:
    """A detector's result: rounded HeadScores [L, H] and what the heads file and the run record say."""
    scores: torch.Tensor
    heads_file: dict[str, Any]            # objective, model, n_examples, provenance, title
    metrics: dict[str, Any]               # metrics.json entries besides top_heads
    n: int                                # examples (runs) behind the scores
    summary: str                          # log line before the top heads
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class Detector:
    stage: str                                        # run-folder stage tag and W&B job type
    semantics: Callable[[RunConfig], dict]            # what the run id hashes (no paths)
    id_fields: tuple[str, ...]                        # readable part of the run id
    labels: Callable[[RunConfig], dict]               # "detect" and "objective" in head specs
    score: Callable[[RunConfig, str, Callable[[str], None], QueryCheckpoint], Scored]   # (cfg, run id, log, journals)


DETECTORS: Registry[Detector] = Registry("detector")


def detection_id(cfg: RunConfig, which: str = "qr") -> str:
    """The run id of ``cfg``'s detection by detector ``which``."""
    d = DETECTORS.get(which)
    return run_id(d.semantics(cfg), d.id_fields)


def run_detection(cfg: RunConfig, which: str = "qr", log=print) -> Path:
    """Run detector ``which`` for ``cfg`` unless finished; returns the path of our heads JSON.

    Writes the run folder (heads.json, heads.paper.json, heads.png, trackers, metrics.json last) and
    <out_dir>/heads/detected/<run id>.*; files already there with the same heads and scores are kept
    byte for byte (qrexp.heads.files.publish_detection).
    """
    d, rid, store = DETECTORS.get(which), detection_id(cfg, which), store_of(cfg)
    semantics, heads_file = d.semantics(cfg), store.path(rid, "heads.json")
    with run_lock(store.root, rid, log):
        check_tracker_inputs(cfg)
        record = store.finished_record(rid, warn=log)
        if record is not None:
            log(f"[{d.stage}] {rid}: finished earlier, reusing {heads_file}")
            reuse_run(cfg, store, rid, semantics, d.stage, record, log)
            return heads_file
        store.start(rid, semantics)
        ckpt = open_checkpoint(store, rid, semantics, log)   # per-case journals of a killed run
        got = d.score(cfg, rid, log, ckpt)
        write_heads(heads_file, got.scores, k=cfg.model.k, **got.heads_file)
        publish_detection(heads_file, Path(cfg.out_dir) / "heads" / "detected" / rid, log)
        top = ",".join(f"{l}-{h}" for (l, h), _ in rank_heads(got.scores)[: cfg.model.k])
        finish_run(cfg, store, rid, semantics, d.stage, {"top_heads": top, **got.metrics}, got.n,
                   semantics, extra=got.extra)
        ckpt.discard()                                   # scratch: the run is complete without it
        log(f"[{d.stage}] {rid}: {got.summary}{top}")
    return heads_file


def qr_semantics(cfg: RunConfig) -> dict:
    """What a QR detection depends on: no paths, the data's fingerprint."""
    detect_ = {**to_dict(cfg.detect), "data": data_semantics(cfg.detect.data, cache_dir(cfg), cfg.seed)}
    return {"stage": "detect", "model": model_label(cfg), "scoring": to_dict(cfg.scoring),
            "detect": detect_, "seed": cfg.seed}


def _score_qr(cfg: RunConfig, rid: str, log, ckpt: QueryCheckpoint) -> Scored:
    # no journal: every example's DocScores are in the score cache as soon as they are computed
    scorer, opts = scorer_of(cfg), scoring_options(cfg)
    examples = load_data(cfg.detect.data, cache_dir(cfg), cfg.seed)
    examples = fit_window(examples, scorer.retriever.builder, scorer.retriever.builder.max_length,
                          cfg.detect.data.fit_window, log, cfg.progress, length=scorer.prompt_length)
    qrels = {ex.qid: dict(ex.meta["qrels"]) for ex in examples} if cfg.detect.data.qrels else None
    plan = scorer.plan_for(examples, opts, tokens=False)          # detection reads DocScores only
    log(f"[detect] {plan.describe()}")
    det = detect_heads(scorer, examples, cfg.detect.objective, cfg.model.k, opts, qrels=qrels,
                       progress=cfg.progress)
    model = model_fingerprint(scorer.retriever.model)
    prov = {"scoring": scoring_provenance(scorer, opts), "model": model, "run_id": rid,
            "detect": qr_semantics(cfg)["detect"]}                              # no paths
    return Scored(det.scores, {"objective": cfg.detect.objective, "model": str(model["name"]),
                               "n_examples": len(examples), "provenance": prov,
                               "title": f"{cfg.detect.objective} on {len(examples)} examples ({model['name']})"},
                  {}, len(examples), f"top-{cfg.model.k} {cfg.detect.objective} heads ",
                  extra={"forwards": scorer.forwards, "model": scorer.model_id, "cache": plan.to_dict()})


def niah_semantics(cfg: RunConfig) -> dict:
    return {"stage": "detect-niah", "model": model_label(cfg), "niah": to_dict(cfg.niah), "seed": cfg.seed}


def niah_scores(model, tok, cases: Sequence[tuple[str, NiahCase]], journal: Journal | None,
                max_new_tokens: int, threshold: float, chat: bool = True, template: str = NIAH_TEMPLATE,
                progress: bool = True) -> NiahScores:
    """NIAH copy scores (qrexp.heads.niah) of ``cases`` [(case id, case)], one journal record per case
    (``journal``: qrexp.runs.checkpoint; checked against the case, the model's weights fingerprint and
    the generation settings), so a killed detection resumes at the case where it stopped and gives
    bit-equal scores: the copy scores [L, H] float32 round-trip JSON exactly and are summed in case order."""
    def run(key_case: tuple[str, NiahCase]) -> NiahRun:
        return score_niah_case(model, tok, key_case[1], max_new_tokens, threshold, chat, template,
                               where=f"NIAH case {key_case[0]}")
    shape = (model.config.num_hidden_layers, model.config.num_attention_heads)
    if journal is None:
        return combine_niah_runs(map(run, cases), shape)
    identity = {"model": model_fingerprint(model), "max_new_tokens": max_new_tokens, "threshold": threshold,
                "chat": chat, "template": template}
    records = journal.map(list(cases), key_of=lambda kc: kc[0], dep_of=lambda kc: {"case": kc[1]._asdict(), **identity},
                          compute=lambda chunk: [_record(run(kc)) for kc in chunk], desc="niah score",
                          progress=progress, unit="case")
    return combine_niah_runs((NiahRun(r["correct"], None if r["copy"] is None else
                                      torch.tensor(r["copy"], dtype=torch.float32)) for r in records), shape)


def _record(run: NiahRun) -> dict:
    return {"correct": run.correct, "copy": None if run.copy is None else run.copy.tolist()}


def _score_niah(cfg: RunConfig, rid: str, log, ckpt: QueryCheckpoint) -> Scored:
    model, tok = model_of(cfg.model)
    n = cfg.niah
    count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    examples = niah_grid(n.lengths, n.depths, NEEDLES[: n.n_needles], count_tokens=count, seed=cfg.seed)
    result = niah_scores(model, tok, [(ex.qid, case_from_example(ex)) for ex in examples], ckpt.journal("niah"),
                         n.max_new_tokens, n.threshold, progress=cfg.progress)
    if result.n_correct == 0:
        raise RuntimeError(f"NIAH detection {rid}: the model answered none of {result.n_runs} runs "
                           "correctly, so no head can be scored; use longer max_new_tokens or shorter contexts")
    return Scored(round_scores(result.scores),
                  {"objective": "niah", "model": cfg.model.name, "n_examples": result.n_correct,
                   "provenance": {"run_id": rid, "niah": to_dict(n)},
                   "title": f"NIAH copy score ({result.n_correct}/{result.n_runs} runs correct)"},
                  {"n_correct": result.n_correct, "n_runs": result.n_runs}, result.n_runs,
                  f"{result.n_correct}/{result.n_runs} answered; top heads ")


DETECTORS.register("qr")(Detector("detect", qr_semantics, ("model.name", "detect.name", "detect.objective"),
                                  lambda cfg: {"detect": cfg.detect.name, "objective": cfg.detect.objective},
                                  _score_qr))
DETECTORS.register("niah")(Detector("detect-niah", niah_semantics, ("model.name", "stage"),
                                    lambda cfg: {"detect": "niah", "objective": "niah-copy"}, _score_niah))
