"""Turn a DataConfig into examples: generate built-in data on first use, then call the loader.

With ``generate`` set, relative paths in ``args`` are resolved inside the generated folder
(``<cache>/generated/<generator>-seed<seed>``), which is written once and reused.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from .config import DataConfig, to_dict
from .locks import FileLock
from .registry import Registry
from .store import canonical_json
from .tasks import load_examples
from .types import Example

GENERATORS: Registry[Callable[..., Any]] = Registry("data generator")
PATH_ARGS = ("path", "rows", "chapters", "source", "run")


@GENERATORS.register("synthetic")
def _synthetic(root: Path, seed: int, sizes: dict) -> None:
    from .tasks.synthetic import generate_all
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


_memo: dict[str, list[Example]] | None = None


@contextmanager
def load_once() -> Iterator[None]:
    """Within this block :func:`load_data` loads each (config, cache, seed) once and returns the same
    examples again (the up-front check and the stages share one load). Nested blocks share the memo."""
    global _memo
    outer = _memo
    _memo = {} if outer is None else outer
    try:
        yield
    finally:
        _memo = outer


def load_data(cfg: DataConfig, cache_dir: str | Path, seed: int = 0) -> list[Example]:
    """The examples of a data config (generated first if needed), the first ``limit`` of them.

    Raises ValueError (file, record, field) for bad data and when no example is left.
    """
    key = canonical_json({"data": to_dict(cfg), "cache": str(cache_dir), "seed": seed})
    if _memo is not None and key in _memo:
        return _memo[key]
    examples = _load(cfg, cache_dir, seed)
    if _memo is not None:
        _memo[key] = examples
    return examples


def _load(cfg: DataConfig, cache_dir: str | Path, seed: int) -> list[Example]:
    args = dict(cfg.args)
    if cfg.generate:
        root = generated_root(cfg, cache_dir, seed)
        for key in PATH_ARGS:
            if isinstance(args.get(key), str) and not Path(args[key]).is_absolute():
                args[key] = str(root / args[key])
    examples = load_examples(cfg.loader, **args)
    if cfg.limit is not None:
        if cfg.limit < 1:
            raise ValueError(f"data {cfg.name!r}: limit={cfg.limit} must be >= 1, or null for all")
        examples = examples[: cfg.limit]
    if not examples:
        raise ValueError(f"data {cfg.name!r}: the {cfg.loader} loader returned no examples")
    return examples
