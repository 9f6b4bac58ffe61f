"""Turn a DataConfig into examples: generate built-in data on first use, then call the loader; and
the data's identity for run ids.

With ``generate`` set, relative paths in ``args`` are resolved inside the generated folder
(``<cache>/generated/<generator>-seed<seed>``), which is written once and reused.

Identity: a run depends on the examples actually loaded, not on where their files live. The
fingerprint is sha256 over every loaded example (qid, query, documents, gold, answer, meta), so the
same data at two paths gives the same id and a file edited in place gives a new one.
:func:`data_semantics` is what run ids hash: the DataConfig without its path arguments, plus the
fingerprint. Inside :func:`load_once` (a whole experiment, one evaluation) each data set is loaded
once, keyed by the config and the size and mtime of every file under the path arguments.
"""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from qrexp.experiment.config import DataConfig, to_dict
from qrexp.io.locks import FileLock
from qrexp.registry import Registry
from qrexp.io.files import canonical_json
from qrexp.data import load_examples
from qrexp.data.synthetic import generate_all
from qrexp.types import Example

GENERATORS: Registry[Callable[..., Any]] = Registry("data generator")
PATH_ARGS = ("path", "rows", "chapters", "claims", "source", "run")


@GENERATORS.register("synthetic")
def _synthetic(root: Path, seed: int, sizes: dict) -> None:
    generate_all(root, seed=seed, sizes=sizes)


def generated_root(cfg: DataConfig, cache_dir: str | Path, seed: int) -> Path:
    """Folder holding the generated files (generated now if missing); one per generator, seed and sizes."""
    tag = f"{cfg.generate}-seed{seed}"
    if cfg.sizes:
        tag += "-" + hashlib.sha256(canonical_json(dict(cfg.sizes)).encode()).hexdigest()[:8]
    root = Path(cache_dir) / "generated" / tag
    if not (root / "manifest.json").is_file():
        with FileLock(root.parent / ".locks" / f"{tag}.lock"):     # concurrent jobs generate once
            if not (root / "manifest.json").is_file():
                GENERATORS.get(cfg.generate)(root, seed, dict(cfg.sizes))
    return root


def loader_args(cfg: DataConfig, cache_dir: str | Path, seed: int = 0) -> dict[str, Any]:
    """The loader's keyword arguments, relative paths resolved in the generated folder (made if missing)."""
    args = dict(cfg.args)
    if cfg.generate:
        root = generated_root(cfg, cache_dir, seed)
        for key in PATH_ARGS:
            if isinstance(args.get(key), str) and not Path(args[key]).is_absolute():
                args[key] = str(root / args[key])
    return args


_memo: dict[tuple, tuple[list[Example], str]] | None = None


@contextmanager
def load_once() -> Iterator[None]:
    """Within this block each data set is loaded once: the up-front check, the run ids and the
    stages share one load (nested blocks share the memo); outside, every call loads again. The memo
    key holds the sizes and mtimes of the data files, so a file edited meanwhile is reloaded."""
    global _memo
    outer = _memo
    _memo = {} if outer is None else outer
    try:
        yield
    finally:
        _memo = outer


def load_identified(cfg: DataConfig, cache_dir: str | Path, seed: int = 0) -> tuple[list[Example], str]:
    """(examples, content fingerprint) of a data config (memoized inside :func:`load_once`).

    Raises ValueError (file, record, field) for bad data and when no example is left.
    """
    args = loader_args(cfg, cache_dir, seed)
    key = (canonical_json(to_dict(cfg)), str(cache_dir), seed, _file_state(args))
    if _memo is not None and key in _memo:
        return _memo[key]
    examples = _load(cfg, args)
    result = (examples, examples_fingerprint(examples))
    if _memo is not None:
        _memo[key] = result
    return result


def _load(cfg: DataConfig, args: dict[str, Any]) -> list[Example]:
    examples = load_examples(cfg.loader, **args)
    if cfg.limit is not None:
        if cfg.limit < 1:
            raise ValueError(f"data {cfg.name!r}: limit={cfg.limit} must be >= 1, or null for all")
        examples = examples[: cfg.limit]
    if not examples:
        raise ValueError(f"data {cfg.name!r}: the {cfg.loader} loader returned no examples")
    return examples


def load_data(cfg: DataConfig, cache_dir: str | Path, seed: int = 0) -> list[Example]:
    """The examples of a data config (generated first if needed), the first ``limit`` of them; a new list.

    Raises ValueError (file, record, field) for bad data and when no example is left.
    """
    return list(load_identified(cfg, cache_dir, seed)[0])


def examples_fingerprint(examples: Sequence[Example]) -> str:
    """First 16 hex digits of sha256 over the canonical JSON of every example, in order."""
    digest = hashlib.sha256()
    for ex in examples:
        record = {"qid": ex.qid, "query": ex.query, "docs": [[d.doc_id, d.title, d.text] for d in ex.docs],
                  "gold": sorted(ex.gold), "answer": ex.answer, "meta": ex.meta}
        digest.update(canonical_json(record).encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def data_semantics(cfg: DataConfig, cache_dir: str | Path, seed: int = 0) -> dict[str, Any]:
    """What a run id hashes for its data: the config without path arguments, plus "fingerprint"."""
    out = to_dict(cfg)
    out["args"] = {k: v for k, v in out["args"].items() if k not in PATH_ARGS}
    out["fingerprint"] = load_identified(cfg, cache_dir, seed)[1]
    return out


def data_paths(cfg: DataConfig) -> dict[str, Any]:
    """The path arguments of a data config, as given (provenance only; never part of a run id)."""
    return {k: v for k, v in cfg.args.items() if k in PATH_ARGS}


def _file_state(args: dict[str, Any]) -> tuple:
    """(path, size, mtime_ns) of every file named by, or lying under, a path argument."""
    state = []
    for key in PATH_ARGS:
        value = args.get(key)
        if not isinstance(value, (str, os.PathLike)) or not os.path.exists(value):
            continue
        files = [Path(value)] if os.path.isfile(value) else sorted(p for p in Path(value).rglob("*") if p.is_file())
        for f in files:
            st = f.stat()
            state.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(state)
