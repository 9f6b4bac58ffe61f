"""A local BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) checked line by line and
registered with ir_datasets' own BEIR parsers, read from disk only (no download).

Checks (ValueError naming file and line): every corpus / queries line a JSON object with string
``_id`` / ``title`` / ``text`` fields and a valid id, no repeated ``_id`` (BEIR's loader and
ir_datasets' doc store would keep one of two silently); the qrels header
``query-id<TAB>corpus-id<TAB>score``, integer scores, no query judging the same doc twice. A leading
UTF-8 byte-order mark is skipped. Side effect: ir_datasets builds its doc store under
$IR_DATASETS_HOME on first use.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

from qrexp.io.jsonio import check_id, open_text, read_text, skip_bom


def _local_files(folder: Path, split: str) -> tuple[Path, Path, Path]:
    files = (folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv")
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found (expected a BEIR folder)")
    return files


def _validate_jsonl(path: Path, fields: tuple[str, ...]) -> None:
    """Stream a BEIR corpus / queries file and check every line (no full copy in memory).

    A repeated ``_id`` is an error (naming both lines): BEIR's own loader and ir_datasets' doc store
    would keep one of the two silently.
    """
    first_line: dict[str, int] = {}
    with open_text(path) as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {i}: invalid JSON at column {exc.colno}: {exc.msg}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path} line {i}: expected a JSON object")
            where = f"{path} line {i}" + (f" (_id={row['_id']})" if "_id" in row else "")
            for f in fields:
                if not isinstance(row.get(f), str):
                    raise ValueError(f"{where}: missing or non-string field {f!r}")
            check_id(row["_id"], where, "_id")
            if row["_id"] in first_line:
                raise ValueError(f"{where}: duplicate _id (first on line {first_line[row['_id']]}); "
                                 "give every record its own _id")
            first_line[row["_id"]] = i


def _validate_qrels(path: Path) -> None:
    lines = read_text(path).splitlines()
    if not lines or lines[0].strip() != "query-id\tcorpus-id\tscore":
        raise ValueError(f"{path} line 1: expected the header 'query-id<TAB>corpus-id<TAB>score'")
    first_line: dict[tuple[str, str], int] = {}
    for i, line in enumerate(lines[1:], start=2):
        cols = line.split("\t") if "\t" in line else line.split()
        if line.strip() and (len(cols) != 3 or not re.fullmatch(r"-?\d+", cols[2].strip())):
            raise ValueError(f"{path} line {i}: expected 'query-id corpus-id score' with an integer score")
        if cols:
            pair = (cols[0], cols[1])
            if pair in first_line:
                raise ValueError(f"{path} line {i}: query {cols[0]} judges doc {cols[1]} again "
                                 f"(first on line {first_line[pair]})")
            first_line[pair] = i
        for name, value in zip(("query-id", "corpus-id"), cols[:2] if line.strip() else ()):
            check_id(value, f"{path} line {i}", name)


def _BomlessDownload(base):
    """ir_datasets' LocalDownload whose stream skips a leading UTF-8 byte-order mark (its qrels
    parser compares the header line verbatim)."""
    class BomlessDownload(base):
        @contextlib.contextmanager
        def stream(self):
            with super().stream() as f:
                yield skip_bom(f)
    return BomlessDownload


def register_local_beir(folder: str | os.PathLike, split: str = "test") -> str:
    """Register a local BEIR folder with ir_datasets (no download) and return its dataset id.

    Files are checked line by line when first registered. The id embeds a digest of the folder path,
    file sizes and mtimes, so an edited folder gets a fresh doc store instead of a stale one.
    """
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.datasets.beir import BeirDocs, BeirQrels, BeirQueries, BeirTitleDoc
    from ir_datasets.formats import GenericQuery
    from ir_datasets.util import LocalDownload

    folder = Path(folder).resolve()
    files = _local_files(folder, split)
    stamp = "|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', folder.name)}-{hashlib.sha1(stamp.encode()).hexdigest()[:10]}"
    did = f"local-beir/{name}/{split}"
    if did not in set(ir_datasets.registry):
        _validate_jsonl(files[0], ("_id", "title", "text"))
        _validate_jsonl(files[1], ("_id", "text"))
        _validate_qrels(files[2])
        corpus, queries, qrels = (_BomlessDownload(LocalDownload)(p, mkdir=False) for p in files)
        ir_datasets.registry.register(did, Dataset(
            BeirDocs(f"local/{name}", corpus, BeirTitleDoc),
            BeirQueries(f"local/{name}", queries, GenericQuery),
            BeirQrels(qrels, qrels_defs={})))
    return did
