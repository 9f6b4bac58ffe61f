"""Instance JSON (the reference code's format): reading, errors, atomic round trip, registry."""
import json
from pathlib import Path

import pytest

from qrexp.data import LOADERS, load_examples
from qrexp.data.instances import load_instances, write_instances
from qrexp.data.lme import load_lme
from qrexp.types import Doc

DATA = Path(__file__).parents[1] / "data"


def test_fixture_reads_as_expected():
    a, b = load_instances(DATA / "instances_tiny.json")
    assert a.qid == "nq_test_12" and a.query == "who painted the ceiling of the sistine chapel"
    assert a.doc_ids == ["doc7", "doc9", "doc3"]
    assert a.docs[1] == Doc("doc9", "The ceiling was painted by Michelangelo between 1508 and 1512.",
                            "Sistine Chapel ceiling")
    assert a.docs[2].title == ""
    assert a.gold == {"doc9"} and a.answer is None
    assert a.meta == {}
    assert b.doc_ids == ["1", "2", "10"] and b.gold == {"1", "10"}


def test_extra_top_level_fields_go_to_meta(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"idx": 5, "question": "q", "paragraphs": [], "gt_docs": ["z"], "split": "dev"}) + "\n")
    (ex,) = load_instances(p)
    assert ex.qid == "5" and ex.docs == () and ex.gold == {"z"} and ex.meta == {"split": "dev"}


@pytest.mark.parametrize("name", ["out.json", "out.jsonl"])
def test_write_then_load_round_trips(tmp_path, name):
    examples = load_instances(DATA / "instances_tiny.json") + load_lme(DATA / "lme_tiny.json")
    write_instances(examples, tmp_path / name)
    again = load_instances(tmp_path / name)
    assert again == examples
    assert [e.meta for e in again] == [e.meta for e in examples]
    assert [e.answer for e in again] == [e.answer for e in examples]
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_written_file_is_reference_format(tmp_path):
    write_instances(load_instances(DATA / "instances_tiny.json")[:1], tmp_path / "o.json")
    (rec,) = json.loads((tmp_path / "o.json").read_text())
    assert rec["paragraphs"][1] == {"idx": "doc9", "title": "Sistine Chapel ceiling",
                                    "paragraph_text": "The ceiling was painted by Michelangelo between 1508 and 1512."}
    assert rec["gt_docs"] == ["doc9"] and rec["num_gold_docs"] == 1


def _broken(tmp_path, mutate):
    records = json.loads((DATA / "instances_tiny.json").read_text())
    mutate(records)
    p = tmp_path / "broken.json"
    p.write_text(json.dumps(records))
    return p


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r[0]["paragraphs"][1].pop("paragraph_text"),
     "record 0 (idx=nq_test_12): field 'paragraphs[1]': missing field 'paragraph_text'"),
    (lambda r: r[1].pop("question"), "record 1 (idx=90001-0): missing field 'question'"),
    (lambda r: r[1].__setitem__("gt_docs", "1"), "record 1 (idx=90001-0): field 'gt_docs' must be list, got str"),
    (lambda r: r[0]["paragraphs"].append(dict(r[0]["paragraphs"][0])),
     "record 0 (idx=nq_test_12): field 'paragraphs' repeats idx ['doc7']"),
    (lambda r: r.append(dict(r[0])), "record 2 (idx=nq_test_12): field 'idx': duplicate instance id 'nq_test_12'"),
])
def test_malformed_records_give_one_line_located_errors(tmp_path, mutate, message):
    p = _broken(tmp_path, mutate)
    with pytest.raises(ValueError) as info:
        load_instances(p)
    assert str(info.value) == f"{p} {message}"
    assert "\n" not in str(info.value)


def test_registry_names_and_did_you_mean():
    assert LOADERS.names() == ["beir", "clipper", "instances", "lme", "niah"]
    assert load_examples("instances", path=DATA / "instances_tiny.json", limit=1)[0].qid == "nq_test_12"
    with pytest.raises(KeyError, match="did you mean 'lme'"):
        load_examples("lmee", path="x")
