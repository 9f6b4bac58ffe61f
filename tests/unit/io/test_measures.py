"""The one metric vocabulary: ir_measures-style names, trec_eval and earlier qrexp names mapped."""
import pytest

from qrexp import measures as M


@pytest.mark.parametrize("given, canonical", [
    ("nDCG@10", "nDCG@10"), ("ndcg@10", "nDCG@10"), ("ndcg_cut_10", "nDCG@10"), ("ndcg_cut.10", "nDCG@10"),
    ("recall_100", "R@100"), ("recall.5", "R@5"), ("R@5", "R@5"), ("recall@5", "R@5"),
    ("P_5", "P@5"), ("p@5", "P@5"), ("map", "AP"), ("AP", "AP"), ("map_cut_10", "AP@10"),
    ("recip_rank", "RR"), ("RR", "RR"), ("success_5", "Success@5"), ("recall_any@5", "Success@5"),
    ("recall_all@3", "R_all@3"), ("R_all@3", "R_all@3"), ("Rprec", "Rprec"), ("bpref", "Bpref"),
    ("accuracy@5", "Acc@5"), ("accuracy", "Acc"), ("pair_accuracy@3", "PairAcc@3"), ("ndcg", "nDCG"),
])
def test_names_map_to_one_canonical_name(given, canonical):
    assert M.normalise(given) == canonical


def test_trec_names_round_trip_and_expand():
    assert M.normalise_all(["ndcg_cut.5,10", "nDCG@10", "recall_100"]) == ["nDCG@5", "nDCG@10", "R@100"]
    assert M.trec_names(["nDCG@10", "R@100", "AP", "RR", "P@5"]) == {
        "ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "map": "AP", "recip_rank": "RR", "P_5": "P@5"}
    with pytest.raises(ValueError, match="names 2 measures"):
        M.parse("ndcg_cut.5,10")


def test_unknown_and_malformed_names_fail_with_a_hint():
    with pytest.raises(ValueError, match=r"unknown measure 'ndgc@10'; did you mean nDCG@10\?"):
        M.normalise("ndgc@10")
    with pytest.raises(ValueError, match="R needs a cut-off"):
        M.normalise("R")
    with pytest.raises(ValueError, match="RR takes no cut-off"):
        M.normalise("RR@10")
    with pytest.raises(ValueError, match="not computed by trec_eval"):
        M.trec_names(["Acc@5"])


def test_metric_dicts_keep_other_fields_and_refuse_conflicts():
    got = M.normalise_keys({"recall@5": 0.5, "accuracy@5": 0.25, "parse_failures@5": 2, "top_heads": "1-2"})
    assert got == {"R@5": 0.5, "Acc@5": 0.25, "parse_failures@5": 2, "top_heads": "1-2"}
    assert M.normalise_keys({"recall_5": 0.5, "R@5": 0.5}) == {"R@5": 0.5}
    with pytest.raises(ValueError, match="both name R@5"):
        M.normalise_keys({"recall_5": 0.5, "recall@5": 0.4})


def test_column_order_follows_the_vocabulary():
    names = ["R@10", "Acc@5", "nDCG@10", "R@5", "n_abstention"]
    assert sorted(names, key=M.sort_key) == ["nDCG@10", "R@5", "R@10", "Acc@5", "n_abstention"]
