"""JSON / JSONL reading with one-line, located errors, and atomic JSON / JSONL writes of data records.

Every record read from a file is wrapped in a :class:`Rec` that knows where it came from, so a loader
can say exactly what is wrong, e.g.
``ValueError: data/lme.json record 3 (question_id=q7): missing field 'haystack_sessions'``.
Records of a JSON array are numbered from 0 ("record 3"); lines of a JSONL file from 1 ("line 4").
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from qrexp.io import files

_REQUIRED = object()
_TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict"}


@dataclass(frozen=True)
class Rec:
    """One JSON object plus its location (``where``) for error messages."""
    data: Mapping[str, Any]
    where: str

    def error(self, message: str) -> ValueError:
        """A ValueError "<where>: <message>" for the caller to raise."""
        return ValueError(f"{self.where}: {message}")

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, kind: type | tuple[type, ...] | None = None, default: Any = _REQUIRED) -> Any:
        """The value of field ``name``; raises a located error if it is missing or of the wrong type.

        ``default`` makes the field optional (returned when absent or null). ``kind`` checks the type;
        ``bool`` never passes as ``int``.
        """
        if name not in self.data or (self.data[name] is None and default is not _REQUIRED):
            if default is _REQUIRED:
                raise self.error(f"missing field {name!r}")
            return default
        value = self.data[name]
        if kind is not None and not _is_kind(value, kind):
            raise self.error(f"field {name!r} must be {_kind_name(kind)}, got {type(value).__name__}")
        return value


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


BOM = b"\xef\xbb\xbf"          # the UTF-8 byte-order mark (Windows editors, many public data dumps)


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file as str, a leading byte-order mark dropped (CRLF line ends are left to
    ``splitlines``). The one text reader of every data loader (JSON, JSONL, TSV, TREC, chapters).

    Raises FileNotFoundError / ValueError naming the file (and the byte offset of bad UTF-8)."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def open_text(path: str | os.PathLike):
    """Open a UTF-8 text file for streaming line by line, a leading byte-order mark dropped."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: file not found")
    return open(path, encoding="utf-8-sig")


def skip_bom(stream):
    """A binary buffered stream positioned after a leading UTF-8 byte-order mark, if any (for
    readers that take bytes, e.g. ir_datasets' BEIR parsers)."""
    if stream.peek(len(BOM))[: len(BOM)] == BOM:
        stream.read(len(BOM))
    return stream


def check_id(value: Any, where: str, field: str) -> str:
    """``str(value)`` if it can be a TREC id (non-empty, no whitespace: run.trec and qrels files are
    whitespace-separated), else ``ValueError("<where>: field '<field>' ...")`` at load time."""
    text = str(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{where}: field {field!r} = {text!r} is empty or contains whitespace; "
                         "ids are written to TREC run files, which cannot hold it")
    return text


def read_json(path: str | os.PathLike) -> Any:
    """Parse a whole JSON file; a syntax error names the file, line and column."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _jsonl_items(path: str | os.PathLike, hint: str = "") -> list[tuple[int, Any]]:
    out = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {lineno}: invalid JSON at column {exc.colno}: {exc.msg}{hint}") from None
    return out


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Parse a JSON-lines file (blank lines skipped); a bad line is named by its 1-based number."""
    return [item for _, item in _jsonl_items(path)]


def is_json_array(path: str | os.PathLike) -> bool:
    """True if the file's first non-blank character opens a JSON array (else it is read as JSONL)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        while True:
            chunk = fh.read(4096)
            if not chunk:
                return False
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith("[")


def _where(path: str | os.PathLike, label: str, data: Any, id_field: str | None) -> str:
    if id_field and isinstance(data, Mapping) and id_field in data:
        return f"{path} {label} ({id_field}={data[id_field]})"
    return f"{path} {label}"


def read_records(path: str | os.PathLike, id_field: str | None = None) -> list[Rec]:
    """Read a JSON array of objects or a JSONL file of objects into located records.

    ``id_field`` (e.g. "question_id") is quoted in error locations when the record has it, and its
    value is refused if it holds whitespace (:func:`check_id`). A leading byte-order mark is skipped.
    """
    if Path(path).suffix.lower() != ".jsonl" and is_json_array(path):
        items = read_json(path)
        labels = [f"record {i}" for i in range(len(items))]
    else:
        numbered = _jsonl_items(path, " (a file that is not a JSON array is read as JSON lines)")
        items = [item for _, item in numbered]
        labels = [f"line {lineno}" for lineno, _ in numbered]
    records = []
    for label, item in zip(labels, items):
        where = _where(path, label, item, id_field)
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: expected a JSON object, got {type(item).__name__}")
        if id_field and item.get(id_field) is not None:
            check_id(item[id_field], where, id_field)
        records.append(Rec(item, where))
    return records


# ----------------------------------------------------------------------------- atomic writes
# Data files keep their records' field order (the published formats); the JSON text itself is made
# by qrexp.io.files, the package's one JSON writer.
def write_json(obj: Any, path: str | os.PathLike, indent: int | None = None) -> Path:
    """Atomically write data records ``obj`` as one JSON document, field order kept, non-ASCII kept
    (qrexp.io.files.write_json with sort_keys=False). NaN / inf raise ValueError naming the file."""
    return files.write_json(path, obj, indent=indent, sort_keys=False)


def write_jsonl(records: Iterable[Any], path: str | os.PathLike) -> Path:
    """Atomically write one compact JSON document per record, field order kept (qrexp.io.files)."""
    return files.write_jsonl(path, records, sort_keys=False)


def choice_filter(values: Sequence[str] | str | None, known: Sequence[str], what: str) -> set[str] | None:
    """A filter over known names (one name or several; None keeps everything); unknown names are
    an error listing the known ones."""
    if values is None:
        return None
    wanted = {values} if isinstance(values, str) else set(values)
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown} (known: {', '.join(known)})")
    return wanted
