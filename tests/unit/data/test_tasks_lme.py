"""LongMemEval loader: rounds, gold rounds (hand-derived from tests/data/lme_tiny.json), errors."""
import json
from pathlib import Path

import pytest

from qrexp.data.lme import date_order, load_lme, split_rounds

DATA = Path(__file__).parents[2] / "data"
LME = DATA / "lme_tiny.json"


@pytest.fixture(scope="module")
def examples():
    return {ex.qid: ex for ex in load_lme(LME)}


def test_questions_in_file_order(examples):
    assert list(examples) == ["e47becba", "6a1eabeb", "c3d4e5f6_abs", "gpt4_0f1e2d3c"]


def test_single_session_user_rounds_and_gold(examples):
    ex = examples["e47becba"]
    assert ex.doc_ids == ["sharegpt_aB1cD2e_0_r1", "sharegpt_aB1cD2e_0_r2", "answer_e47becba_1_r1",
                          "answer_e47becba_1_r2", "ultrachat_112233_r1"]
    assert ex.gold == {"answer_e47becba_1_r1"}
    assert ex.docs[2].text == ("user: I'm updating my resume now that I graduated with a degree in Business "
                               "Administration. Any tips?\nassistant: Congratulations! Lead with your degree "
                               "and add relevant coursework and projects.")
    assert ex.docs[2].title is None
    assert ex.query == "What degree did I graduate with?" and ex.answer == "Business Administration"
    assert ex.meta["units"]["answer_e47becba_1_r2"] == {
        "session_id": "answer_e47becba_1", "file_session_id": "answer_e47becba_1", "session_index": 1, "date": "2023/05/21 (Sun) 10:00",
        "round": 2, "has_answer": False, "evidence": True,
        "turns": [{"role": "user", "content": "Should I include my part-time job at the bookstore?"},
                  {"role": "assistant",
                   "content": "Yes, it shows customer service and time management skills."}]}
    assert ex.meta["question_type"] == "single-session-user"
    assert ex.meta["question_date"] == "2023/05/30 (Tue) 23:40"
    assert ex.meta["abstention"] is False and ex.meta["gold_fallback"] is False


def test_knowledge_update_gold_spans_both_sessions_and_answer_is_str(examples):
    ex = examples["6a1eabeb"]
    assert ex.gold == {"answer_6a1eabeb_1_r1", "answer_6a1eabeb_2_r2"}
    assert ex.answer == "4" and ex.meta["answer"] == "4"
    # a session that opens with an assistant turn: that turn is a round of its own
    assert ex.doc_ids[1:3] == ["sharegpt_Zq9Yx8w_2_r1", "sharegpt_Zq9Yx8w_2_r2"]
    assert ex.docs[1].text == "assistant: Welcome back! How did the garden plan work out?"
    assert len(ex.docs) == 5


def test_abstention_kept_with_fallback_gold(examples):
    ex = examples["c3d4e5f6_abs"]
    assert ex.meta["abstention"] is True
    assert ex.meta["gold_fallback"] is True      # no has_answer turn: all rounds of the evidence session
    assert ex.gold == {"answer_c3d4e5f6_abs_1_r1", "answer_c3d4e5f6_abs_1_r2"}


def test_has_answer_on_assistant_turn_and_date_order(examples):
    ex = examples["gpt4_0f1e2d3c"]
    assert ex.gold == {"answer_0f1e2d3c_2_r1", "answer_0f1e2d3c_1_r1"}
    # haystack lists Feb 15 before Feb 8; date order puts Feb 8 first, rounds in order within a session
    assert date_order(ex, ["answer_0f1e2d3c_2_r1", "answer_0f1e2d3c_1_r2", "answer_0f1e2d3c_1_r1"]) == [
        "answer_0f1e2d3c_1_r1", "answer_0f1e2d3c_1_r2", "answer_0f1e2d3c_2_r1"]
    with pytest.raises(KeyError, match="unknown unit"):
        date_order(ex, ["nope"])


def test_session_unit():
    ex = load_lme(LME, unit="session", limit=2)[1]
    assert ex.doc_ids == ["answer_6a1eabeb_1", "sharegpt_Zq9Yx8w_2", "answer_6a1eabeb_2"]
    assert ex.gold == {"answer_6a1eabeb_1", "answer_6a1eabeb_2"}
    assert ex.docs[0].text == ("user: I own three bikes and need a wall rack for all of them.\n"
                               "assistant: A three-bike wall rack with rubber hooks would work well.")
    assert ex.meta["units"]["sharegpt_Zq9Yx8w_2"]["round"] is None


def test_filters_and_limit():
    assert [e.qid for e in load_lme(LME, question_types=["single-session-user"])] == ["e47becba", "c3d4e5f6_abs"]
    assert [e.qid for e in load_lme(LME, question_types="single-session-user", limit=1)] == ["e47becba"]
    assert [e.qid for e in load_lme(LME, limit=3)] == ["e47becba", "6a1eabeb", "c3d4e5f6_abs"]
    with pytest.raises(ValueError, match="unknown LongMemEval question_type"):
        load_lme(LME, question_types=["single-session"])
    with pytest.raises(ValueError, match="unknown LongMemEval unit 'turn'"):
        load_lme(LME, unit="turn")


def test_split_rounds():
    turns = [{"role": "user"}, {"role": "user"}, {"role": "assistant"}, {"role": "assistant"}]
    assert split_rounds(turns) == [[turns[0]], [turns[1], turns[2], turns[3]]]
    assert split_rounds([]) == []


def _broken(tmp_path, mutate):
    records = json.loads(LME.read_text())
    mutate(records)
    p = tmp_path / "lme.json"
    p.write_text(json.dumps(records))
    return p


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r[1].pop("haystack_sessions"), "record 1 (question_id=6a1eabeb): missing field 'haystack_sessions'"),
    (lambda r: r[0]["haystack_dates"].pop(),
     "record 0 (question_id=e47becba): fields 'haystack_session_ids', 'haystack_dates', 'haystack_sessions' "
     "differ in length (3, 2, 3)"),
    (lambda r: r[3]["haystack_sessions"][1][2].pop("content"),
     "record 3 (question_id=gpt4_0f1e2d3c): field 'haystack_sessions'[1][2]: missing or non-string field 'content'"),
    (lambda r: r[2].__setitem__("answer", ["x"]),
     "record 2 (question_id=c3d4e5f6_abs): field 'answer' must be str or int or float, got list"),
])
def test_malformed_records(tmp_path, mutate, message):
    p = _broken(tmp_path, mutate)
    with pytest.raises(ValueError) as info:
        load_lme(p)
    assert str(info.value) == f"{p} {message}"
