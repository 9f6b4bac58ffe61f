"""What a run will cost, printed before its first forward pass (tokenizer and one short timed forward).

For every evaluation (and the detection data when heads are detected) whose attention runs are not
finished yet: the number of queries, the prompt-length distribution (min / median / p90 / max tokens
and how many exceed the model's window), the forward passes, the score-cache disk and the run-folder
disk; then the total, and the time from a measured tokens/second of the loaded model.

Counting follows :class:`qrexp.engine.scorer.ExampleScorer`: one example costs one prefill of its
whole prompt plus one calibration pass over the query span (null query, document prefix reused), and
every attention method with the same calibration shares them (the scores are cached under the
prompt's content, so examples repeated across evaluations count once). Cache bytes per data set:
:func:`qrexp.engine.cache_plan.plan_cache` (DocScores [D, L, H] per calibration setting, document
TokenScores under ``aggregation=paper`` while ``cache.max_gb`` admits them).
Time is linear in tokens at the measured length: prompts much longer than the timed forward run
slower per token (attention grows with length), so read it as a lower bound there. QA generation
and RankGPT are counted (prompts) but not timed.
"""
from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from qrexp.engine.cache_plan import plan_cache
from qrexp.engine.prompt import PromptBuilder, token_span
from qrexp.experiment.config import RunConfig, evals_of
from qrexp.experiment.data import load_data
from qrexp.evals.rankgpt import RankGPTRanker, sliding_windows
from qrexp.experiment.context import cache_dir, scorer_of, store_of
from qrexp.experiment.detect import detection_id
from qrexp.experiment.evaluate import eval_id, method_config
from qrexp.experiment.methods import check_method, head_source, runs_qa
from qrexp.experiment.gen_window import qa_examples
from qrexp.evals.kinds import KINDS
from qrexp.heads.sources import SOURCES
from qrexp.types import Example

RUN_FILES_BYTES = 4_000         # config.json, metrics.json, heads.txt, provenance of one run folder (measured)
TREC_LINE_BYTES = 48            # one run.trec / qrels.trec line
PER_QUERY_BYTES = 250           # one per_query.jsonl row
TIMED_TOKENS = 1024             # longest timed forward (the median prompt length when shorter)


@dataclass(frozen=True)
class PromptShape:
    """One example's prompt: ``tokens`` in all, ``prefix`` before the query span, ``docs`` count,
    ``doc_tokens`` inside the documents' spans."""
    key: str
    tokens: int
    prefix: int
    docs: int
    doc_tokens: int = 0


@dataclass
class EvalEstimate:
    """One evaluation's (or the detection's) share of the run."""
    name: str
    methods: tuple[str, ...]
    shapes: list[PromptShape]
    window: int | None
    new_prefills: int = 0
    cache_bytes: int = 0
    run_bytes: int = 0
    generations: int = 0          # QA answers and RankGPT windows (generation prompts, not timed)
    n_runs: int = 0               # run folders it writes (every unfinished method; 0: one per scored method)

    @property
    def lengths(self) -> list[int]:
        return [s.tokens for s in self.shapes]

    @property
    def over_window(self) -> int:
        return sum(self.window is not None and n > self.window for n in self.lengths)


def prompt_shape(builder: PromptBuilder, ex: Example) -> PromptShape:
    """Tokens, prefix tokens (before the query span) and document count of ``ex``'s retrieval prompt
    (tokenizer only); ``key`` identifies its content as the score cache does."""
    text, doc_chars, qspan, add_special = builder.render(ex.query, ex.docs)
    enc = builder.tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    prefix = token_span(offsets, *qspan, f"example {ex.qid}, query span")[0]
    spans = [token_span(offsets, c0, c1, f"example {ex.qid}, document {d.doc_id}")
             for d, (c0, c1) in zip(ex.docs, doc_chars)]
    digest = hashlib.sha256(repr((ex.query, [(d.doc_id, d.title, d.text) for d in ex.docs])).encode()).hexdigest()
    return PromptShape(digest, len(enc["input_ids"]), prefix, len(ex.docs), sum(e - s for s, e in spans))


def percentile(values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))]


def measure_tokens_per_second(model, ids: Sequence[int], n: int = TIMED_TOKENS) -> tuple[float, int]:
    """(tokens/s, tokens timed) of one forward over the first ``n`` of ``ids`` (no grad; synchronised
    on CUDA). Side effect: one forward pass of the model."""
    x = torch.tensor([list(ids[:n])], device=model.device)
    with torch.no_grad():
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model(input_ids=x)
        if x.is_cuda:
            torch.cuda.synchronize()
    return x.shape[1] / max(time.perf_counter() - t0, 1e-9), int(x.shape[1])


def _examples(one: RunConfig, detection: bool) -> list[Example]:
    data = one.detect.data if detection else one.eval.data
    examples = load_data(data, cache_dir(one), one.seed)
    return examples if detection else KINDS.get(one.eval.kind).ranked(examples, one.eval)


def _generates(one: RunConfig, method: str) -> bool:
    return method == "rankgpt" or runs_qa(one, method)


def _pending(cfg: RunConfig) -> list[tuple[RunConfig, tuple[str, ...]]]:
    """(evaluation, its unfinished methods that run the model: attention scoring or generation)."""
    out = []
    for one in evals_of(cfg):
        todo = tuple(m for m in one.eval.methods if (check_method(m).attention or _generates(one, m))
                     and not store_of(one).is_finished(eval_id(one, m)))
        if todo:
            out.append((one, todo))
    return out


def _reads_qr_heads(one: RunConfig, methods: Sequence[str]) -> bool:
    """Whether one of ``methods`` ranks with QR-detected heads (so the run detects them first)."""
    return any(check_method(m).attention and SOURCES.get(head_source(one, check_method(m))).detection == "qr"
               for m in methods)


def _generations(one: RunConfig, methods: Sequence[str], examples: Sequence[Example]) -> int:
    rankgpt = RankGPTRanker(None)
    n = 0
    for m in methods:
        if m == "rankgpt":
            n += sum(len(sliding_windows(len(ex.docs), rankgpt.window, rankgpt.step)) for ex in examples)
        if runs_qa(one, m):
            n += len(qa_examples(examples, one.eval.qa.limit)) * (1 if m == "full-context" else len(one.eval.qa.top_k))
    return n


def estimate_run(cfg: RunConfig, log: Callable[[str], None] = print) -> list[EvalEstimate]:
    """Print the pre-run estimate (module docstring) and return its rows; nothing when the stage
    scores nothing or every attention run is finished. Loads the model (the run needs it next) and
    runs one timed forward of min(median prompt, TIMED_TOKENS) tokens. Data errors propagate as the run's would."""
    if cfg.stage not in ("pipeline", "evaluate"):
        return []
    pending = _pending(cfg)
    if not pending:
        return []
    scorer = scorer_of(method_config(pending[0][0], check_method(pending[0][1][0])))
    r, builder = scorer.retriever, scorer.retriever.builder
    rows: list[EvalEstimate] = []
    detected: set[str] = set()          # the QR detections the pending methods read, each once
    for one, methods in pending if cfg.stage == "pipeline" else ():
        rid = detection_id(one)
        if rid not in detected and _reads_qr_heads(one, methods) and not store_of(one).is_finished(rid):
            detected.add(rid)
            rows.append(EvalEstimate(f"detect:{one.detect.name}", ("detect",),
                                     [prompt_shape(builder, ex) for ex in _examples(one, True)], builder.max_length))
    for one, methods in pending:
        examples = _examples(one, False)
        scored = tuple(m for m in methods if check_method(m).attention)
        rows.append(EvalEstimate(one.eval.name, scored or methods,
                                 [prompt_shape(builder, ex) for ex in examples] if scored else [],
                                 builder.max_length, generations=_generations(one, methods, examples),
                                 n_runs=sum(not store_of(one).is_finished(eval_id(one, m)) for m in one.eval.methods)))
    seen: set[str] = set()
    for row in rows:
        new = [s for s in dict((s.key, s) for s in row.shapes if s.key not in seen).values()]
        seen.update(s.key for s in new)
        plan = plan_cache(r.n_layers, r.n_heads, [s.docs for s in new], [s.doc_tokens for s in new],
                          tokens_needed=cfg.scoring.aggregation == "paper", max_bytes=cfg.cache.max_bytes,
                          token_dtype=cfg.cache.token_dtype)
        settings = {check_method(m).scoring.get("calibrate", cfg.scoring.calibrate) if m != "detect"
                    else cfg.scoring.calibrate for m in row.methods}
        row.new_prefills = len(new) * len(settings)
        row.cache_bytes = plan.total_bytes + (len(settings) - 1) * plan.doc_scores_bytes
        docs = sum(s.docs for s in row.shapes)
        row.run_bytes = (row.n_runs or len(row.methods)) * (RUN_FILES_BYTES + 2 * TREC_LINE_BYTES * docs
                                            + PER_QUERY_BYTES * len(row.shapes))
    _print(rows, scorer, log)
    return rows


def _print(rows: list[EvalEstimate], scorer, log: Callable[[str], None]) -> None:
    r = scorer.retriever
    for row in rows:
        n = row.lengths
        shown = (f"{len(n)} queries, prompt tokens min {min(n)} / median {int(statistics.median(n))} / p90 "
                 f"{percentile(n, 90)} / max {max(n)}, {row.over_window} over the window of {row.window}; "
                 f"{row.new_prefills} new prefills, score cache {_size(row.cache_bytes)}, run folders "
                 f"{_size(row.run_bytes)}") if n else "no attention scoring"
        gen = f"; {row.generations} generation prompts (QA / RankGPT, not timed)" if row.generations else ""
        log(f"[estimate] {row.name} ({', '.join(row.methods)}): {shown}{gen}")
    todo = {s.key: s for row in rows for s in row.shapes}
    if not todo:
        return
    tokens = sum(s.tokens for s in todo.values()) + sum(s.tokens - s.prefix for s in todo.values())
    prefills = sum(row.new_prefills for row in rows)
    longest = max(todo.values(), key=lambda s: s.tokens)
    ids = r.builder.tokenizer("x " * TIMED_TOKENS, add_special_tokens=False)["input_ids"]
    median = int(statistics.median(s.tokens for s in todo.values()))
    tps, timed = measure_tokens_per_second(r.model, ids, min(TIMED_TOKENS, median))
    log(f"[estimate] total: {prefills} prefills + {prefills} calibration passes ({tokens} tokens), "
        f"{sum(row.generations for row in rows)} generation prompts, score cache "
        f"{_size(sum(row.cache_bytes for row in rows))}, run folders {_size(sum(row.run_bytes for row in rows))}; "
        f"{tps:,.0f} tokens/s measured ({timed}-token forward on {r.model.device}) -> about "
        f"{_duration(tokens / tps)} of scoring (longest prompt {longest.tokens} tokens: slower per token than timed)")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
