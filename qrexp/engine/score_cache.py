"""On-disk cache of per-example score tensors, so that changing the detection objective, k, head
source or evaluation subset never repeats a forward pass.

Two kinds of record per example (sizes: :mod:`qrexp.engine.cache_plan`):

- ``doc_scores``: DocScores [D, L, H] float32, exact (what detection and per-head aggregation read),
  one per (calibrate, mask sigma).
- ``doc_token_scores``: TokenScores of the document tokens only, [2, L, H, T_doc] (calibrated
  c = s - s0, then raw s), stored as float32 (exact, the default) or, on request, as float16 with one
  power-of-two scale per row [2, L, H] float32 (:func:`qrexp.engine.cache_records.half_round`:
  relative rounding <= 2^-11 per value; the dtype is part of the key); optionally
  byte-shuffled and zlib-compressed (saves 9-16% on attention rows at ~13 MB/s, so off unless asked).

Keys are sha256 fingerprints of what was computed (:func:`scores_key`): the prompt token ids actually
scored with their spans (:func:`prompt_digest`, real and null prompt), the loaded model's identity
with its weights fingerprint and the scoring settings; gold labels, objective and k take no part.

File format (no pickle; :mod:`qrexp.engine.cache_records`): a 512-byte JSON header then the
payload. Files live at
``<root>/<key[:2]>/<key>.scores``; each is written to a unique temp file and moved into place
(os.replace), so processes sharing one cache never see a torn file. A process about to compute a
missing entry takes that entry's lock (:meth:`ScoreCache.lock`: ``<key>.lock`` next to it, a POSIX
flock, :class:`qrexp.io.locks.FileLock`, removed on release) and reads the cache again once it holds
it, so a second process asking for an entry another one is computing waits and reads it instead of
computing it again; an entry already on disk is read without any lock. An unreadable file, one stored
under another key or one whose tensor shape does not fit the prompt it is read for is reported with
a warning, deleted and recomputed, never served.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch

from qrexp.engine.cache_records import decode_record, encode_record, half_decode, half_encode
from qrexp.io.files import atomic_write_bytes, canonical_json
from qrexp.io.locks import FileLock
from qrexp.types import Example, Prompt

CACHE_FORMAT = "qrexp.doc_scores.v1"      # part of every key (changing it orphans every cache)
SUFFIX = ".scores"
LOCK_SUFFIX = ".lock"
_log = logging.getLogger(__name__)
_KEY = re.compile(r"^[0-9a-f]{64}$")


def _plain(value: Any) -> Any:
    """Dataclasses (incl. Example) -> dicts so they can be hashed as canonical JSON."""
    if isinstance(value, Example):
        return example_content(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fingerprint(**parts: Any) -> str:
    """sha256 hex of the canonical JSON of ``parts`` (plus the cache format version)."""
    payload = canonical_json({"cache_format": CACHE_FORMAT, **{k: _plain(v) for k, v in parts.items()}})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def example_content(example: Example) -> dict[str, Any]:
    """What DocScores depend on in an example: qid, query and the docs in order (not gold/answer)."""
    return {"qid": example.qid, "query": example.query,
            "docs": [{"id": d.doc_id, "title": d.title, "text": d.text} for d in example.docs]}


def prompt_digest(prompt: Prompt | None) -> str | None:
    """sha256 hex of a tokenized prompt as scored: token ids, query span, document spans and the
    continuation start (None for no prompt, e.g. no null prompt)."""
    if prompt is None:
        return None
    payload = canonical_json({"ids": [int(i) for i in prompt.input_ids],
                              "query_span": list(prompt.query_span),
                              "doc_spans": [list(s) for s in prompt.doc_spans],
                              "cont_start": int(prompt.cont_start)})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def scores_key(kind: str, prompts: Iterable[Prompt | None], *, model: Mapping[str, Any],
               settings: Any, **extra: Any) -> str:
    """The cache key of one example's ``kind`` tensor: the digests of the prompts scored (real,
    null), the model identity (with its weights fingerprint), the settings (mapping or dataclass)
    and any ``extra`` options that change the tensor (calibrate, mask sigma)."""
    return fingerprint(kind=kind, prompts=[prompt_digest(p) for p in prompts], model=model,
                       settings=settings, **extra)


class ScoreCache:
    """Per-example tensors on disk: get / put / get_or_compute for DocScores, get_tokens /
    put_tokens for document TokenScores, with hit/miss counters."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"score cache: bad key {key!r:.80} (expected 64 lowercase hex digits)")
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def lock(self, key: str, wait: bool = True) -> FileLock:
        """The compute lock of entry ``key``: ``<root>/<key[:2]>/<key>.lock`` (a context manager;
        waiting is logged at INFO level). With ``wait=False`` acquiring raises
        :class:`qrexp.io.locks.LockTimeout` at once when another process holds it."""
        return FileLock(self.path(key).with_suffix(LOCK_SUFFIX), log=_log.info, poll_s=0.05,
                        timeout_s=None if wait else 0.0)

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def bytes_on_disk(self) -> int:
        """Total size in bytes of the records under ``root`` (temp files excluded)."""
        return sum(p.stat().st_size for p in self.root.glob(f"??/*{SUFFIX}"))

    def _read(self, key: str, kind: str, shapes: Mapping[str, tuple] | None) -> dict | None:
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            got_kind, parts = decode_record(raw, key)
            problem = None if got_kind == kind else f"holds {got_kind!r}, not {kind!r}"
            for name, shape in (shapes or {}).items():
                if problem is None and tuple(parts[name].shape) != tuple(shape):
                    problem = (f"holds a tensor of shape {list(parts[name].shape)}, the prompt "
                               f"needs {list(shape)}")
        except Exception as e:  # truncated / garbage file
            problem = f"unreadable ({type(e).__name__}: {str(e)[:80]})"
        if problem:
            warnings.warn(f"score cache {path}: {problem}; recomputing", RuntimeWarning, stacklevel=3)
            path.unlink(missing_ok=True)
            return None
        return parts

    def get(self, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """The cached DocScores tensor, or None if absent, unreadable or (``shape`` given) of
        another shape than the prompt it is read for needs; such a file is warned about and deleted."""
        parts = self._read(key, "doc_scores", None if shape is None else {"doc_scores": shape})
        return None if parts is None else parts["doc_scores"]

    def put(self, key: str, tensor: torch.Tensor) -> Path:
        """Store ``tensor`` exactly (its dtype, uncompressed) atomically; returns the file path."""
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"score cache: value for key {key[:12]}... must be a tensor, "
                            f"got {type(tensor).__name__}")
        return atomic_write_bytes(self.path(key), encode_record(key, "doc_scores",
                                                                {"doc_scores": tensor}, False))

    def get_or_compute(self, key: str, fn: Callable[[], torch.Tensor],
                       shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """Cached value for ``key``; on a miss call ``fn()`` once, store and return it. A process that
        finds the entry being computed by another (its lock held) waits, then reads it.

        ``shape``: the shape the value must have (checked on read and on compute; a computed value
        of another shape raises RuntimeError and is not stored)."""
        value = self.get(key, shape)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        with self.lock(key):
            value = self.get(key, shape)                # written while this process waited
            return value if value is not None else self._compute(key, fn, shape)

    def _compute(self, key: str, fn: Callable[[], torch.Tensor], shape: tuple[int, ...] | None) -> torch.Tensor:
        value = fn()
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise RuntimeError(f"score cache: computed a tensor of shape {list(value.shape)} for key "
                               f"{key[:12]}..., expected {list(shape)}")
        self.put(key, value)
        return value

    def put_tokens(self, key: str, tokens: torch.Tensor, compress: bool = False,
                   token_dtype: str = "float32") -> Path:
        """Store document TokenScores [2, L, H, T_doc]: float32 as given (exact), or float16 rows +
        power-of-two scales (``token_dtype="float16"``, :func:`half_encode`); atomically."""
        if token_dtype == "float16":
            scales, values = half_encode(tokens)
            parts = {"scales": scales, "values": values}
        else:
            parts = {"values": tokens.to(torch.float32).contiguous()}
        return atomic_write_bytes(self.path(key), encode_record(key, "doc_token_scores", parts, compress))

    def get_tokens(self, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """Document TokenScores [2, L, H, T_doc] float32 as stored (None when absent or unsound)."""
        parts = self._read(key, "doc_token_scores", None if shape is None else {"values": shape})
        if parts is None:
            return None
        return half_decode(parts["scales"], parts["values"]) if "scales" in parts else parts["values"]


def cached_doc_scores(cache: ScoreCache, keys: Iterable[str]) -> Iterator[torch.Tensor]:
    """DocScores for already-cached keys, read lazily; a missing key is a KeyError naming it."""
    for i, key in enumerate(keys):
        value = cache.get(key)
        if value is None:
            raise KeyError(f"score cache {cache.root}: no DocScores for example {i} (key {key[:12]}...)")
        yield value


def iter_doc_scores(examples: Iterable[Example], cache: ScoreCache, key_of: Callable[[Example], str],
                    compute: Callable[[Example], torch.Tensor]) -> Iterator[torch.Tensor]:
    """DocScores [D, L, H] of each example, from the cache or computed (and cached) on a miss."""
    for ex in examples:
        yield cache.get_or_compute(key_of(ex), lambda ex=ex: compute(ex))
