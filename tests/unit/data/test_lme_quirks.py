"""LongMemEval official-file quirks (longmemeval_s_cleaned.json / longmemeval_oracle.json), on a
real-shaped fixture written from the public format (tests/data/lme_quirks.json): repeated filler
session ids, numeric answers, ``_abs`` ids, unsorted dates, evidence ids containing "answer", empty
turns and sessions, evidence ids absent from the history (reported, not silently dropped)."""
from pathlib import Path

import pytest

from qrexp.evals.baselines import BM25Ranker
from qrexp.evals.metrics import retrieval_metrics
from qrexp.evals.protocol import gold_sets, report_gold_coverage
from qrexp.data.lme import date_order, load_lme, occurrence_ids

QUIRKS = Path(__file__).parents[2] / "data" / "lme_quirks.json"
ABSENT = "evidence session(s) ['answer_e0f1a2b3_9'] not in the history"


@pytest.fixture(scope="module")
def examples():
    with pytest.warns(UserWarning) as rec:
        exs = load_lme(QUIRKS)
    assert str(rec[0].message) == (f"{QUIRKS}: 1 question(s) repeat a session id; 2 question(s) name an evidence "
                                   "session absent from the history; 1 question(s) have an empty session "
                                   "(loaded; see qrexp.data.lme)")
    return {e.qid: e for e in exs}


def test_occurrence_ids():
    assert occurrence_ids(["a", "b", "a", "a"]) == ["a", "b", "a#2", "a#3"]
    assert occurrence_ids(["a", "a#2", "a"]) == ["a", "a#2", "a#3"]          # never collides with a real id


def test_repeated_filler_session_gets_its_own_units(examples):
    ex = examples["7a9e2c41"]
    assert ex.doc_ids == ["sharegpt_Lm3Nq0r_0_r1", "answer_7a9e2c41_2_r1", "ultrachat_402211_r1",
                          "sharegpt_Lm3Nq0r_0#2_r1", "answer_7a9e2c41_1_r1"]
    assert ex.gold == {"answer_7a9e2c41_1_r1", "answer_7a9e2c41_2_r1"}
    assert ex.meta["duplicate_sessions"] == 1 and ex.meta["absent_evidence_sessions"] == []
    again = ex.meta["units"]["sharegpt_Lm3Nq0r_0#2_r1"]
    assert again["session_id"] == "sharegpt_Lm3Nq0r_0#2" and again["file_session_id"] == "sharegpt_Lm3Nq0r_0"
    assert again["date"] == "2023/06/09 (Fri) 17:45"
    assert again["session_index"] == 3 and again["evidence"] is False
    assert ex.docs[0].text == ex.docs[3].text                                # same content, other date
    assert ex.answer == "6" and ex.meta["answer"] == "6"                     # numeric answer kept as text
    with pytest.warns(UserWarning):
        session = {e.qid: e for e in load_lme(QUIRKS, unit="session")}["7a9e2c41"]
    assert session.doc_ids == ["sharegpt_Lm3Nq0r_0", "answer_7a9e2c41_2", "ultrachat_402211",
                               "sharegpt_Lm3Nq0r_0#2", "answer_7a9e2c41_1"]
    assert session.gold == {"answer_7a9e2c41_1", "answer_7a9e2c41_2"}


def test_unsorted_dates_put_back_in_date_order(examples):
    ex = examples["7a9e2c41"]
    assert date_order(ex, ex.doc_ids) == ["ultrachat_402211_r1", "answer_7a9e2c41_1_r1", "sharegpt_Lm3Nq0r_0_r1",
                                          "answer_7a9e2c41_2_r1", "sharegpt_Lm3Nq0r_0#2_r1"]


def test_abstention_empty_turn_and_empty_session(examples):
    ex = examples["5c1d8f03_abs"]
    assert ex.meta["abstention"] is True and ex.meta["empty_sessions"] == 1
    assert ex.doc_ids == ["answer_5c1d8f03_abs_1_r1", "answer_5c1d8f03_abs_1_r2"]    # empty session: no unit
    assert ex.docs[0].text == "user: My beagle keeps chewing shoes. Any tips?\nassistant: "
    assert ex.gold == {"answer_5c1d8f03_abs_1_r1"}


def test_absent_evidence_session_is_recorded(examples):
    partly = examples["b2e4a6c8"]
    assert partly.meta["absent_evidence_sessions"] == ["answer_b2e4a6c8_2"] and "no_gold" not in partly.meta
    assert partly.gold == {"answer_b2e4a6c8_1_r1"} and partly.answer == "24.5"
    none = examples["e0f1a2b3"]
    assert none.gold == frozenset() and none.meta["no_gold"] == ABSENT


def test_recall_reports_what_it_leaves_out(examples):
    exs = list(examples.values())
    run = BM25Ranker().rank(exs)
    per_query, mean = retrieval_metrics(run, gold_sets(exs), ks=[1, 2])
    # by hand: the two tomato rounds share "tomato"/"plant" with the question, nothing else does;
    # "5k personal best minutes" only matches the evidence round
    assert sorted(per_query) == ["7a9e2c41", "b2e4a6c8"]
    assert per_query["7a9e2c41"]["R@2"] == 1.0 and per_query["b2e4a6c8"]["R@1"] == 1.0
    assert mean["R@2"] == 1.0
    logged = []
    extra = report_gold_coverage(exs, mean, logged.append)
    assert extra["gold_coverage"] == {"n": 4, "with_gold": 2,
                                      "left_out": {"abstention question": 1, ABSENT: 1}}
    assert logged == [f"[evaluate] recall over 2 of 4 examples; left out: abstention question x1; {ABSENT} x1"]


def test_qa_history_keeps_the_two_occurrences_apart(examples):
    from qrexp.evals.qa_lme import lme_history
    ex = examples["7a9e2c41"]
    text = lme_history(ex, ["sharegpt_Lm3Nq0r_0#2_r1", "sharegpt_Lm3Nq0r_0_r1"])
    assert text.count("hamstrings") == 2
    assert text.index("2023/05/28 (Sun) 14:02") < text.index("2023/06/09 (Fri) 17:45")   # two dated sessions
