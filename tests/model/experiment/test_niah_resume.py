"""NIAH detection journals each haystack case (qrexp.runs.checkpoint): a detection interrupted at a
known case (the QREXP_FAULT_AT hook) resumes at that case, generates only the cases left, and writes
heads files byte-identical to an uninterrupted detection's (planted copying head, tests/copy_organism.py)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from copy_organism import copy_model
from organisms import word_tokenizer
from qrexp.experiment.config import from_hydra
from qrexp.experiment.detect import detection_id, niah_scores, run_detection, write_heads
from qrexp.heads import niah
from qrexp.heads.files import round_scores
from qrexp.heads.niah import NiahCase, niah_retrieval_scores
from qrexp.runs.checkpoint import FAULT_ENV, QueryCheckpoint, finished_keys

ROOT = Path(__file__).resolve().parents[3]
NEEDLE = " ".join(f"w{i}" for i in range(10, 18))
PLAIN = dict(chat=False, template="{context} {question}")


def _cases(seed=0):
    """Six cases: question w9 (the needle follows it) or, for cases 1 and 4, w49."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(6):
        filler = [f"w{t}" for t in rng.integers(100, 200, size=int(rng.integers(20, 60)))]
        at = int(rng.integers(0, len(filler) + 1))
        question = "w49" if i in (1, 4) else "w9"
        out.append((f"case{i}", NiahCase(" ".join(filler[:at] + [NEEDLE] + filler[at:]), NEEDLE, question, NEEDLE)))
    return out


@pytest.fixture(scope="module")
def model_tok():
    tok = word_tokenizer(220)
    return copy_model(len(tok), tok.eos_token_id, layer=0, head=1), tok


def _files(stem, scores):
    paths = write_heads(stem, round_scores(scores), {"run_id": "test"}, objective="niah", model="copy",
                        n_examples=4, k=2, title="NIAH copy score")
    return {name: path.read_bytes() for name, path in paths.items()}


def test_interrupted_niah_detection_resumes_at_its_case(model_tok, tmp_path, monkeypatch):
    model, tok = model_tok
    cases = _cases()
    ref = niah_scores(model, tok, cases, None, 8, 0.5, progress=False, **PLAIN)
    plain = niah_retrieval_scores(model, tok, [c for _, c in cases], max_new_tokens=8, **PLAIN)
    assert torch.equal(ref.scores, plain.scores) and (ref.n_correct, ref.n_runs) == (plain.n_correct, plain.n_runs)
    assert 0 < ref.n_correct < ref.n_runs == 6                  # answered and unanswered cases

    generated = []
    real_generate = niah.greedy_generate
    monkeypatch.setattr(niah, "greedy_generate", lambda *a, **k: generated.append(1) or real_generate(*a, **k))
    monkeypatch.setenv(FAULT_ENV, "niah:2:INT")                  # Ctrl-C right after the 2nd case is on disk
    first = QueryCheckpoint(tmp_path / "run", {"stage": "detect-niah"}, log=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        niah_scores(model, tok, cases, first.journal("niah"), 8, 0.5, progress=False, **PLAIN)
    first.journal("niah").close()
    assert finished_keys(tmp_path / "run", "niah") == ["case0", "case1"] and len(generated) == 2

    said = []
    again = QueryCheckpoint(tmp_path / "run", {"stage": "detect-niah"}, log=said.append)
    resumed = niah_scores(model, tok, cases, again.journal("niah"), 8, 0.5, progress=False, **PLAIN)
    assert again.summary() == {"niah": {"resumed": 2, "computed": 4}} and len(generated) == 6   # each case once
    assert any("niah score: resuming at case 2 of 6 (2 read back" in line for line in said), said
    assert torch.equal(resumed.scores, ref.scores) and (resumed.n_correct, resumed.n_runs) == (ref.n_correct, 6)
    assert _files(tmp_path / "resumed" / "heads", resumed.scores) == _files(tmp_path / "ref" / "heads", ref.scores)
    again.discard()
    assert not (tmp_path / "run" / "partial").exists()


def test_a_changed_case_is_generated_again(model_tok, tmp_path):
    """A record is checked against its case: another haystack under the same case id is recomputed."""
    model, tok = model_tok
    cases = _cases()
    ckpt = QueryCheckpoint(tmp_path, {"stage": "detect-niah"}, log=lambda s: None)
    niah_scores(model, tok, cases[:2], ckpt.journal("niah"), 8, 0.5, progress=False, **PLAIN)
    other = [(cases[0][0], cases[2][1]), cases[1]]               # case0's id, case2's haystack
    got = niah_scores(model, tok, other, ckpt.journal("niah"), 8, 0.5, progress=False, **PLAIN)
    want = niah_scores(model, tok, other, None, 8, 0.5, progress=False, **PLAIN)
    assert ckpt.journal("niah").computed == 3 and torch.equal(got.scores, want.scores)


def test_niah_detection_stage_journals_its_cases(tiny_dir, tmp_path):
    """The stage (run_detection "niah") records every case in <run>/partial/niah.jsonl as it goes:
    the tiny random model answers none, so the stage fails, and its finished cases stay on disk."""
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = from_hydra(compose("config", overrides=[
            "model=tiny", f"model.path={tiny_dir}", f"out_dir={tmp_path}", "progress=false",
            "niah.lengths=[150,200]", "niah.depths=[0.5]", "niah.n_needles=1", "niah.max_new_tokens=2"]))
    with pytest.raises(RuntimeError, match="answered none of 2 runs"):
        run_detection(cfg, "niah", log=lambda s: None)
    assert len(finished_keys(tmp_path / "runs" / detection_id(cfg, "niah"), "niah")) == 2
