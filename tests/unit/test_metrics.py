"""Metrics against hand computations (feasibility notes, section 8)."""
import math

import pytest

from qrexp.types import rank_by_score
from qrexp.evals.metrics import (evaluate_run, integer_qrels, measure_names, recall_at_k,
                           retrieval_metrics)

log2 = math.log2

QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0, "d4": 1},
    "q2": {"e1": 1},
    "q3": {"f1": 1, "f2": 1},
}
RUN = {
    # q1 ranks: d1, d3 (rel 0), d2, n1 (unjudged), d4
    "q1": {"d1": 5.0, "d3": 4.0, "d2": 3.0, "n1": 2.0, "d4": 1.0},
    # q2: the relevant doc at rank 2
    "q2": {"x": 0.9, "e1": 0.8, "y": 0.1},
    # q3: f1 at rank 6, f2 never retrieved
    "q3": {"g1": 6.0, "g2": 5.0, "g3": 4.0, "g4": 3.0, "g5": 2.0, "f1": 1.0},
}
MEASURES = ("ndcg_cut_10", "ndcg_cut_5", "recall_5", "recall_100")


def test_hand_computed_values():
    per_query, mean = evaluate_run(RUN, QRELS, MEASURES)
    q1 = (2 + 1 / log2(4) + 1 / log2(6)) / (2 + 1 / log2(3) + 1 / log2(4))
    q2 = 1 / log2(3)
    q3 = (1 / log2(7)) / (1 + 1 / log2(3))
    assert per_query["q1"]["nDCG@10"] == pytest.approx(q1, abs=1e-9)
    assert per_query["q2"]["nDCG@10"] == pytest.approx(q2, abs=1e-9)
    assert per_query["q3"]["nDCG@10"] == pytest.approx(q3, abs=1e-9)
    # the values quoted in the notes
    quoted = [round(per_query[q]["nDCG@10"], 6) for q in ("q1", "q2", "q3")]
    assert quoted == [0.922043, 0.630930, 0.218407]
    assert [per_query[q]["R@5"] for q in ("q1", "q2", "q3")] == [1.0, 1.0, 0.0]
    assert per_query["q3"]["nDCG@5"] == 0.0
    assert per_query["q3"]["R@100"] == 0.5
    assert mean["nDCG@10"] == pytest.approx((q1 + q2 + q3) / 3, abs=1e-12)
    assert mean["R@5"] == pytest.approx(2 / 3)
    assert sorted(mean) == sorted(["nDCG@10", "nDCG@5", "R@5", "R@100"])


def test_missing_query_zero_versus_skip():
    run = {q: RUN[q] for q in ("q1", "q2")}
    run["q9"] = {"z": 1.0}  # not judged: ignored under both policies
    zero_pq, zero = evaluate_run(run, QRELS, ("ndcg_cut_10", "recall_5"), missing="zero")
    skip_pq, skip = evaluate_run(run, QRELS, ("ndcg_cut_10", "recall_5"), missing="skip")
    q1, q2 = zero_pq["q1"]["nDCG@10"], zero_pq["q2"]["nDCG@10"]
    assert zero_pq["q3"] == {"nDCG@10": 0.0, "R@5": 0.0}
    assert zero["nDCG@10"] == pytest.approx((q1 + q2) / 3)
    assert zero["R@5"] == pytest.approx(2 / 3)
    assert set(skip_pq) == {"q1", "q2"}
    assert skip["nDCG@10"] == pytest.approx((q1 + q2) / 2)
    assert skip["R@5"] == 1.0
    # an empty ranking is treated like a missing one
    _, empty = evaluate_run({**run, "q3": {}}, QRELS, ("ndcg_cut_10",))
    assert empty["nDCG@10"] == pytest.approx((q1 + q2) / 3)


def test_tie_break_is_doc_id_ascending():
    assert rank_by_score({"b": 1.0, "c": 2.0, "a": 1.0}) == ["c", "a", "b"]
    # pytrec_eval alone would rank "b" first on a tie (doc id descending); ours ranks "a" first
    per_query, _ = evaluate_run({"q": {"b": 1.0, "a": 1.0}}, {"q": {"a": 1}}, ("ndcg_cut_10",))
    assert per_query["q"]["nDCG@10"] == 1.0
    per_query, _ = evaluate_run({"q": {"b": 1.0, "a": 1.0}}, {"q": {"b": 1}}, ("ndcg_cut_10",))
    assert per_query["q"]["nDCG@10"] == pytest.approx(1 / log2(3))


def test_float_qrels_converted_or_rejected():
    assert integer_qrels({"q": {"d": 2.0, "e": 0}}) == {"q": {"d": 2, "e": 0}}
    per_query, _ = evaluate_run({"q": {"d": 1.0}}, {"q": {"d": 1.0}}, ("recall_5",))
    assert per_query["q"]["R@5"] == 1.0
    with pytest.raises(ValueError, match=r"query 'q', doc 'd': relevance 1.5 is not an integer"):
        evaluate_run({"q": {"d": 1.0}}, {"q": {"d": 1.5}})
    with pytest.raises(ValueError, match="not a number"):
        integer_qrels({"q": {"d": "1"}})


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown measure 'ndcg_at_10'"):
        evaluate_run(RUN, QRELS, ("ndcg_at_10",))
    with pytest.raises(ValueError, match="missing="):
        evaluate_run(RUN, QRELS, missing="drop")
    with pytest.raises(ValueError, match=r"query 'q', doc 'd': score is NaN"):
        evaluate_run({"q": {"d": float("nan")}}, {"q": {"d": 1}})
    assert measure_names(["ndcg_cut.5,10"]) == ["ndcg_cut_10", "ndcg_cut_5"]


def test_recall_at_k_by_hand():
    ranked = ["a", "b", "c", "d", "e"]
    assert recall_at_k(ranked, {"b", "e", "z"}, 2) == {"R": 1 / 3, "Success": 1.0, "R_all": 0.0}
    assert recall_at_k(ranked, {"b", "e"}, 5) == {"R": 1.0, "Success": 1.0, "R_all": 1.0}
    assert recall_at_k(ranked, {"d"}, 3) == {"R": 0.0, "Success": 0.0, "R_all": 0.0}
    assert recall_at_k(ranked, {"a"}, 50)["R_all"] == 1.0
    with pytest.raises(ValueError, match="empty"):
        recall_at_k(ranked, set(), 3)
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(ranked, {"a"}, 0)


def test_retrieval_metrics_per_query_and_mean():
    run = {
        "q1": {"r1": 0.9, "r2": 0.8, "r3": 0.7, "r4": 0.6},   # gold r2, r4
        "q2": {"s1": 0.5, "s2": 0.5, "s3": 0.1},             # tie: s1 before s2; gold s2
        "abs": {"t1": 1.0},                                  # empty gold: left out
    }
    gold = {"q1": {"r2", "r4"}, "q2": {"s2"}, "abs": set(), "q3": {"u1"}}
    per_query, mean = retrieval_metrics(run, gold, ks=(1, 3))
    assert set(per_query) == {"q1", "q2", "q3"}
    assert per_query["q1"] == {"R@1": 0.0, "Success@1": 0.0, "R_all@1": 0.0,
                               "R@3": 0.5, "Success@3": 1.0, "R_all@3": 0.0}
    assert per_query["q2"]["R@1"] == 0.0 and per_query["q2"]["R@3"] == 1.0
    assert per_query["q3"] == dict.fromkeys(per_query["q3"], 0.0)
    assert mean["R@3"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert mean["Success@3"] == pytest.approx(2 / 3)
    assert mean["R_all@3"] == pytest.approx(1 / 3)
    assert list(mean) == ["R@1", "Success@1", "R_all@1",
                          "R@3", "Success@3", "R_all@3"]


def test_canonical_and_trec_eval_names_give_the_same_values():
    """ir_measures-style input ("nDCG@10", "R@5") equals trec_eval input ("ndcg_cut_10", "recall_5")."""
    pq_trec, mean_trec = evaluate_run(RUN, QRELS, ("ndcg_cut_10", "recall.5", "P_5", "map", "recip_rank"))
    pq_ir, mean_ir = evaluate_run(RUN, QRELS, ("nDCG@10", "R@5", "P@5", "AP", "RR"))
    assert mean_trec == mean_ir and pq_trec == pq_ir
    assert set(mean_ir) == {"nDCG@10", "R@5", "P@5", "AP", "RR"}
    # q2: relevant doc at rank 2 -> RR 1/2, AP 1/2, P@5 1/5
    assert pq_ir["q2"]["RR"] == 0.5 and pq_ir["q2"]["AP"] == 0.5 and pq_ir["q2"]["P@5"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="R_all@5 is not computed by trec_eval"):
        evaluate_run(RUN, QRELS, ("R_all@5",))
