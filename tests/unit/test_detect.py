"""Detection objectives against hand computations and pytrec_eval; detection files round-trip."""
import json
import math

import pytest
import pytrec_eval
import torch

from qrexp.heads import sets as H
from qrexp.heads.files import read_detection, write_detection
from qrexp.heads.objectives import (OBJECTIVES, detect, mean_over_examples, ndcg10, qrscore, rank_heads, recall1,
                                    relevance_of)
from qrexp.types import Doc, Example, format_head


def test_registry_names():
    assert {"qrscore", "ndcg10", "recall1"} <= set(OBJECTIVES.names())
    with pytest.raises(KeyError, match="did you mean 'qrscore'"):
        OBJECTIVES.get("qrscor")


def test_qrscore_by_hand():
    # example 1: 3 docs, L=1, H=2; gold = docs 0 and 2
    s1 = torch.tensor([[[1.0, 2.0]], [[5.0, -1.0]], [[0.5, 4.0]]])
    g1 = torch.tensor([True, False, True])
    # example 2: 2 docs; gold = doc 1
    s2 = torch.tensor([[[3.0, 0.0]], [[-2.0, 6.0]]])
    g2 = torch.tensor([False, True])
    # per example: head0 = 1+0.5 = 1.5 and -2; head1 = 2+4 = 6 and 6 -> means -0.25, 6
    out = qrscore([s1, s2], [g1, g2])
    assert out.shape == (1, 2) and out.dtype == torch.float32
    assert out.tolist() == [[-0.25, 6.0]]
    # graded labels count as gold when > 0, unweighted (Eq. 3 is a plain sum over gold docs)
    assert qrscore([s1], [torch.tensor([2, 0, 1])]).tolist() == [[1.5, 6.0]]


def test_a_new_objective_is_one_function_over_mean_over_examples():
    """The module docstring's recipe: a per-example [D, L*H] -> [L*H] function, averaged by
    mean_over_examples; here "best gold minus best non-gold" checked by hand."""
    s1 = torch.tensor([[[1.0, 2.0]], [[5.0, -1.0]], [[0.5, 4.0]]])
    s2 = torch.tensor([[[3.0, 0.0]], [[-2.0, 6.0]]])
    g1, g2 = torch.tensor([True, False, True]), torch.tensor([False, True])

    def margin(s, r):
        gold, other = s[r > 0], s[r == 0]
        return gold.max(0).values - other.max(0).values
    out = mean_over_examples([s1, s2], [g1, g2], margin)
    # head0: (1-5) and (-2-3) -> mean -4.5; head1: (4-(-1)) and (6-0) -> mean 5.5
    assert out.shape == (1, 2) and out.dtype == torch.float32 and out.tolist() == [[-4.5, 5.5]]
    with pytest.raises(ValueError, match="relevance runs out at example 1"):
        mean_over_examples([s1, s2], [g1], margin)


def _planted(n=20, d=12, layers=3, heads=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scores, gold = [], []
    for _ in range(n):
        s = torch.randn(d, layers, heads, generator=gen)
        g = torch.zeros(d, dtype=torch.bool)
        g[torch.randperm(d, generator=gen)[:2]] = True
        s[:, 1, 2] = torch.rand(d, generator=gen)  # in [0, 1) for non-gold docs
        s[g, 1, 2] = 5.0 + torch.rand(int(g.sum()), generator=gen)  # gold docs score highest
        scores.append(s)
        gold.append(g)
    return scores, gold


@pytest.mark.parametrize("objective", ["qrscore", "ndcg10", "recall1"])
def test_planted_head_ranked_first(objective):
    scores, gold = _planted()
    out = detect(objective, iter(scores), (g for g in gold))  # iterators are enough
    assert rank_heads(out)[0][0] == (1, 2)
    if objective != "qrscore":
        assert out[1, 2].item() == pytest.approx(1.0)
        assert out.flatten().topk(2).values[1] < 1.0


def _pytrec_ndcg(scores, rels, head):
    qrels = {f"q{i}": {f"d{j}": int(r) for j, r in enumerate(rel.tolist())} for i, rel in enumerate(rels)}
    run = {f"q{i}": {f"d{j}": float(v) for j, v in enumerate(s[:, head[0], head[1]].tolist())}
           for i, s in enumerate(scores)}
    per_q = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    assert len(per_q) == len(rels)
    return sum(v["ndcg_cut_10"] for v in per_q.values()) / len(per_q)


@pytest.mark.parametrize("graded", [False, True])
def test_ndcg10_matches_pytrec_eval_per_head(graded):
    gen = torch.Generator().manual_seed(3 + graded)
    scores, rels = [], []
    for i, d in enumerate([30, 7, 25, 12, 40, 10]):  # includes fewer than 10 docs
        scores.append(torch.randn(d, 2, 3, generator=gen, dtype=torch.float64).float())
        if graded:
            rel = torch.randint(0, 4, (d,), generator=gen) * (torch.rand(d, generator=gen) < 0.3)
        else:
            rel = torch.rand(d, generator=gen) < 0.2
        rel[i % d] = 1 if graded else True  # at least one relevant doc
        rels.append(rel)
    rels.append(torch.zeros(9, dtype=torch.long) if graded else torch.zeros(9, dtype=torch.bool))
    scores.append(torch.randn(9, 2, 3, generator=gen))  # a query with no relevant doc scores 0
    assert all(len(set(s.flatten().tolist())) == s.numel() for s in scores)  # no ties
    out = ndcg10(scores, rels)
    for layer in range(2):
        for head in range(3):
            assert out[layer, head].item() == pytest.approx(_pytrec_ndcg(scores, rels, (layer, head)), abs=1e-6)


def test_ndcg_and_recall1_ties_go_to_earlier_docs():
    s = torch.ones(3, 1, 1)  # all docs tie: ranking = example order
    rel = torch.tensor([False, True, False])
    assert ndcg10([s], [rel]).item() == pytest.approx(1 / math.log2(3))
    assert recall1([s], [rel]).item() == 0.0
    assert recall1([s], [torch.tensor([True, False, False])]).item() == 1.0


def test_recall1_by_hand():
    s1 = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]]])  # head0 picks doc0, head1 picks doc1
    s2 = torch.tensor([[[0.3, 0.7]], [[0.4, 0.6]]])  # head0 picks doc1, head1 picks doc0
    g1, g2 = torch.tensor([True, False]), torch.tensor([True, False])
    assert recall1([s1, s2], [g1, g2]).tolist() == [[0.5, 0.5]]


def test_bad_inputs_are_clear_errors():
    s = torch.zeros(3, 2, 2)
    with pytest.raises(ValueError, match="example 1: relevance shape \\(2,\\) does not match 3"):
        qrscore([s, s], [torch.ones(3, dtype=torch.bool), torch.ones(2, dtype=torch.bool)])
    with pytest.raises(ValueError, match="example 1: DocScores heads \\(2, 3\\)"):
        qrscore([s, torch.zeros(3, 2, 3)], [torch.ones(3, dtype=torch.bool)] * 2)
    with pytest.raises(ValueError, match="relevance runs out at example 1"):
        qrscore([s, s], [torch.ones(3, dtype=torch.bool)])
    with pytest.raises(ValueError, match="more relevance labels"):
        qrscore([s], [torch.ones(3, dtype=torch.bool)] * 2)
    with pytest.raises(ValueError, match="must be bool or int"):
        ndcg10([s], [torch.ones(3)])
    with pytest.raises(ValueError, match="example 0: no documents"):
        recall1([torch.zeros(0, 2, 2)], [torch.zeros(0, dtype=torch.bool)])
    with pytest.raises(ValueError, match="no examples"):
        recall1([], [])
    with pytest.raises(ValueError, match="example 0: DocScores contain NaN"):
        qrscore([torch.full((3, 2, 2), float("nan"))], [torch.ones(3, dtype=torch.bool)])


def test_relevance_of_example():
    ex = Example("q1", "who?", (Doc("a", "x"), Doc("b", "y"), Doc("c", "z")), gold={"c"})
    assert relevance_of(ex).tolist() == [False, False, True]
    assert relevance_of(ex, {"q1": {"a": 2, "c": 1}}).tolist() == [2, 0, 1]


def test_detection_files_round_trip(tmp_path):
    from qrexp.heads.files import round_scores
    scores = round_scores(torch.randn(4, 5, generator=torch.Generator().manual_seed(1)))  # as written
    scores[2, 3] = scores[0, 1]  # a tie: order by (layer, head)
    ranked = rank_heads(scores)
    ours, paper = write_detection(tmp_path / "det" / "llama_nq.json", ranked,
                                  {"git_sha": "abc", "seed": 42}, objective="ndcg10",
                                  model="org/model", n_examples=128, k=3)
    assert ours.name == "llama_nq.json" and paper.name == "llama_nq.paper.json"
    rec = json.loads(ours.read_text())
    assert rec["objective"] == "ndcg10" and rec["n_examples"] == 128 and rec["k"] == 3
    assert rec["heads"] == [format_head(h) for h, _ in ranked[:3]]
    assert rec["provenance"] == {"git_sha": "abc", "seed": 42}
    assert json.loads(paper.read_text())[0] == [format_head(ranked[0][0]), ranked[0][1]]
    for path in (ours, paper):
        back_ranked, back_scores = read_detection(path)
        assert back_ranked == ranked
        assert torch.equal(back_scores, scores)
    assert [h for h, _ in ranked].index((0, 1)) + 1 == [h for h, _ in ranked].index((2, 3))
    assert H.detected(ours).heads == tuple(h for h, _ in ranked[:3])
    assert H.detected(paper, k=5).heads == tuple(h for h, _ in ranked[:5])
    assert not list((tmp_path / "det").glob("*.tmp"))


def test_detection_file_errors(tmp_path):
    bad = tmp_path / "bad.paper.json"
    bad.write_text(json.dumps([["1-2", 0.5], ["1_3", 0.4]]))
    with pytest.raises(ValueError, match=r"bad.paper.json entry 1: bad head token '1_3'"):
        read_detection(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.paper.json: invalid JSON"):
        read_detection(bad)
    partial = rank_heads(torch.zeros(2, 2))[:3]
    with pytest.raises(ValueError, match="each of the 2x2 heads once"):
        write_detection(tmp_path / "x.json", partial, {}, objective="qrscore", model="m",
                        n_examples=1, k=1)
