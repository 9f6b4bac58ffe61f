"""Atomic file writes and the one JSON writer of the package: canonical (key-sorted, compact) for
hashing, indented for files people read, one object per line for JSONL. Every JSON text qrexp
writes to a file is made here (:func:`dumps_json`, :func:`dumps_jsonl`); values pass through
:func:`jsonable` (NaN / inf refused, numpy and torch scalars unwrapped). Leaf module: stdlib only.

Side effects: :func:`atomic_write_bytes` creates parent folders and replaces the target in one
``os.replace`` (a reader sees the old file or the new one, never a torn one).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping


def jsonable(obj: Any, where: str = "$") -> Any:
    """Plain JSON types; tuples/sets -> lists, numpy scalars -> Python; NaN/inf and others raise."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{where}: value {obj} is not finite and cannot be stored as JSON")
        return obj
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [jsonable(v, f"{where}[]") for v in sorted(obj, key=str)]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return jsonable(obj.item(), where)
    raise TypeError(f"{where}: value of type {type(obj).__name__} is not JSON-serialisable")


def canonical_json(obj: Any) -> str:
    """Key-sorted, compact JSON (no spaces, non-ASCII kept): equal configs give equal strings whatever
    the key order; the text run ids and cache keys hash. ValueError / TypeError as :func:`jsonable`."""
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temp file in the same folder, fsync, then os.replace onto ``path``.

    The file gets the mode a plain ``open(path, "w")`` would give (0o666 minus the umask), not
    mkstemp's 0o600, so results in a shared folder stay readable by the group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text, written atomically (:func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any, where: str = "$", *, indent: int | None = 2, sort_keys: bool = True) -> str:
    """JSON text of ``obj`` ending in a newline, non-ASCII kept: by default indented by 2 and
    key-sorted (run artifacts). ``sort_keys=False`` keeps a record's field order (data files in a
    published format); ``indent=None`` is one line. Raises ValueError / TypeError naming ``where``
    and the path inside ``obj`` for NaN, inf or a non-JSON value (:func:`jsonable`)."""
    return json.dumps(jsonable(obj, where), indent=indent, sort_keys=sort_keys, ensure_ascii=False) + "\n"


def dumps_jsonl(rows: Iterable[Any], where: str = "$", *, sort_keys: bool = True) -> str:
    """JSON Lines text: one compact :func:`dumps_json` document per row (``where line <i>`` in errors)."""
    return "".join(dumps_json(row, f"{where} line {i + 1} $", indent=None, sort_keys=sort_keys)
                   for i, row in enumerate(rows))


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, sort_keys: bool = True) -> Path:
    """Write ``obj`` as :func:`dumps_json` text to ``path``, atomically (parent folders created);
    returns the path. Errors name the file."""
    return atomic_write_text(path, dumps_json(obj, str(path), indent=indent, sort_keys=sort_keys))


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any], *, sort_keys: bool = True) -> Path:
    """Write ``rows`` as :func:`dumps_jsonl` text to ``path``, atomically; returns the path."""
    return atomic_write_text(path, dumps_jsonl(rows, str(path), sort_keys=sort_keys))
