"""CLIPPER claim files as users get them: the HF release rows and the repository's claim CSVs.

Which file carries what (CLIPPER, Pham et al. 2025; github.com/chtmp223/CLIPPER,
huggingface.co/datasets/chtmp223/CLIPPER):
  * HF release rows (JSON / JSONL): id, book_name, book_title, book_author, book_length, claim_type,
    messages, true_claim, true_reasoning, false_claim, false_reasoning, status. Each claim pair appears
    twice (status TRUE: the row asks about true_claim; FALSE: about false_claim). No ``source``: enough
    for claim verification (pair accuracy), not for chapter recall.
  * Repository claim CSVs, ``data/output/<book_name>/claims/claims_<single|multiple>.csv``: facts (the
    true claim), corrupted_facts (the false claim), fact_reasoning, corrupted_reasoning, source
    ("Chapter 1, 17": the gold chapters), ... Chapter recall needs this ``source``.
  * A joined file: one CSV with book_name, true_claim (or facts), false_claim (or corrupted_facts),
    source and optionally claim_type.

:func:`read_claim_csvs` reads the CSVs as records shaped like HF rows (plus ``source``);
:class:`SourceIndex` finds the ``source`` of an HF row's claim pair in them;
:func:`parse_chapter_source` reads the gold chapter numbers out of a ``source`` string.
"""
from __future__ import annotations

import csv
import os
import re
import sys
import warnings
from pathlib import Path

from qrexp.io.jsonio import Rec

REPO_FILES = {"claims_single.csv": "single", "claims_multiple.csv": "multiple"}
_PARENS = re.compile(r"\([^)]*\)")
_ITEMS = re.compile(r"\b(?:items?|events?|paragraphs?)\s*\d+(?:\s*(?:,|&|\band\b)\s*\d+)*", re.I)
_KEYWORD = re.compile(r"\b(?:chapters?|chs?\b\.?)", re.I)
_NUMBER = re.compile(r"(\d+)\s*(?:-|\u2013|\u2014|\bto\b|\bthrough\b)\s*(\d+)|(\d+)", re.I)
_BARE = re.compile(r"^[\d\s,;&\-\u2013\u2014]*(?:(?:and|to|through)[\d\s,;&\-\u2013\u2014]*)*$", re.I)
_RENAME = {"facts": "true_claim", "corrupted_facts": "false_claim", "fact_reasoning": "true_reasoning",
           "corrupted_reasoning": "false_reasoning"}


def parse_chapter_source(source: str) -> list[int]:
    """Chapter numbers named by a CLIPPER ``source`` string, ascending and unique.

    "Chapter 1, 17" -> [1, 17]; "Chapters 3-5" -> [3, 4, 5]; "Chapter 2 and 4" -> [2, 4];
    "Chapter 1 (Items 2, 3)" -> [1]; "Chapter 2, item 4; Chapter 3, item 1" -> [2, 3].
    """
    text = _ITEMS.sub(" ", _PARENS.sub(" ", str(source)))
    pieces = _KEYWORD.split(text)
    if len(pieces) == 1 and not _BARE.match(text.strip()):
        raise ValueError(f"cannot read chapter numbers from source {source!r}")
    chapters: set[int] = set()
    for piece in pieces[1:] if len(pieces) > 1 else pieces:
        for m in _NUMBER.finditer(piece):
            if m.group(3):
                chapters.add(int(m.group(3)))
                continue
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo or hi - lo > 500:
                raise ValueError(f"bad chapter range {m.group(0)!r} in source {source!r}")
            chapters.update(range(lo, hi + 1))
    if not chapters:
        raise ValueError(f"cannot read chapter numbers from source {source!r}")
    return sorted(chapters)


def _csv_records(path: Path, book: str | None, claim_type: str | None) -> list[Rec]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = {_RENAME.get(f, f) for f in reader.fieldnames or ()}
        if not {"true_claim", "false_claim"} <= fields:
            return []
        out = []
        for i, row in enumerate(reader, start=1):
            data = {_RENAME.get(k, k): v for k, v in row.items() if k is not None}
            if book is not None:
                data.setdefault("book_name", book)
            if claim_type is not None:
                data.setdefault("claim_type", claim_type)
            out.append(Rec(data, f"{path} record {i}"))
        return out


def read_claim_csvs(path: str | os.PathLike) -> list[Rec]:
    """Claim records (book_name, claim_type, true_claim, false_claim, source, ...) from CSV.

    ``path``: a CLIPPER ``data/output`` folder (``<book>/claims/claims_single.csv`` and
    ``claims_multiple.csv``; the other claim files there are pipeline intermediates and are not read)
    or one joined CSV file. Files without facts / corrupted_facts columns (a few repository books hold
    only unpaired facts) are skipped with a warning. Raises FileNotFoundError when nothing is found.
    """
    path = Path(path)
    if path.is_file():
        recs = _csv_records(path, None, None)
        if not recs:
            raise ValueError(f"{path}: no claim pairs (needs columns true_claim/facts and "
                             "false_claim/corrupted_facts)")
        return recs
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: CLIPPER claims folder or CSV file not found")
    files = sorted((f for name in REPO_FILES for f in path.glob(f"*/claims/{name}")),
                   key=lambda f: (f.parts[-3], f.name))
    if not files:
        raise FileNotFoundError(f"{path}: no <book>/claims/claims_<single|multiple>.csv files "
                                "(expected CLIPPER's data/output folder)")
    recs, unpaired = [], []
    for f in files:
        got = _csv_records(f, f.parts[-3], REPO_FILES[f.name])
        recs.extend(got) if got else unpaired.append(str(f))
    if unpaired:
        warnings.warn(f"{len(unpaired)} claim CSV(s) without true/false claim pairs skipped, e.g. {unpaired[0]}",
                      stacklevel=2)
    return recs


def _norm(text: str) -> str:
    return " ".join(str(text).split())


def _chapters(rec: Rec, src: str) -> list[int] | str:
    try:
        return parse_chapter_source(src)
    except ValueError:
        return src


class SourceIndex:
    """``source`` of a claim pair, looked up by (book_name, true_claim, false_claim), whitespace-normalised.

    ``lookup`` returns None when the pair is absent; a pair listed twice naming different chapters raises
    (the same chapters written differently, "Chapter 29" / "Chapter 29 (Items 3, 4)", is one pair).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._by_pair: dict[tuple[str, str, str], tuple[str, str]] = {}
        for rec in read_claim_csvs(path):
            key = (str(rec.get("book_name", (str, int))), _norm(rec.get("true_claim", str)),
                   _norm(rec.get("false_claim", str)))
            src = rec.get("source", str)
            if key in self._by_pair and _chapters(rec, self._by_pair[key][0]) != _chapters(rec, src):
                raise rec.error(f"field 'source' {src!r} differs from {self._by_pair[key][1]} "
                                f"({self._by_pair[key][0]!r}) for the same claim pair")
            self._by_pair.setdefault(key, (src, rec.where))

    def __len__(self) -> int:
        return len(self._by_pair)

    def lookup(self, book: str, true_claim: str, false_claim: str) -> str | None:
        """The pair's ``source`` string, or None when the pair is not in the CSVs."""
        hit = self._by_pair.get((str(book), _norm(true_claim), _norm(false_claim)))
        return None if hit is None else hit[0]
