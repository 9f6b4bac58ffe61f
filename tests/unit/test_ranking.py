"""The one ranking rule (qrexp.types.rank_by_score), the one heads -> layer map, HeadSet.full, and the
one JSON writer (qrexp.io.files) with the data-record form qrexp.io.jsonio keeps."""
import itertools
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
import torch

from qrexp.heads.objectives import rank_heads
from qrexp.io.files import dumps_json, dumps_jsonl, write_json, write_jsonl
from qrexp.io import jsonio
from qrexp.io.trec import rank_scores
from qrexp.report.tables import config_label, filter_mask, find_column
from qrexp.runs.store import check_metrics_record
from qrexp.types import HeadSet, heads_by_layer, rank_by_score


# ------------------------------------------------------------------------------------- ranking
def test_rank_by_score_hand_checked_order():
    scores = {"d3": 0.5, "d10": 0.9, "d1": 0.5, "d2": -1.0, "d20": 0.9, "a": 0.5}
    # 0.9: "d10" < "d20" (string order); 0.5: "a" < "d1" < "d3"; then -1.0
    assert rank_by_score(scores) == ["d10", "d20", "a", "d1", "d3", "d2"]


def test_rank_by_score_ignores_insertion_order():
    items = [("b", 1.0), ("c", 2.0), ("a", 1.0), ("e", 0.0), ("d", 1.0)]
    expected = ["c", "a", "b", "d", "e"]
    for perm in itertools.permutations(items):
        assert rank_by_score(dict(perm)) == expected


def test_rank_by_score_equals_an_independent_lexsort():
    rng = random.Random(7)
    for _ in range(50):
        ids = rng.sample([f"doc{i}" for i in range(40)], 25)
        scores = {d: float(rng.choice([0.0, 0.25, 0.5, 1.0, -0.0])) for d in ids}
        keys = np.array(list(scores))
        vals = np.array([scores[k] for k in keys])
        order = np.lexsort((keys, -vals))                 # last key primary: score desc, then id asc
        assert rank_by_score(scores) == [str(k) for k in keys[order]]


def test_rank_by_score_heads_tie_in_layer_head_order_not_string_order():
    scores = {(10, 0): 1.0, (2, 0): 1.0, (2, 11): 1.0, (2, 3): 1.0, (0, 0): 2.0}
    # tuple order: (2, 0) < (2, 3) < (2, 11) < (10, 0); string order would put "(10, 0)" first
    assert rank_by_score(scores) == [(0, 0), (2, 0), (2, 3), (2, 11), (10, 0)]


def test_rank_by_score_nan_names_where_and_key():
    with pytest.raises(ValueError, match=r"^run: query 'q', doc 'x': score is NaN$"):
        rank_by_score({"a": 1.0, "x": math.nan}, "run: query 'q'", "doc")
    with pytest.raises(ValueError, match="score is NaN"):              # numpy NaN too
        rank_by_score({"a": np.float32("nan")})
    assert rank_by_score({}) == []


def test_rank_heads_matches_a_stable_torch_sort():
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        scores = (torch.randint(0, 4, (6, 5), generator=gen).to(dtype) / 4)   # many ties
        flat = scores.to(torch.float64).flatten()
        order = torch.sort(flat, descending=True, stable=True).indices.tolist()  # ties: flat index asc
        expected = [(divmod(i, 5), float(flat[i])) for i in order]
        assert rank_heads(scores) == expected


def test_rank_scores_keep_the_ranking_order():
    scores = {"b": 1.0, "a": 1.0, "c": 3.0}
    written = rank_scores(scores, "q")
    assert [d for d, _ in written] == ["c", "a", "b"]
    assert written[1][1] > written[2][1]                                  # ties made strictly decreasing


# ------------------------------------------------------------------------------ heads by layer
def test_heads_by_layer_groups_and_sorts():
    assert heads_by_layer([(3, 1), (0, 5), (3, 0), (0, 2)]) == {0: [2, 5], 3: [0, 1]}
    assert list(heads_by_layer([(5, 0), (1, 0)])) == [1, 5]
    assert heads_by_layer([]) == {}
    assert heads_by_layer(HeadSet.parse("13-18,8-11,13-2")) == {8: [11], 13: [2, 18]}


def test_headset_full_is_every_head_layer_major():
    full = HeadSet.full(2, 3)
    assert full.name == "full" and (full.n_layers, full.n_heads) == (2, 3)
    assert full.heads == ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2))
    assert heads_by_layer(full) == {0: [0, 1, 2], 1: [0, 1, 2]}
    with pytest.raises(ValueError, match="no heads"):
        HeadSet.full(0, 4)


# ------------------------------------------------------------------------------------ JSON forms
RECORD = {"z": 1, "a": [1.5, "é", None], "m": {"y": True, "b": (1, 2)}}


def test_dumps_json_forms_equal_json_dumps():
    assert dumps_json(RECORD) == json.dumps(json.loads(json.dumps(RECORD)), indent=2, sort_keys=True,
                                            ensure_ascii=False) + "\n"
    assert dumps_json(RECORD, indent=None, sort_keys=False) == \
        '{"z": 1, "a": [1.5, "é", null], "m": {"y": true, "b": [1, 2]}}\n'
    assert dumps_jsonl([{"b": 1, "a": 2}, {"c": np.float32(0.5)}]) == '{"a": 2, "b": 1}\n{"c": 0.5}\n'
    with pytest.raises(ValueError, match=r"rows line 2 \$\.x: value nan"):
        dumps_jsonl([{"x": 1}, {"x": math.nan}], "rows")


def test_jsonio_data_files_keep_their_bytes(tmp_path):
    """Data files written through io.files are byte-identical to the plain json.dumps form they had."""
    records = [{"question_id": "q1", "question": "Wer? ü", "answer": 3, "gold": ["a", "b"]}]
    jsonio.write_json(records, tmp_path / "a.json")
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == json.dumps(records, ensure_ascii=False) + "\n"
    jsonio.write_json(records, tmp_path / "b.json", indent=2)
    assert (tmp_path / "b.json").read_text(encoding="utf-8") == \
        json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    jsonio.write_jsonl(records * 2, tmp_path / "c.jsonl")
    assert (tmp_path / "c.jsonl").read_text(encoding="utf-8") == \
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records * 2)
    write_json(tmp_path / "d.json", {"b": 1, "a": 2})
    write_jsonl(tmp_path / "e.jsonl", [{"b": 1, "a": 2}])
    assert (tmp_path / "d.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert (tmp_path / "e.jsonl").read_text() == '{"a": 2, "b": 1}\n'


# ----------------------------------------------------------------------- store / table helpers
def test_check_metrics_record_names_the_field():
    good = {"metrics": {}, "n": 3, "config": {}}
    assert check_metrics_record(good) is good
    with pytest.raises(ValueError, match="field 'n' missing or not a int"):
        check_metrics_record({"metrics": {}, "n": "3", "config": {}})
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        check_metrics_record([])


def test_table_lookup_helpers():
    df = pd.DataFrame({"config.heads.k": [16.0, 8.0, None], "config.method": ["a", "a", "b"],
                       "metrics.nDCG@10": [0.1, 0.2, 0.3]})
    assert [config_label(v) for v in (16.0, 2.5, None, math.nan, "x")] == ["16", "2.5", "none", "none", "x"]
    assert find_column(df, "heads.k", "config", "t") == "config.heads.k"
    assert find_column(df, "metrics.nDCG@10", "metrics", "t") == "metrics.nDCG@10"
    with pytest.raises(KeyError, match="table t: no column 'heads.kk'.*did you mean config.heads.k"):
        find_column(df, "heads.kk", "config", "t")
    assert filter_mask(df, {"heads.k": 16, "method": "a"}, "t").tolist() == [True, False, False]
    assert filter_mask(df, {"heads.k": None}, "t").tolist() == [False, False, True]
