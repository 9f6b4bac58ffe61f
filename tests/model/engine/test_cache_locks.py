"""Processes sharing one score cache compute each example once: a process asking for an entry that
another process is computing waits for it and reads it (per-entry lock files, qrexp.io.locks), with
real processes (multiprocessing, spawn), for one-by-one reads and for batched prefetches. The
computations are counted (the scorer's forward counter), never inferred from timing or log lines."""
import json
import multiprocessing as mp
import time
from pathlib import Path

import pytest

from organisms import make_examples, planted_model, word_tokenizer
from qrexp import QRRetriever
from qrexp.engine.score_cache import ScoreCache
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.scoring import ScoringOptions

CTX = mp.get_context("spawn")


def _slowed(fn):
    """``fn`` after a pause: the "forward pass" lasts long enough for the others to arrive."""
    def slow(*args, **kwargs):
        time.sleep(1.0)
        return fn(*args, **kwargs)
    return slow


def _score(cache_root: str, out: str, batch_size: int, start) -> None:
    tok = word_tokenizer(220)
    r = QRRetriever(planted_model(len(tok), layer=0, head=1), tok, query_span="query", null_query="w210 w210")
    r.raw_token_scores, r.raw_token_scores_batch = _slowed(r.raw_token_scores), _slowed(r.raw_token_scores_batch)
    scorer = ExampleScorer(r, ScoreCache(cache_root), batch_size=batch_size)
    examples = make_examples(2, seed=5)
    start.wait(300)                                  # line up after the imports: contend together
    if batch_size == 1:
        scores = [scorer.doc_scores(examples[0], ScoringOptions()).tolist()]
    else:
        run = scorer.rank(examples, None, ScoringOptions(), progress=False)
        scores = [run[ex.qid] for ex in examples]
    Path(out).write_text(json.dumps({"forwards": scorer.forwards, "scores": scores}))


@pytest.mark.parametrize("batch_size, n_examples", [(1, 1), (2, 2)])
def test_three_processes_compute_an_entry_once(batch_size, n_examples, tmp_path):
    start = CTX.Barrier(3)
    outs = [tmp_path / f"out{i}.json" for i in range(3)]
    procs = [CTX.Process(target=_score, args=(str(tmp_path / "cache"), str(o), batch_size, start)) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)                                  # spawned children import torch: slow when loaded
    assert [p.exitcode for p in procs] == [0, 0, 0]
    got = [json.loads(o.read_text()) for o in outs]
    assert sum(g["forwards"] for g in got) == n_examples          # each example computed once in all
    assert got[0]["scores"] == got[1]["scores"] == got[2]["scores"]   # the others read what it stored
    assert not list((tmp_path / "cache").rglob("*.lock"))          # released locks leave no file
