"""NIAH retrieval-head detection stage (the RetHead baseline): generated needle-in-a-haystack
cases, greedy answers read with the attention capture, Wu et al.'s copy score per head."""
from __future__ import annotations

from pathlib import Path

from qrexp.experiment.config import RunConfig, to_dict
from qrexp.heads.files import write_detection
from qrexp.heads.objectives import rank_heads
from qrexp.heads.niah import case_from_example, niah_retrieval_scores
from qrexp.heads.files import round_scores
from qrexp.report.plots import plot_head_scores
from qrexp.io.locks import run_lock
from qrexp.experiment.run_logging import finish_run
from qrexp.experiment.stages import _load, begin_detection, model_label, publish_heads, store_of
from qrexp.runs.store import run_id
from qrexp.data.niah import NEEDLES, niah_grid


def niah_config(cfg: RunConfig) -> dict:
    return {"stage": "detect-niah", "model": model_label(cfg), "niah": to_dict(cfg.niah),
            "seed": cfg.seed}


def niah_id(cfg: RunConfig) -> str:
    return run_id(niah_config(cfg), ("model.name", "stage"))


def run_niah_detection(cfg: RunConfig, log=print) -> Path:
    """Score every head by NIAH copy-paste retrieval (skipped when finished, waited for and reused
    when a concurrent job runs it: qrexp.io.locks); returns heads JSON."""
    with run_lock(store_of(cfg).root, niah_id(cfg), log):
        return _run_niah_detection(cfg, log)


def _run_niah_detection(cfg: RunConfig, log=print) -> Path:
    rid = niah_id(cfg)
    store, heads_file, done = begin_detection(cfg, rid, niah_config(cfg), "detect-niah", log)
    if done:
        return heads_file
    model, tok = _load(cfg.model)
    n = cfg.niah
    count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    examples = niah_grid(n.lengths, n.depths, NEEDLES[: n.n_needles], count_tokens=count, seed=cfg.seed)
    result = niah_retrieval_scores(model, tok, [case_from_example(ex) for ex in examples],
                                   max_new_tokens=n.max_new_tokens, threshold=n.threshold,
                                   progress=cfg.progress)
    if result.n_correct == 0:
        raise RuntimeError(f"NIAH detection {rid}: the model answered none of {result.n_runs} runs "
                           "correctly, so no head can be scored; use longer max_new_tokens or shorter contexts")
    scores = round_scores(result.scores)                # as written: byte-stable head files
    ranked = rank_heads(scores)
    write_detection(heads_file, ranked, {"run_id": rid, "niah": to_dict(n)}, objective="niah",
                    model=cfg.model.name, n_examples=result.n_correct, k=cfg.model.k)
    plot_head_scores(scores, store.path(rid, "heads.png"), k=cfg.model.k,
                     title=f"NIAH copy score ({result.n_correct}/{result.n_runs} runs correct)")
    publish_heads(cfg, rid, log)
    top = ",".join(f"{l}-{h}" for (l, h), _ in ranked[: cfg.model.k])
    finish_run(cfg, store, rid, niah_config(cfg), "detect-niah",
               {"top_heads": top, "n_correct": result.n_correct, "n_runs": result.n_runs},
               result.n_runs, niah_config(cfg))
    log(f"[detect-niah] {rid}: {result.n_correct}/{result.n_runs} answered; top heads {top}")
    return heads_file
