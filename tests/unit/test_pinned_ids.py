"""Run ids and score-cache keys pinned before the package was reshaped (issue 10, step 1).

A run id is the hash of the semantic config and a score-cache key the hash of the tokens actually
scored plus the model's weights fingerprint. Moving code between modules must change neither: a
changed value would orphan every finished run folder and cached score of a user. The values below
were computed on the flat layout (commit 2e6a7c3) and must never change by refactoring alone.
"""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from qrexp.engine.scoring import ScoringOptions
from qrexp.experiment.config import evals_of, from_hydra
from qrexp.experiment.evaluate import eval_id
from qrexp.experiment.stages import cache_dir, detection_id, scorer_of

ROOT = Path(__file__).resolve().parents[2]

PINNED_RUN_IDS = {
    'detect': 'smollm2-135m-fixture-qrscore-eccf4ec98a',
    'fixture-beir/qrhead': 'fixture-beir-qrhead-be0176b322',
    'fixture-beir/icr': 'fixture-beir-icr-252a7aa1e2',
    'fixture-beir/random': 'fixture-beir-random-89013553c7',
    'fixture-beir/bm25': 'fixture-beir-bm25-9de21546ca',
    'fixture-beir/full-context': 'fixture-beir-full-context-81b8cf899a',
    'fixture-lme/qrhead': 'fixture-lme-qrhead-8f74960c23',
    'fixture-lme/icr': 'fixture-lme-icr-391a43e2f9',
    'fixture-lme/random': 'fixture-lme-random-7e6dfbda13',
    'fixture-lme/bm25': 'fixture-lme-bm25-c69fde0f0e',
    'fixture-lme/full-context': 'fixture-lme-full-context-c5e32997b6',
    'fixture-clipper/qrhead': 'fixture-clipper-qrhead-e98a4f5f8a',
    'fixture-clipper/icr': 'fixture-clipper-icr-9299d5c99d',
    'fixture-clipper/random': 'fixture-clipper-random-cca85a1874',
    'fixture-clipper/bm25': 'fixture-clipper-bm25-0726a073d9',
    'fixture-clipper/full-context': 'fixture-clipper-full-context-d11a01e455',
}
# Score-cache keys, SmolLM2 (embedded), fixture BEIR queries. Token scores changed kind ON PURPOSE
# (issue 13: raw [2, L, H, T] float32 "token_scores" -> "doc_token_scores", document tokens in
# float16 rows); the old keys were q1 21f04091..., q2 c277f26f.... DocScores keys (calibrate, sigma 2)
# are those the flat layout computed (checked against commit 929990b).
PINNED_CACHE_KEYS = {
    'q1': '0d48ad63c234550346170f22361e78b96375a9b01f9b599b7aee7e4c88e0003d',
    'q2': '55fdd33a69d543f23a5970d843d958a0210c87566c02fe73ab304d0b000e4d7d',
}
PINNED_DOC_SCORES_KEYS = {
    'q1': 'e191582201bdaa08ac73e3b3a1a230b53ae3cb054d5efadf420bdff064a941f5',
    'q2': '090cfef9825bfb69340454fec1e100a4e55127b6a75529609aa416e7205d7f59',
}


@pytest.fixture()
def suite(monkeypatch, tmp_path):
    monkeypatch.setenv("QREXP_TEST_DATA", str(ROOT / "tests" / "data"))
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("config", overrides=[
            f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]", "experiment=fixture_suite",
            f"out_dir={tmp_path / 'out'}"])          # the embedded SmolLM2: a path-free identity
    return from_hydra(cfg)


def _ids(cfg) -> dict[str, str]:
    ids = {"detect": detection_id(cfg)}
    for one in evals_of(cfg):
        for method in ("qrhead", "icr", "random", "bm25", "full-context"):
            ids[f"{one.eval.name}/{method}"] = eval_id(one, method)
    return ids


def test_run_ids_are_pinned(suite):
    got = _ids(suite)
    assert got == PINNED_RUN_IDS


@pytest.mark.slow
def test_score_cache_keys_are_pinned(suite):
    from qrexp.experiment.data import load_data
    cfg = evals_of(suite)[0]
    scorer = scorer_of(cfg)
    examples = load_data(cfg.eval.data, cache_dir(cfg), cfg.seed)
    got = {ex.qid: scorer.token_scores_key(ex) for ex in examples[:3]}
    assert got == PINNED_CACHE_KEYS
    opts = ScoringOptions(calibrate=True, mask_sigma=2.0)
    assert {ex.qid: scorer.doc_scores_key(ex, opts) for ex in examples[:3]} == PINNED_DOC_SCORES_KEYS
