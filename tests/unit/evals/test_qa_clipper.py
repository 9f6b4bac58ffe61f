"""CLIPPER claim verification as the paper scores it (QRHead exp_scripts): each claim its own query,
the first <answer> tag, pair accuracy and answer-format counts, all against hand-computed values."""

import pytest

from qrexp.evals.baselines import BM25Ranker
from qrexp.evals.metrics import retrieval_metrics
from qrexp.evals.qa_clipper import (claim_examples, clipper_prompt, pair_accuracy, pair_rows, parse_answer_tag,
                              read_verdict, verification_jobs)
from qrexp.types import Doc, Example

from clipper_books import CHAPTERS, PAIRS, Reader, book_pairs  # noqa: F401

# ---------------------------------------------------------------- answer parsing (reference rule)

@pytest.mark.parametrize("text, value, n_tags", [
    ("<explanation>...</explanation>\n<answer>TRUE</answer>", "TRUE", 1),
    ("<answer>\nFalse \n</answer>", "FALSE", 1),
    ("<answer>TRUE</answer> on reflection <answer>FALSE</answer>", "TRUE", 2),     # the FIRST tag wins
    ("<answer>maybe</answer><answer>FALSE</answer>", None, 2),                     # first tag is not a verdict
    ("<ANSWER>TRUE</ANSWER>", None, 0),         # the reference's tag pattern is case-sensitive
    ("The statement is TRUE.", None, 0),
    ("<answer>TRUE.</answer>", None, 1),        # reference compares the stripped content == "true"
    ("<answer>TRUE", None, 0),
    ("", None, 0),
])
def test_read_verdict_first_tag(text, value, n_tags):
    v = read_verdict(text)
    assert (v.value, v.n_tags) == (value, n_tags)
    assert parse_answer_tag(text) == value


def test_pair_accuracy_and_answer_counts_by_hand():
    rows = [{"true_pred": "TRUE", "false_pred": "FALSE", "true_tags": 1, "false_tags": 1},   # correct
            {"true_pred": "TRUE", "false_pred": "TRUE", "true_tags": 2, "false_tags": 1},    # false accepted
            {"true_pred": None, "false_pred": "FALSE", "true_tags": 0, "false_tags": 3},     # no tag on true
            {"true_pred": None, "false_pred": None, "true_tags": 1, "false_tags": 0}]        # 'maybe' + no tag
    assert pair_accuracy(rows) == {"n": 4, "pair_accuracy": 0.25, "true_accuracy": 0.5, "false_accuracy": 0.5,
                                   "no_answer_tag": 2, "several_answer_tags": 2, "other_answer": 1,
                                   "pairs_missing_answer": 2}
    with pytest.raises(ValueError, match="no rows"):
        pair_accuracy([])


# ---------------------------------------------------------------- each claim its own query

def test_claim_examples_split_each_pair():
    claims = claim_examples(book_pairs())
    assert [c.qid for c in claims] == ["b1-0:true", "b1-0:false", "b1-1:true", "b1-1:false"]
    assert [c.query for c in claims[:2]] == list(PAIRS[0][:2])
    assert [c.answer for c in claims[:2]] == ["TRUE", "FALSE"]
    assert claims[1].gold == {"ch1"} and claims[1].meta["pair"] == "b1-0" and claims[1].meta["claim"] == "false_claim"
    with pytest.raises(ValueError, match="b1-0: meta lacks the 'false_claim' text"):
        claim_examples([Example("b1-0", "x", [], meta={"true_claim": "x"})])


def test_claims_retrieve_different_chapters_recall_and_pair_accuracy_by_hand():
    pairs, claims = book_pairs(), claim_examples(book_pairs())
    run = BM25Ranker().rank(claims)
    top1 = {qid: max(scores, key=scores.get) for qid, scores in run.items()}
    assert top1 == {"b1-0:true": "ch1", "b1-0:false": "ch3", "b1-1:true": "ch2", "b1-1:false": "ch3"}
    # recall per claim (eval_retrieval.py: |top-k ∩ gold| / |gold|, mean over claims): 1, 0, 1, 0
    per_claim, mean = retrieval_metrics(run, {c.qid: c.gold for c in claims}, ks=(1,))
    assert mean["R@1"] == 0.5 and per_claim["b1-0:false"]["R@1"] == 0.0
    reader = Reader()
    jobs = verification_jobs(claims, run, 1)
    assert [(j["qid"], j["claim"], j["chapters"]) for j in jobs] == [
        ("b1-0:true", "true_claim", ["ch1"]), ("b1-0:false", "false_claim", ["ch3"]),
        ("b1-1:true", "true_claim", ["ch2"]), ("b1-1:false", "false_claim", ["ch3"])]
    rows, pair_level = pair_rows(jobs, reader.generate([j["prompt"] for j in jobs], 50))
    # pair 0: true read on ch1 (all words there) TRUE, false read on ch3 ("sailed", "with" missing) FALSE
    # pair 1: true on ch2 TRUE, false on ch3 (all words there) TRUE -> the pair is wrong
    assert [(r["qid"], r["true_pred"], r["false_pred"], r["correct"]) for r in pair_level] == [
        ("b1-0", "TRUE", "FALSE", True), ("b1-1", "TRUE", "TRUE", False)]
    assert pair_accuracy(pair_level)["pair_accuracy"] == 0.5
    assert rows[3] == {"qid": "b1-1:false", "false_pred": "TRUE", "false_tags": 1, "false_answer": "true",
                       "false_chapters": ["ch3"], "false_response": rows[3]["false_response"],
                       "pair_correct": False}
    assert reader.seen[1] == (PAIRS[0][1], CHAPTERS[2])


def test_per_pair_ablation_verifies_both_claims_on_one_ranking():
    pairs = book_pairs()
    run = BM25Ranker().rank(pairs)                   # one query per pair: the true claim
    _, mean = retrieval_metrics(run, {p.qid: p.gold for p in pairs}, ks=(1,))
    assert mean["R@1"] == 1.0
    jobs = verification_jobs(pairs, run, 1)
    assert [(j["qid"], j["claim"], j["chapters"]) for j in jobs] == [
        ("b1-0", "true_claim", ["ch1"]), ("b1-0", "false_claim", ["ch1"]),
        ("b1-1", "true_claim", ["ch2"]), ("b1-1", "false_claim", ["ch2"])]
    rows, pair_level = pair_rows(jobs, Reader().generate([j["prompt"] for j in jobs], 50))
    assert [r["correct"] for r in pair_level] == [True, True]      # the false claims never see chapter 3
    assert set(rows[0]) >= {"true_pred", "false_pred", "true_chapters", "false_chapters", "pair_correct"}


def test_clipper_prompt_by_hand():
    ex = Example("b-0", "Ann sails.", [Doc(f"ch{k}", f"Text of chapter {k}.") for k in (1, 2, 10)], {"ch10"},
                 "TRUE", {"true_claim": "Ann sails.", "false_claim": "Ann flies."})
    (msg,) = clipper_prompt(ex, ["ch10", "ch1"], "false_claim")
    assert msg["content"] == (
        "You are provided with a context and a statement. Your task is to carefully read the context and then "
        "determine whether the statement is true or false.  \n\nAnswer TRUE if the statement is true in its "
        "entirety based on the context provided.\nAnswer FALSE if any part of the statement is false based on the "
        "context provided.\n\n<context>Text of chapter 1.\n\n\nText of chapter 10.</context>\n\n\n<statement>Ann "
        "flies.</statement>\n\n<question>Based on the context provided, is the above statement TRUE or FALSE?"
        "</question>\n\nFirst provide an explanation of your decision-making process, and then provide your final "
        "answer. Use the following format:\n\n<explanation>YOUR EXPLANATION</explanation>\n<answer>YOUR ANSWER"
        "</answer>")
    with pytest.raises(ValueError, match="unknown claim"):
        clipper_prompt(ex, ["ch1"], "claim")
    with pytest.raises(KeyError, match="unknown chapter id"):
        clipper_prompt(ex, ["ch3"], "true_claim")
    full = verification_jobs([ex], None, None)       # full context: every chapter, in chapter order
    assert full[0]["chapters"] == ["ch1", "ch2", "ch10"]


def test_verify_claims_library_entry():
    from qrexp.evals.qa_clipper import verify_claims
    claims = claim_examples(book_pairs())
    reader = Reader()
    rows, pairs = verify_claims(claims, BM25Ranker().rank(claims), 1, reader)
    assert [p["correct"] for p in pairs] == [True, False] and len(rows) == 4
    _, full = verify_claims(book_pairs(), None, None, reader)        # every chapter for both claims:
    # the whole book holds every word of both false claims ("with" in ch2), so the reader accepts them
    assert [(p["true_pred"], p["false_pred"]) for p in full] == [("TRUE", "TRUE"), ("TRUE", "TRUE")]
    assert len(reader.seen[-1][1].split("\n\n\n")) == 4
