"""CLIPPER loader: source parsing, pair merging, chapters from a folder or JSON, errors."""
import json
from pathlib import Path

import pytest

from qrexp.data.clipper import load_clipper
from qrexp.data.clipper_claims import parse_chapter_source

DATA = Path(__file__).parents[1] / "data" / "clipper"
ROWS, BOOKS = DATA / "rows.jsonl", DATA / "books"


@pytest.mark.parametrize("source, expected", [
    ("Chapter 1, 17", [1, 17]),
    ("Chapters 3-5", [3, 4, 5]),
    ("Chapters 3\u20135", [3, 4, 5]),
    ("Chapter 2 and 4", [2, 4]),
    ("Chapter 1 (Items 2, 3)", [1]),
    ("Chapter 2, item 4; Chapter 3, item 1", [2, 3]),
    ("Chapter 17, 1, 1", [1, 17]),
    ("Ch. 4", [4]),
    ("2, 9", [2, 9]),
])
def test_parse_chapter_source(source, expected):
    assert parse_chapter_source(source) == expected


@pytest.mark.parametrize("source", ["", "the epilogue", "Chapter five", "Chapters 5-3"])
def test_parse_chapter_source_rejects(source):
    with pytest.raises(ValueError, match="chapter"):
        parse_chapter_source(source)


def test_pairs_merged_with_gold_from_source():
    exs = load_clipper(ROWS, BOOKS)
    assert [e.qid for e in exs] == ["90001-0", "90001-1", "90002-0"]
    assert [e.gold for e in exs] == [{"ch1", "ch10"}, {"ch3"}, {"ch2", "ch3", "ch4"}]
    first = exs[0]
    assert first.doc_ids == [f"ch{k}" for k in range(1, 11)]           # numeric, not lexical, order
    assert [d.title for d in first.docs][-2:] == ["Chapter 9", "Chapter 10"]
    assert first.docs[9].text == (BOOKS / "90001" / "10.txt").read_text()
    assert first.query.startswith("Mara's voyage began in Sallow") and first.answer == "TRUE"
    assert first.meta["false_claim"].endswith("ended in Brenn on the ninth of September.")
    assert first.meta["statuses"] == ["TRUE", "FALSE"]
    assert first.meta["claim_type"] == "multiple" and first.meta["book"] == "90001"
    assert first.meta["book_title"] == "The Voyage of the Gannet"
    assert len(exs[2].docs) == 5


def test_false_claim_queries_keep_qids():
    exs = load_clipper(ROWS, BOOKS, query_from="false_claim")
    assert [e.qid for e in exs] == ["90001-0", "90001-1", "90002-0"]
    assert exs[1].query == "On Brenn, Mara traded twelve bolts of red cloth for copper coins and a map."
    assert exs[1].answer == "FALSE"


def test_claim_type_filter_and_limit():
    assert [e.qid for e in load_clipper(ROWS, BOOKS, claim_types="single")] == ["90001-1"]
    assert [e.qid for e in load_clipper(ROWS, BOOKS, claim_types=["multiple"])] == ["90001-0", "90002-0"]
    assert [e.qid for e in load_clipper(ROWS, BOOKS, limit=2)] == ["90001-0", "90001-1"]
    with pytest.raises(ValueError, match="unknown CLIPPER claim_type"):
        load_clipper(ROWS, BOOKS, claim_types=["multi"])


def test_json_mapping_equals_folder(tmp_path):
    mapping = {book: [(BOOKS / book / f"{k}.txt").read_text() for k in range(1, n + 1)]
               for book, n in (("90001", 10), ("90002", 5))}
    (tmp_path / "chapters.json").write_text(json.dumps(mapping))
    from_json = load_clipper(ROWS, tmp_path / "chapters.json")
    from_folder = load_clipper(ROWS, BOOKS)
    assert from_json == from_folder
    assert [e.docs for e in from_json] == [e.docs for e in from_folder]


def _rows(tmp_path, mutate):
    rows = [json.loads(line) for line in ROWS.read_text().splitlines()]
    mutate(rows)
    p = tmp_path / "rows.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r[3].pop("source"),          # one row of a pair with a source, the other without
     "line 6 (id=106): field 'source' 'Chapters 2-4' differs from an earlier row of the same claim pair (absent)"),
    (lambda r: [x.__setitem__("source", "Chapter 1, 12") for x in r[0:2]],
     "line 1 (id=101): field 'source' names chapter(s) [12] but book '90001' has chapters 1..10"),
    (lambda r: r[1].__setitem__("source", "Chapter 1"),
     "line 2 (id=102): field 'source' 'Chapter 1' differs from an earlier row of the same claim pair ('Chapter 1, 10')"),
    (lambda r: r[2].__setitem__("source", "the prologue"),
     "line 3 (id=103): field 'source': cannot read chapter numbers from source 'the prologue'"),
    (lambda r: [x.__setitem__("book_name", "777") for x in r[3:4]],
     "line 4 (id=104): field 'book_name': book '777' not found in"),
])
def test_malformed_rows(tmp_path, mutate, message):
    p = _rows(tmp_path, mutate)
    with pytest.raises(ValueError) as info:
        load_clipper(p, BOOKS)
    assert str(info.value).startswith(f"{p} {message}")
    assert "\n" not in str(info.value)


def test_bad_chapter_files(tmp_path):
    (tmp_path / "90001").mkdir()
    (tmp_path / "90001" / "intro.txt").write_text("x")
    with pytest.raises(ValueError, match=r"intro\.txt: chapter files must be named <number>\.txt"):
        load_clipper(ROWS, tmp_path, limit=1)
    with pytest.raises(FileNotFoundError, match="chapters folder or JSON file not found"):
        load_clipper(ROWS, tmp_path / "missing")
