"""CLIPPER as users get it: HF release rows (no ``source``, each pair twice), the repository's claim
CSVs (``source``: gold chapters), chapter files with a UTF-8 BOM, and what evaluation records when
chapter recall cannot be computed. Fixture files: tests/data/clipper_release (format: README there)."""
import json
import warnings
from pathlib import Path

import pytest

from qrexp.evals.qa_clipper import clipper_prompt
from qrexp.data.clipper import NO_SOURCE, load_clipper
from qrexp.data.clipper_claims import SourceIndex, read_claim_csvs
from qrexp.evals.protocol import gold_coverage, report_gold_coverage

DATA = Path(__file__).parents[1] / "data" / "clipper_release"
HF, OUTPUT, BOOKS = DATA / "hf_rows.jsonl", DATA / "output", DATA / "books"
PAIR_TRUE = ["Orla left Dunmere on the fourth of March and  was back there by the tenth of April.",
             "Orla found the key to her uncle's study under a loose stair.",
             "The ledger Orla read at her uncle's house, which listed debts to Rusk, was sewn into her coat "
             "when she returned."]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_hf_rows_pair_true_and_false_rows_without_source():
    exs = load_clipper(HF, BOOKS)
    # 6 rows, interleaved: pairs in order of first appearance, each merged from its TRUE and FALSE row
    assert [e.qid for e in exs] == ["90003-0", "90003-1", "90003-2"]
    assert [e.query for e in exs] == PAIR_TRUE
    assert [e.meta["statuses"] for e in exs] == [["TRUE", "FALSE"], ["TRUE", "FALSE"], ["FALSE", "TRUE"]]
    assert [e.meta["claim_type"] for e in exs] == ["multiple", "single", "multiple"]
    assert exs[1].meta["false_claim"] == "Orla found the key to her uncle's study in the tannery."
    for ex in exs:                                            # verification still has both claims and the book
        assert ex.gold == frozenset() and ex.meta["gold_chapters"] is None and ex.meta["source"] is None
        assert ex.meta["no_gold"] == NO_SOURCE and ex.doc_ids == ["ch1", "ch2", "ch3"]
    prompt = clipper_prompt(exs[0], ["ch3", "ch1"], "false_claim")[0]["content"]
    assert "tenth of June" in prompt and prompt.index("CHAPTER I.") < prompt.index("CHAPTER III.")


def test_bom_at_the_start_of_a_chapter_is_removed():
    raw = (BOOKS / "90003" / "1.txt").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    ex = load_clipper(HF, BOOKS, limit=1)[0]
    assert ex.docs[0].text == raw[3:].decode("utf-8") and ex.docs[0].text.startswith("CHAPTER I.")


def test_bom_removed_from_a_json_mapping(tmp_path):
    texts = [(BOOKS / "90003" / f"{k}.txt").read_text("utf-8") for k in (1, 2, 3)]
    (tmp_path / "chapters.json").write_text(json.dumps({"90003": texts}), "utf-8")
    assert load_clipper(HF, tmp_path / "chapters.json") == load_clipper(HF, BOOKS)
    assert load_clipper(HF, tmp_path / "chapters.json")[0].docs[0].text == texts[0][1:]


def test_repository_csvs_give_the_gold_chapters():
    with pytest.warns(UserWarning, match=r"1 claim CSV\(s\) without true/false claim pairs skipped, e\.g\. .*90004"):
        recs = read_claim_csvs(OUTPUT)
    # only the final claims_single / claims_multiple files, not the pipeline's *_raw.csv
    assert sorted((r.data["claim_type"], r.data["source"]) for r in recs) == [
        ("multiple", "Chapter 1, 3"), ("multiple", "Chapters 2-3"), ("single", "Chapter 2 (Items 2, 3)")]
    assert recs[0].where.endswith("claims_multiple.csv record 1") and recs[0].data["book_name"] == "90003"
    exs = _quiet(load_clipper, HF, BOOKS, claims=OUTPUT)
    assert [sorted(e.gold) for e in exs] == [["ch1", "ch3"], ["ch2"], ["ch2", "ch3"]]
    assert [e.meta["gold_chapters"] for e in exs] == [[1, 3], [2], [2, 3]]
    assert all("no_gold" not in e.meta for e in exs)
    index = _quiet(SourceIndex, OUTPUT)
    false1 = "Orla left Dunmere on the fourth of March and was back there by the tenth of June."
    assert len(index) == 3 and index.lookup("90003", PAIR_TRUE[0], false1) == "Chapter 1, 3"   # spacing ignored
    assert index.lookup("90003", PAIR_TRUE[0], "another false claim") is None


def test_repository_folder_as_rows():
    exs = _quiet(load_clipper, OUTPUT, BOOKS)
    # claims_multiple.csv before claims_single.csv within a book; true claims as in the CSVs
    assert [(e.qid, e.meta["claim_type"], sorted(e.gold)) for e in exs] == [
        ("90003-0", "multiple", ["ch1", "ch3"]), ("90003-1", "multiple", ["ch2", "ch3"]),
        ("90003-2", "single", ["ch2"])]
    assert exs[0].meta["statuses"] == [] and exs[2].meta["false_claim"].endswith("in the tannery.")


def test_a_pair_missing_from_the_csvs_is_reported_not_dropped(tmp_path):
    rows = [json.loads(line) for line in HF.read_text("utf-8").splitlines()]
    for r in rows:
        if r["claim_type"] == "single":
            r["true_claim"] = "Orla found the key under the doormat."
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    exs = _quiet(load_clipper, tmp_path / "rows.jsonl", BOOKS, claims=OUTPUT)
    assert [len(e.gold) for e in exs] == [2, 0, 2]
    assert exs[1].meta["no_gold"] == f"claim pair not found in {OUTPUT}"
    metrics = {"recall@3": 1.0}
    logged = []
    extra = report_gold_coverage(exs, metrics, logged.append)
    assert extra == {"gold_coverage": {"n": 3, "with_gold": 2, "left_out": {f"claim pair not found in {OUTPUT}": 1}}}
    assert logged == [f"[evaluate] recall over 2 of 3 examples; left out: claim pair not found in {OUTPUT} x1"]
    assert metrics == {"recall@3": 1.0}


def test_without_any_source_recall_is_not_reported_as_nan():
    exs = load_clipper(HF, BOOKS)
    metrics = {"recall@3": float("nan"), "recall_any@3": float("nan")}
    out = report_gold_coverage(exs, metrics, lambda _: None)
    assert metrics == {} and out["gold_coverage"] == {"n": 3, "with_gold": 0, "left_out": {NO_SOURCE: 3}}
    assert gold_coverage(exs[:1])["left_out"] == {NO_SOURCE: 1}


def test_zero_padded_chapter_files_read_as_numbers_and_collisions_refused(tmp_path):
    book = tmp_path / "90003"
    book.mkdir()
    for k in (1, 2, 3):
        (book / f"{k:02d}.txt").write_bytes((BOOKS / "90003" / f"{k}.txt").read_bytes())   # as some repository books
    assert load_clipper(HF, tmp_path) == load_clipper(HF, BOOKS)
    (book / "3.txt").write_text("another chapter three", "utf-8")
    with pytest.raises(ValueError, match=r"chapter 3 has two files in"):
        load_clipper(HF, tmp_path)
