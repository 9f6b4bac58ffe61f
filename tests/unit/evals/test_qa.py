"""Long-context QA: unit selection and ordering, LongMemEval prompts and judging, all checked against
hand-written expectations (fixtures tests/data/lme_tiny.json, clipper/). CLIPPER: test_qa_clipper.py."""
from pathlib import Path

import pytest

from qrexp.evals.llm import Generator
from qrexp.evals.qa import evaluate_lme, lme_generate, lme_judge_prompt, parse_yes_no
from qrexp.evals.qa_lme import lme_answer_prompt, unit_turns
from qrexp.evals.qa_prompts import LME_ABSTENTION_TEMPLATE, LME_JUDGE_TEMPLATES
from qrexp.evals.qa_units import select_units
from qrexp.data.clipper import load_clipper
from qrexp.data.lme import load_lme
from qrexp.types import Doc, Example

DATA = Path(__file__).parents[2] / "data"


@pytest.fixture(scope="module")
def lme():
    return {ex.qid: ex for ex in load_lme(DATA / "lme_tiny.json")}


@pytest.fixture(scope="module")
def clipper():
    return load_clipper(DATA / "clipper" / "rows.jsonl", DATA / "clipper" / "books")


class Scripted(Generator):
    """Test double for an LLM: answers each prompt with reply(prompt text) and records the calls."""

    def __init__(self, reply):
        self.reply, self.calls = reply, []

    def generate(self, prompts, max_new_tokens):
        self.calls.append((list(prompts), max_new_tokens))
        return [self.reply(p[-1]["content"] if isinstance(p, list) else p) for p in prompts]


# ---------------------------------------------------------------- selection

def test_date_order_restored(lme):
    ex = lme["gpt4_0f1e2d3c"]     # haystack lists the Feb 15 session before the Feb 8 one
    ranking = {"answer_0f1e2d3c_2_r1": 0.9, "answer_0f1e2d3c_1_r2": 0.5, "answer_0f1e2d3c_1_r1": 0.1}
    assert select_units(ex, ranking, 2) == ["answer_0f1e2d3c_1_r2", "answer_0f1e2d3c_2_r1"]
    assert select_units(ex, ranking, 2, order="rank") == ["answer_0f1e2d3c_2_r1", "answer_0f1e2d3c_1_r2"]
    assert select_units(ex, ranking, None) == ["answer_0f1e2d3c_1_r1", "answer_0f1e2d3c_1_r2",
                                               "answer_0f1e2d3c_2_r1"]
    assert select_units(ex, None, None) == select_units(ex, ranking, 10)
    with pytest.raises(KeyError, match="gpt4_0f1e2d3c: ranking names unknown unit id"):
        select_units(ex, {"nope": 1.0}, 1)
    with pytest.raises(ValueError, match="unknown unit order"):
        select_units(ex, ranking, 1, order="time")


def test_chapter_order_is_numeric(clipper):
    ex = clipper[0]
    ranking = {"ch10": 3.0, "ch2": 2.5, "ch7": 2.0, "ch1": 1.0, "ch3": 2.0}
    assert select_units(ex, ranking, 4, order="chapter") == ["ch2", "ch3", "ch7", "ch10"]   # ch3 ties ch7: id order
    with pytest.raises(ValueError, match="chapter order needs ids"):
        select_units(Example("q", "x", [Doc("p1", "a")]), {"p1": 1.0}, 1, order="chapter")


# ---------------------------------------------------------------- LongMemEval

def test_lme_answer_prompt_by_hand(lme):
    ex = lme["gpt4_0f1e2d3c"]
    (msg,) = lme_answer_prompt(ex, ["answer_0f1e2d3c_2_r1", "answer_0f1e2d3c_1_r2"])
    assert msg["role"] == "user"
    assert msg["content"] == (
        "I will give you several history chats between you and a user. Please answer the question based on the "
        "relevant chat history.\n\n\nHistory Chats:\n\n"
        "\n### Session 1:\nSession Date: 2023/02/08 (Wed) 09:00\nSession Content:\n\n"
        '[{"role": "user", "content": "Just to floss more."}, {"role": "assistant", "content": "Good advice; '
        'flossing daily helps prevent gum disease."}]\n'
        "\n### Session 2:\nSession Date: 2023/02/15 (Wed) 16:20\nSession Content:\n\n"
        '[{"role": "user", "content": "I got a haircut today and I love it."}, {"role": "assistant", "content": '
        '"That\'s great! You got your haircut on February 15, a nice mid-month refresh."}]\n'
        "\n\nCurrent Date: 2023/03/01 (Wed) 10:00\n"
        "Question: How many days passed between my dentist appointment and my haircut?\nAnswer:")


def test_rounds_of_one_session_share_a_block(lme):
    ex = lme["gpt4_0f1e2d3c"]
    text = lme_answer_prompt(ex, ex.doc_ids)[0]["content"]
    assert text.count("### Session") == 2
    assert ('"content": "I hope it went well. Did they give you any advice?"}, {"role": "user", "content": '
            '"Just to floss more."}') in text


def test_unit_turns_multiline_and_stored_turns():
    units = {"s_r1": {"session_id": "s", "session_index": 0, "date": "d", "round": 1}}
    ex = Example("q", "?", [Doc("s_r1", "user: line one\nline two\nassistant: ok")], meta={"units": units})
    assert unit_turns(ex, "s_r1") == [{"role": "user", "content": "line one\nline two"},
                                      {"role": "assistant", "content": "ok"}]
    stored = {"s_r1": {**units["s_r1"], "turns": [{"role": "user", "content": "x\nassistant: y", "has_answer": True}]}}
    ex2 = Example("q", "?", [Doc("s_r1", "ignored")], meta={"units": stored})
    assert unit_turns(ex2, "s_r1") == [{"role": "user", "content": "x\nassistant: y"}]


def test_judge_prompt_per_question_type():
    def p(qtype, abstention=False):
        return lme_judge_prompt(qtype, "Q?", "A", "R", abstention)
    default = p("single-session-user")
    assert default == (
        "I will give you a question, a correct answer, and a response from a model. Please answer yes if the "
        "response contains the correct answer. Otherwise, answer no. If the response is equivalent to the correct "
        "answer or contains all the intermediate steps to get the correct answer, you should also answer yes. If "
        "the response only contains a subset of the information required by the answer, answer no. \n\n"
        "Question: Q?\n\nCorrect Answer: A\n\nModel Response: R\n\nIs the model response correct? Answer yes or "
        "no only.")
    assert p("single-session-assistant") == p("multi-session") == default
    assert "do not penalize off-by-one errors" in p("temporal-reasoning") and "off-by-one" not in default
    assert p("temporal-reasoning").endswith("the model's response is still correct. \n\nQuestion: Q?\n\nCorrect "
                                            "Answer: A\n\nModel Response: R\n\nIs the model response correct? Answer "
                                            "yes or no only.")
    assert "as long as the updated answer is the required answer.\n\nQuestion: Q?" in p("knowledge-update")
    preference = p("single-session-preference")
    assert "\n\nRubric: A\n\n" in preference and "Correct Answer" not in preference
    for qtype in LME_JUDGE_TEMPLATES:
        assert p(qtype, abstention=True) == LME_ABSTENTION_TEMPLATE.format("Q?", "A", "R")
    assert "\n\nExplanation: A\n\n" in p("knowledge-update", True) and "unanswerable" in p("multi-session", True)
    assert len({p(t) for t in LME_JUDGE_TEMPLATES}) == 4
    with pytest.raises(ValueError, match="no judge prompt for question_type 'single-session'"):
        p("single-session")


@pytest.mark.parametrize("reply, label", [("Yes", True), ("yes.", True), (" YES, it is", True), ("No", False),
                                          ("no", False), ("", False), ("The answer is correct", False)])
def test_parse_yes_no(reply, label):
    assert parse_yes_no(reply) is label


def test_evaluate_lme_by_hand(lme):
    examples = list(lme.values())       # types: ssu, knowledge-update, ssu (abstention), temporal-reasoning
    responses = {"e47becba": "Business Administration", "6a1eabeb": "three bikes",
                 "c3d4e5f6_abs": "You never told me.", "gpt4_0f1e2d3c": "7 days"}
    judge = Scripted(lambda text: "No." if "three bikes" in text else "Yes")
    rows, metrics = evaluate_lme(examples, responses, judge)
    (prompts, max_new), = judge.calls
    assert max_new == 10
    assert [r["label"] for r in rows] == [True, False, True, True]
    assert prompts[2][0]["content"].startswith("I will give you an unanswerable question")
    assert "do not penalize off-by-one" in prompts[3][0]["content"]
    assert "Correct Answer: 4\n" in prompts[1][0]["content"] and "updated answer" in prompts[1][0]["content"]
    assert rows[2]["abstention"] is True and rows[1]["judge_output"] == "No."
    assert metrics["accuracy"] == 0.75 and metrics["n"] == 4
    assert metrics["per_type"] == {"knowledge-update": {"accuracy": 0.0, "n": 1},
                                   "single-session-user": {"accuracy": 1.0, "n": 2},
                                   "temporal-reasoning": {"accuracy": 1.0, "n": 1}}
    assert metrics["task_averaged_accuracy"] == pytest.approx(2 / 3)
    assert metrics["abstention_accuracy"] == 1.0 and metrics["n_abstention"] == 1
    rows2, _ = evaluate_lme(examples, [responses[q] for q in lme], judge)       # a list in example order
    assert [r["hypothesis"] for r in rows2] == list(responses.values())
    with pytest.raises(KeyError, match="no response for question"):
        evaluate_lme(examples, {"e47becba": "x"}, judge)


def test_lme_generate_full_context_and_top_k(lme):
    ex = lme["gpt4_0f1e2d3c"]
    gen = Scripted(lambda text: f"{text.count('### Session')} sessions")
    assert lme_generate([ex], None, None, gen) == {"gpt4_0f1e2d3c": "2 sessions"}
    assert gen.calls[0][1] == 500
    run = {"gpt4_0f1e2d3c": {"answer_0f1e2d3c_1_r1": 2.0, "answer_0f1e2d3c_2_r1": 1.0, "answer_0f1e2d3c_1_r2": 3.0}}
    assert lme_generate([ex], run, 2, gen) == {"gpt4_0f1e2d3c": "1 sessions"}
    with pytest.raises(KeyError, match="run has no ranking for example gpt4_0f1e2d3c"):
        lme_generate([ex], {}, 2, gen)
