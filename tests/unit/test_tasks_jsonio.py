"""jsonio: located one-line errors and atomic writes."""
import json
import math

import pytest

from qrexp.io.files import atomic_write_text
from qrexp.io.jsonio import Rec, read_json, read_jsonl, read_records, write_json, write_jsonl


def test_read_records_json_array_labels_records_from_zero(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps([{"question_id": "q0"}, {"question_id": "q7", "x": 1}]))
    recs = read_records(p, id_field="question_id")
    assert [r.where for r in recs] == [f"{p} record 0 (question_id=q0)", f"{p} record 1 (question_id=q7)"]
    assert recs[1].get("x", int) == 1


def test_read_records_jsonl_labels_lines_from_one_and_skips_blank_lines(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"idx": "a"}\n\n{"idx": "b"}\n')
    recs = read_records(p, id_field="idx")
    assert [r.where for r in recs] == [f"{p} line 1 (idx=a)", f"{p} line 3 (idx=b)"]


def test_a_json_file_that_is_not_an_array_is_read_as_jsonl(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('{"idx": 1}\n{"idx": 2}\n')
    assert [r.data["idx"] for r in read_records(p)] == [1, 2]


def test_rec_get_missing_wrong_type_and_defaults():
    rec = Rec({"a": True, "b": "x", "c": None}, "f.json record 3 (question_id=q7)")
    with pytest.raises(ValueError, match=r"^f\.json record 3 \(question_id=q7\): missing field 'z'$"):
        rec.get("z")
    with pytest.raises(ValueError, match="field 'a' must be int, got bool"):
        rec.get("a", int)
    with pytest.raises(ValueError, match="field 'b' must be list or dict, got str"):
        rec.get("b", (list, dict))
    assert rec.get("z", str, default="d") == "d"
    assert rec.get("c", str, default=None) is None
    assert rec.get("a", bool) is True


def test_syntax_errors_name_file_and_position(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('[{"a": 1},\n {"a": }]')
    with pytest.raises(ValueError, match=r"bad\.json: invalid JSON at line 2 column"):
        read_json(p)
    q = tmp_path / "bad.jsonl"
    q.write_text('{"a": 1}\n{"a": 1\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl line 2: invalid JSON"):
        read_jsonl(q)
    with pytest.raises(ValueError, match=r"bad\.jsonl line 2: invalid JSON"):
        read_records(q)


def test_non_object_record_and_missing_file(tmp_path):
    p = tmp_path / "a.json"
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"a\.json record 0: expected a JSON object, got int"):
        read_records(p)
    with pytest.raises(FileNotFoundError, match="nope.json: file not found"):
        read_records(tmp_path / "nope.json")


def test_writes_are_atomic_and_round_trip(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_json({"é": [1, 2.5]}, target)
    assert json.loads(target.read_text(encoding="utf-8")) == {"é": [1, 2.5]}
    with pytest.raises(ValueError):
        write_json({"x": math.nan}, target)
    assert json.loads(target.read_text(encoding="utf-8")) == {"é": [1, 2.5]}   # old content intact
    write_jsonl([{"a": 1}, {"b": 2}], tmp_path / "out.jsonl")
    assert read_jsonl(tmp_path / "out.jsonl") == [{"a": 1}, {"b": 2}]
    atomic_write_text(tmp_path / "t.txt", "hello\n")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out.json", "out.jsonl", "sub", "t.txt"]


def test_failed_replace_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    write_json([1], target)

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr("qrexp.io.jsonio.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_json([2], target)
    assert json.loads(target.read_text()) == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
