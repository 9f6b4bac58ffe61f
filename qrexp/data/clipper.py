"""CLIPPER narrative claim verification -> one Example per (true, false) claim pair.

Rows carry book_name, book_title, true_claim, false_claim, claim_type, optionally status and
``source`` ("Chapter 1, 17"), the only place the gold chapters are recorded. Which metric needs which
file: claim verification (pair accuracy) needs the claim rows and the book chapters; chapter recall
also needs ``source``, which the HF release rows lack and the repository's claim CSVs carry
(:mod:`qrexp.data.clipper_claims`). The HF release repeats each pair twice (status TRUE / FALSE);
rows of one pair (same book_name, true_claim, false_claim) are merged.

Chapters come either as the CLIPPER repository's layout, a folder ``<root>/<book_name>/<k>.txt`` with
one file per chapter (numbered from 1, sorted numerically), or as a JSON object mapping book_name to a
list of chapter texts (chapter k = item k-1) or to {"k": text}. A UTF-8 byte-order mark at the start
of a chapter (309 of the repository's books have one in chapter 1) is removed. Documents are the
book's chapters in order: doc_id ``ch<k>``, title ``Chapter k``. The query is the claim named by
``query_from``; the qid ``<book_name>-<n>`` (n-th pair of that book in the file) is the same for both.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

from qrexp.data.clipper_claims import SourceIndex, parse_chapter_source, read_claim_csvs
from qrexp.io.jsonio import Rec, check_id, choice_filter, read_json, read_records, read_text
from qrexp.types import Doc, Example

CLAIM_TYPES = ("single", "multiple")
QUERY_FROM = ("true_claim", "false_claim")
NO_SOURCE = ("no 'source' (HF release rows): chapter recall needs CLIPPER's claim CSVs, "
             "eval.data.args.claims=<CLIPPER repo>/data/output")

_CHAPTER_ID = re.compile(r"ch(\d+)")


class ChapterSource:
    """Chapter texts per book from a folder of ``<book>/<k>.txt`` files or a JSON mapping."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._cache: dict[str, dict[int, str]] = {}
        self._mapping: dict[str, Any] | None = None
        if self.path.is_file():
            data = read_json(self.path)
            if not isinstance(data, dict):
                raise ValueError(f"{self.path}: expected a JSON object book_name -> chapters, "
                                 f"got {type(data).__name__}")
            self._mapping = data
        elif not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: chapters folder or JSON file not found")

    def __contains__(self, book: str) -> bool:
        if self._mapping is not None:
            return book in self._mapping
        return (self.path / book).is_dir()

    def chapters(self, book: str) -> dict[int, str]:
        """{chapter number: text}, ordered by number."""
        if book not in self._cache:
            raw = self._from_mapping(book) if self._mapping is not None else self._from_folder(book)
            self._cache[book] = dict(sorted(raw.items()))
        return self._cache[book]

    def _from_folder(self, book: str) -> dict[int, str]:
        folder = self.path / book
        out = {}
        for f in folder.iterdir():
            if f.suffix != ".txt":
                continue
            if not f.stem.isdigit():
                raise ValueError(f"{f}: chapter files must be named <number>.txt")
            if int(f.stem) in out:
                raise ValueError(f"{f}: chapter {int(f.stem)} has two files in {folder}")
            out[int(f.stem)] = read_text(f)
        if not out:
            raise ValueError(f"{folder}: no <number>.txt chapter files")
        return out

    def _from_mapping(self, book: str) -> dict[int, str]:
        value = self._mapping[book]
        where = f"{self.path} book {book!r}"
        if isinstance(value, list):
            items = {k: t for k, t in enumerate(value, start=1)}
        elif isinstance(value, dict) and all(str(k).isdigit() for k in value):
            items = {int(k): t for k, t in value.items()}
        else:
            raise ValueError(f"{where}: expected a list of chapter texts or an object {{\"<k>\": text}}")
        bad = [k for k, t in items.items() if not isinstance(t, str)]
        if bad:
            raise ValueError(f"{where}: chapter {bad[0]} is not a string")
        return {k: t.removeprefix("\ufeff") for k, t in items.items()}


def _pair_key(rec: Rec) -> tuple[str, str, str]:
    book = check_id(rec.get("book_name", (str, int)), rec.where, "book_name")   # part of the qid
    return book, rec.get("true_claim", str), rec.get("false_claim", str)


def _rows(rows: str | os.PathLike) -> list[Rec]:
    path = Path(rows)
    if path.is_dir() or path.suffix.lower() == ".csv":
        return read_claim_csvs(path)
    return read_records(path, id_field="id")


def _source(rec: Rec, key: tuple[str, str, str], index: SourceIndex | None) -> tuple[str | None, str | None]:
    """(source, None) or (None, why there is no gold) for one claim pair."""
    src = rec.get("source", str, default=None)
    if src is None and index is not None:
        src = index.lookup(*key)
        if src is None:
            return None, f"claim pair not found in {index.path}"
    if src is None:
        return None, NO_SOURCE
    if not src.strip():
        return None, "empty 'source'"
    return src, None


def _chapters_of(rec: Rec, src: str | None) -> list[int] | None:
    try:
        return None if src is None else parse_chapter_source(src)
    except ValueError as exc:
        raise rec.error(f"field 'source': {exc}") from None


def load_clipper(rows: str | os.PathLike, chapters: str | os.PathLike, claims: str | os.PathLike | None = None,
                 claim_types: Sequence[str] | str | None = None, limit: int | None = None,
                 query_from: str = "true_claim") -> list[Example]:
    """Load CLIPPER claim pairs with their book chapters (see the module docstring).

    ``rows``: HF release rows (JSON/JSONL), rows with ``source``, a joined CSV, or CLIPPER's
    ``data/output`` folder of claim CSVs. ``claims``: where the ``source`` of rows that lack it is
    looked up (:class:`qrexp.data.clipper_claims.SourceIndex`). A pair without a source gets no gold
    chapters (``gold`` empty, ``meta["gold_chapters"] = None``, ``meta["no_gold"]`` says why): it
    still counts for claim verification and is left out of chapter recall, which evaluation reports.
    Errors (ValueError naming file, record and field): a pair whose rows name different chapters, an
    unreadable source, a book missing from ``chapters``, a gold chapter the book does not have.
    """
    if query_from not in QUERY_FROM:
        raise ValueError(f"unknown query_from {query_from!r} (known: {', '.join(QUERY_FROM)})")
    wanted = choice_filter(claim_types, CLAIM_TYPES, "CLIPPER claim_type")
    source = ChapterSource(chapters)
    index = SourceIndex(claims) if claims is not None else None
    pairs: dict[tuple[str, str, str], dict[str, Any]] = {}
    per_book: dict[str, int] = {}
    for rec in _rows(rows):
        key = _pair_key(rec)
        src, why = _source(rec, key, index)
        status = rec.get("status", str, default=None)
        if key in pairs:
            if _chapters_of(rec, pairs[key]["source"]) != _chapters_of(rec, src):
                def shown(v: str | None) -> str:
                    return "absent" if v is None else repr(v)
                raise rec.error(f"field 'source' {shown(src)} differs from an earlier row of the same claim pair "
                                f"({shown(pairs[key]['source'])})")
            pairs[key]["statuses"].append(status)
            continue
        gold = _chapters_of(rec, src)
        n = per_book.get(key[0], 0)
        per_book[key[0]] = n + 1
        pairs[key] = {"rec": rec, "n": n, "source": src, "claim_type": rec.get("claim_type", str), "gold": gold,
                      "no_gold": why, "statuses": [status], "title": rec.get("book_title", str, default=None)}
    kept = [(key, pair) for key, pair in pairs.items() if wanted is None or pair["claim_type"] in wanted]
    examples: list[Example] = []
    for (book, true_claim, false_claim), pair in kept[:limit]:
        rec = pair["rec"]
        if book not in source:
            raise rec.error(f"field 'book_name': book {book!r} not found in {source.path}")
        texts = source.chapters(book)
        missing = [k for k in pair["gold"] or () if k not in texts]
        if missing:
            raise rec.error(f"field 'source' names chapter(s) {missing} but book {book!r} has chapters "
                            f"{min(texts)}..{max(texts)}")
        docs = tuple(Doc(doc_id=f"ch{k}", text=t, title=f"Chapter {k}") for k, t in texts.items())
        meta = {"true_claim": true_claim, "false_claim": false_claim, "claim_type": pair["claim_type"],
                "book": book, "book_title": pair["title"], "source": pair["source"],
                "gold_chapters": pair["gold"], "query_from": query_from,
                "statuses": [s for s in pair["statuses"] if s is not None]}
        if pair["no_gold"]:
            meta["no_gold"] = pair["no_gold"]
        is_true = query_from == "true_claim"
        examples.append(Example(qid=f"{book}-{pair['n']}", query=true_claim if is_true else false_claim,
                                docs=docs, gold=frozenset(f"ch{k}" for k in pair["gold"] or ()),
                                answer="TRUE" if is_true else "FALSE", meta=meta))
    return examples


def chapter_order(example: Example, doc_ids: Sequence[str]) -> list[str]:
    """CLIPPER chapter ids ``ch<k>`` sorted by chapter number k (the reference sorts by int id)."""
    bad = [d for d in doc_ids if not _CHAPTER_ID.fullmatch(d)]
    if bad:
        raise ValueError(f"example {example.qid}: chapter order needs ids 'ch<k>', got {bad[:3]}")
    return sorted(doc_ids, key=lambda d: int(d[2:]))
