"""HeadSet parsing/formatting, head sources, masks, overlap and Spearman correlation."""
import json
import math

import pytest
import torch

from qrexp.heads import sets as H
from qrexp.heads.compare import overlap, spearman
from qrexp.heads.objectives import rank_heads
from qrexp.types import HeadSet

LME = "13-18,13-21,8-11,14-13,17-29,13-1,13-13,14-29,14-31,13-8,16-1,17-21,13-3,10-31,13-4,14-22"


def test_parse_format_round_trip():
    hs = HeadSet.parse(LME, name="lme", n_layers=32, n_heads=32)
    assert hs.heads[:3] == ((13, 18), (13, 21), (8, 11))
    assert hs.format() == LME
    assert HeadSet.parse(hs.format()).heads == hs.heads
    assert HeadSet.parse(" 1-2 , 3-4 ").heads == ((1, 2), (3, 4))


@pytest.mark.parametrize("text, bad", [("13_18", "13_18"), ("1-2,13-", "13-"), ("1-2,,3-4", ""),
                                      ("a-1", "a-1"), ("1-2-3", "1-2-3")])
def test_malformed_tokens_name_the_token(text, bad):
    with pytest.raises(ValueError, match="bad head token") as err:
        HeadSet.parse(text, name="x")
    assert repr(bad) in str(err.value)
    assert "\n" not in str(err.value)


def test_out_of_range_and_duplicates():
    with pytest.raises(ValueError, match=r"'99-0' out of range .*n_layers=32"):
        HeadSet.parse("1-1,99-0", n_layers=32, n_heads=32)
    with pytest.raises(ValueError, match=r"'3-40' out of range .*n_heads=32"):
        HeadSet.parse("3-40", n_layers=32, n_heads=32)
    with pytest.raises(ValueError, match="duplicate head '2-3'"):
        HeadSet.parse("2-3,4-5,2-3")
    HeadSet.parse("99-0")  # no bounds given: accepted


def test_published_sets_load():
    assert set(H.published_sets()) >= {("llama3.1-8b", "lme"), ("llama3.1-8b", "nq"), ("qwen2.5-7b", "nq")}
    lme = H.published("llama3.1-8b", "lme")
    assert len(lme) == 16 and lme.format() == LME and (lme.n_layers, lme.n_heads) == (32, 32)
    assert H.published("llama3.1-8b", "nq").heads[0] == (14, 22)
    qwen = H.published("qwen2.5-7b", "nq")
    assert len(qwen) == 16 and qwen.n_layers == 28 and qwen.heads[-1] == (20, 21)
    for path in H.PUBLISHED_DIR.glob("*.json"):
        rec = json.loads(path.read_text())
        assert rec["source"] == "arXiv 2506.09944 / QRHead repo" and "/" in rec["model"]


def test_published_errors(tmp_path):
    with pytest.raises(KeyError, match="did you mean llama3.1-8b_nq"):
        H.published("llama3.1-8b", "nqq")
    (tmp_path / "m_t.json").write_text(json.dumps({"heads": ["1-2", "x"], "n_layers": 4, "n_heads": 4}))
    with pytest.raises(ValueError, match=r"m_t.json field 'heads': bad head token 'x'"):
        H.published("m", "t", root=tmp_path)
    (tmp_path / "m_u.json").write_text(json.dumps({"heads": ["9-2"], "n_layers": 4, "n_heads": 4}))
    with pytest.raises(ValueError, match=r"m_u.json: .*'9-2' out of range"):
        H.published("m", "u", root=tmp_path)


def test_full_and_random():
    f = HeadSet.full(3, 4)
    assert len(f) == 12 and f.heads[0] == (0, 0) and f.heads[-1] == (2, 3)
    a, b = H.random(16, 7, 32, 32), H.random(16, 7, 32, 32)
    assert a == b and len(set(a.heads)) == 16
    assert H.random(16, 8, 32, 32).heads != a.heads
    assert all(0 <= l < 32 and 0 <= h < 32 for l, h in a)
    with pytest.raises(ValueError, match="k=13"):
        H.random(13, 0, 3, 4)


def test_top_k_and_ties():
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.9, 0.2, 0.5]])
    ranked = rank_heads(scores)
    assert [h for h, _ in ranked] == [(0, 1), (1, 0), (0, 2), (1, 2), (1, 1), (0, 0)]
    assert H.top_k(scores, 3).heads == ((0, 1), (1, 0), (0, 2))
    with pytest.raises(ValueError, match="NaN .* head 1-1"):
        rank_heads(torch.tensor([[0.0, 1.0], [2.0, float("nan")]]))


def test_mask_and_layers_needed():
    hs = HeadSet.parse("0-1,2-0")
    mask = H.head_mask(hs, 3, 2)
    assert mask.dtype == torch.bool and mask.tolist() == [[False, True], [False, False], [True, False]]
    assert H.layers_needed(hs) == 3
    assert H.layers_needed(HeadSet.parse("13-18,8-11")) == 14
    with pytest.raises(ValueError, match="2-0 outside a 2x2"):
        H.head_mask(hs, 2, 2)


def test_overlap():
    a = HeadSet.parse("1-1,1-2,1-3,1-4")
    b = HeadSet.parse("1-3,2-2,1-1,1-4")
    assert overlap(a, b) == 3
    assert overlap(a, b, k=2) == 0
    assert overlap(a, b, k=3) == 2  # {1-1,1-2,1-3} & {1-3,2-2,1-1}
    assert overlap(list(a.heads), tuple(b.heads), k=3) == 2      # plain (layer, head) sequences too


def test_spearman_by_hand():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert spearman(a, a * 10 + 3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    # ranks a: 1 2 3 4; b = [10, 30, 20, 40] ranks 1 3 2 4; d^2 sum = 2 -> 1 - 6*2/(4*15) = 0.8
    assert spearman(a, torch.tensor([[10.0, 30.0], [20.0, 40.0]])) == pytest.approx(0.8)
    # ties averaged: b = [1, 1, 2, 3] ranks 1.5 1.5 3 4 -> Pearson with 1 2 3 4
    rb = torch.tensor([1.5, 1.5, 3, 4], dtype=torch.float64)
    ra = torch.tensor([1.0, 2, 3, 4], dtype=torch.float64)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    expect = float((ra * rb).sum() / (ra.norm() * rb.norm()))
    assert spearman(a, torch.tensor([[1.0, 1.0], [2.0, 3.0]])) == pytest.approx(expect)
    assert math.isnan(spearman(a, torch.ones(2, 2)))  # constant input: undefined
    with pytest.raises(ValueError, match="spearman: head scores contain NaN"):
        spearman(a, torch.tensor([[1.0, float("nan")], [2.0, 3.0]]))


def test_heads_overlap_compares_detection_files(tmp_path):
    import torch
    from qrexp.heads.files import write_detection
    from qrexp.heads.objectives import rank_heads
    from qrexp.heads.compare import compare
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    b = a.clone()
    b[0, 0], b[2, 3] = 100.0, -1.0                      # the best head becomes the worst and back
    paths = []
    for name, s in (("a", a), ("b", b)):
        ours, _ = write_detection(tmp_path / name, rank_heads(s), {}, objective="qrscore", model="m",
                                  n_examples=1, k=2)
        paths.append(str(ours))
    (c,) = compare(paths, k=2)
    assert c.k == 2 and c.overlap == 1                   # top-2: {2-3, 2-2} vs {0-0, 2-2}
    assert c.spearman == pytest.approx(1 - 6 * (11**2 + 11**2) / (12 * (12**2 - 1)))   # by hand
    assert c.a.label == "m | a | qrscore (detected)"           # no provenance: the file name


def test_heads_overlap_reads_published_lists_and_labels_files(tmp_path, capsys):
    """Published lists (no 'scores') compare alike: overlap at k capped by the list, no Spearman."""
    import json
    import torch
    from qrexp.heads.files import write_detection
    from qrexp.heads.objectives import rank_heads
    from qrexp.heads.compare import compare, main
    scores = torch.arange(12, dtype=torch.float32).reshape(3, 4)          # best: 2-3, 2-2, 2-1, ...
    ours, paper = write_detection(tmp_path / "det", rank_heads(scores), {"detect": {"name": "nq"}},
                                  objective="ndcg10", model="m3x4", n_examples=4, k=3)
    pub = tmp_path / "m3x4_lme.json"
    pub.write_text(json.dumps({"model_key": "m3x4", "task": "lme", "objective_per_reference_code": "qrscore",
                               "n_layers": 3, "n_heads": 4, "k": 2, "heads": ["2-3", "0-0"]}))
    other = tmp_path / "big_nq.json"
    other.write_text(json.dumps({"model_key": "big", "task": "nq", "n_layers": 32, "n_heads": 32, "heads": ["1-1"]}))
    c_ours_paper, c_ours_pub, c_ours_other, *_ = compare([str(ours), str(paper), str(pub), str(other)], k=64)
    assert c_ours_paper.k == 12 and c_ours_paper.overlap == 12 and c_ours_paper.spearman == pytest.approx(1.0)
    assert c_ours_pub.k == 2 and c_ours_pub.overlap == 1 and c_ours_pub.spearman is None  # {2-3,2-2} & {2-3,0-0}
    assert c_ours_other.overlap is None and "different models" in c_ours_other.note
    assert c_ours_pub.a.label == "m3x4 | nq | ndcg10 (detected)"
    assert c_ours_pub.b.label == "m3x4 | lme | qrscore (published)"
    assert c_ours_paper.b.label == "m3x4 | nq | ndcg10 (detected, paper format)"
    main([str(ours), str(pub), "--k", "16"])
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("A vs B: top-2 overlap 1/2, Spearman –")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"heads": ["1-1"]}))
    with pytest.raises(ValueError, match=r"bad.json: neither a detection file .* published head list \(no 'n_layers'\)"):
        compare([str(ours), str(bad)], k=2)
