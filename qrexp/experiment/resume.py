"""Per-query checkpoints of an evaluation run (:mod:`qrexp.runs.checkpoint`), wired to the work that is
expensive per query: attention rankings (journal ``ranking``: one ranking per example, checked against
the example's qid, query and documents and the loaded model's weights fingerprint), and every
generator call of QA answers (``qa``), the LLM judge (``judge``) and RankGPT windows (``rankgpt``),
checked against the prompt, the generator and its settings.

A requeued or restarted job therefore redoes no finished query: rankings are read back, generations
are not sent again, and the final artifacts equal an uninterrupted run's (replies and scores are read
back exactly; JSON round-trips floats exactly).
"""
from __future__ import annotations

from typing import Any, Sequence

from qrexp.engine.models import model_fingerprint
from qrexp.engine.score_cache import example_content
from qrexp.engine.scorer import ExampleScorer, ScoringOptions
from qrexp.runs.checkpoint import QueryCheckpoint
from qrexp.runs.journaled import JournaledGenerator
from qrexp.runs.store import RunStore
from qrexp.types import Example, HeadSet, Run


def open_checkpoint(store: RunStore, rid: str, depends: Any, log=print) -> QueryCheckpoint:
    """The checkpoint of run ``rid`` (``<run folder>/partial/``), checked against ``depends`` (the
    run's semantic config). Open it only while holding the run's lock (qrexp.io.locks.run_lock)."""
    return QueryCheckpoint(store.run_dir(rid), depends, log)


def rank_queries(ckpt: QueryCheckpoint | None, scorer: ExampleScorer, examples: Sequence[Example],
                 heads: HeadSet | None, opts: ScoringOptions, progress: bool, desc: str,
                 batch: int | None = None) -> Run:
    """Run {qid: {doc_id: score}} of a head set, one journaled ranking per example (same values as
    ``scorer.rank``; without a checkpoint it is ``scorer.rank``). ``scorer.rank`` is called on
    chunks of ``batch`` unfinished examples (None: the scorer's ``batch_size``, so that its batched
    forwards see whole batches), each chunk's rankings recorded as it returns."""
    batch = scorer.batch_size if batch is None else batch
    if ckpt is None:
        return scorer.rank(examples, heads, opts, progress, desc=desc)
    def rank_chunk(chunk: list[Example]) -> list[dict[str, float]]:
        run = scorer.rank(chunk, heads, opts, False)
        return [run[ex.qid] for ex in chunk]
    scores = ckpt.journal("ranking").map(
        list(examples), key_of=lambda ex: ex.qid,
        dep_of=lambda ex: {"example": example_content(ex), "model": scorer.model_id},
        compute=rank_chunk, desc=desc, progress=progress, batch=batch)
    return {ex.qid: s for ex, s in zip(examples, scores)}


def journaled(ckpt: QueryCheckpoint | None, generator: Any, name: str) -> Any:
    """``generator`` with its replies journaled under ``name`` (unchanged without a checkpoint). The
    record inputs include an in-process model's weights fingerprint, or the endpoint as shown (no
    credentials) for an HTTP generator."""
    if ckpt is None:
        return generator
    model = getattr(generator, "model", None)
    identity = model_fingerprint(model) if hasattr(model, "config") else repr(generator)
    return JournaledGenerator(generator, ckpt.journal(name), identity)
