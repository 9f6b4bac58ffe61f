"""What a stage needs for one config, built once: the loaded model (once per process), the cached
scorer, the run store, the score-cache folder, and the model's part of run ids.

Every stage (qrexp.experiment.detect, .evaluate, .report, .view) takes these from here; nothing
else loads a model or opens a run store.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from qrexp.engine.models import load_model
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.score_cache import ScoreCache
from qrexp.engine.scorer import ExampleScorer, ScoringOptions
from qrexp.evals.llm import HFGenerator
from qrexp.experiment.config import ModelConfig, RunConfig
from qrexp.runs.store import RunStore


def cache_dir(cfg: RunConfig) -> Path:
    """The score cache and generated data: ``cache_dir``, else ``<out_dir>/cache``."""
    return Path(cfg.cache_dir or Path(cfg.out_dir) / "cache")


def store_of(cfg: RunConfig) -> RunStore:
    """The run store of ``cfg``: run folders under ``<out_dir>/runs``."""
    return RunStore(Path(cfg.out_dir) / "runs")


@lru_cache(maxsize=2)
def model_of(m: ModelConfig):
    """(model, tokenizer) of a model config, loaded once per process (the two last configs kept).

    Side effect: a GGUF file is converted into ~/.cache/qrexp on first use (qrexp.engine.models).
    """
    model, tok = load_model(m.path, gguf_file=m.gguf_file, dtype=m.dtype, device=m.device,
                            device_map=m.device_map, revision=m.revision)
    model.qrexp_name = m.name            # checked against the path when the config was built
    return model, tok


def scorer_of(cfg: RunConfig) -> ExampleScorer:
    """A scorer (forward counter at 0) over the cached per-example scores of ``cfg``'s model and
    prompt settings; calibration and the mask travel per call as :func:`scoring_options`.
    ``scoring.prefill_chunk`` and ``scoring.batch_size`` only change how the passes run (exact)."""
    model, tok = model_of(cfg.model)
    s = cfg.scoring
    retriever = QRRetriever(model, tok, prompt_style=cfg.model.prompt_style, query_span=s.query_span,
                            null_query=s.null_query, calibrate=s.calibrate, mask_sigma=s.mask_sigma,
                            reference_family=cfg.model.reference_family, prefill_chunk=s.prefill_chunk)
    return ExampleScorer(retriever, ScoreCache(cache_dir(cfg) / "scores"), max_bytes=cfg.cache.max_bytes,
                         compress=cfg.cache.compress, token_dtype=cfg.cache.token_dtype,
                         batch_size=s.batch_size)


def generator_of(cfg: RunConfig) -> HFGenerator:
    """Greedy generation with ``cfg``'s model (QA answers, RankGPT), progress bars as configured."""
    gen = HFGenerator(*model_of(cfg.model))
    gen.progress = cfg.progress
    return gen


def scoring_options(cfg: RunConfig) -> ScoringOptions:
    """How token scores become document scores for ``cfg`` (passed per call to the scorer)."""
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
