"""On-disk cache of per-example score tensors, so that changing the detection objective, k, head
source or evaluation subset never repeats a forward pass.

Two kinds of record per example (sizes: :mod:`qrexp.engine.cache_plan`):

- ``doc_scores``: DocScores [D, L, H] float32, exact (what detection and per-head aggregation read),
  one per (calibrate, mask sigma).
- ``doc_token_scores``: TokenScores of the document tokens only, [2, L, H, T_doc] (calibrated
  c = s - s0, then raw s), stored as float16 with one power-of-two scale per row [2, L, H] float32
  (:func:`half_round`: relative rounding <= 2^-11 per value); optionally byte-shuffled and
  zlib-compressed (saves 9-16% on attention rows at ~13 MB/s, so off unless asked for).

Keys are sha256 fingerprints of what was computed (:func:`scores_key`): the prompt token ids actually
scored with their spans (:func:`prompt_digest`, real and null prompt), the loaded model's identity
with its weights fingerprint and the scoring settings; gold labels, objective and k take no part.

File format (no pickle): a 512-byte JSON header (format, key, kind, parts with dtype and shape,
codec, payload length, CRC-32 of the payload) then the payload. Files live at
``<root>/<key[:2]>/<key>.scores``; each is written to a unique temp file and moved into place
(os.replace), so processes sharing one cache never see a torn file. An unreadable file, one stored
under another key or one whose tensor shape does not fit the prompt it is read for is reported with
a warning, deleted and recomputed, never served.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch

from qrexp.io.files import atomic_write_bytes, canonical_json
from qrexp.types import Example, Prompt

CACHE_FORMAT = "qrexp.doc_scores.v1"      # part of every key (changing it orphans every cache)
RECORD_FORMAT = "qrexp.score_cache.v2"    # the file layout below
HEADER_BYTES = 512
SUFFIX = ".scores"
_KEY = re.compile(r"^[0-9a-f]{64}$")
_DTYPES = {"float32": (torch.float32, np.float32), "float16": (torch.float16, np.float16)}


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


# ---------------------------------------------------------------------------------- half codec
def half_encode(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[..., T] float -> (scales [...] float32, powers of two; values [..., T] float16).

    Each row is divided by 2^(e-15) where max|row| < 2^e, so every value lies in (-2^15, 2^15) and
    keeps float16's 11-bit mantissa (relative rounding <= 2^-11) down to 2^-24 of the row maximum."""
    x = x.detach().to("cpu", torch.float32)
    amax = x.abs().amax(-1) if x.shape[-1] else torch.zeros(x.shape[:-1])
    _, exponent = torch.frexp(amax)
    scales = torch.where(amax > 0, torch.ldexp(torch.ones_like(amax), exponent - 15), torch.ones_like(amax))
    return scales, (x / scales.unsqueeze(-1)).to(torch.float16)


def half_decode(scales: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`half_encode` -> float32 [..., T] (exact: the scales are powers of two)."""
    return values.to(torch.float32) * scales.unsqueeze(-1)


def half_round(x: torch.Tensor) -> torch.Tensor:
    """``x`` as the cache stores it: float32 values that float16 rows with a scale can hold."""
    return half_decode(*half_encode(x))


# ---------------------------------------------------------------------------------- records
def _shuffle(a: np.ndarray) -> bytes:
    """Bytes grouped by position within each item (exponent bytes together: they compress)."""
    return a.reshape(-1).view(np.uint8).reshape(-1, a.itemsize).T.tobytes()


def _unshuffle(raw: bytes, dtype, count: int) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    return np.frombuffer(raw, np.uint8).reshape(size, count).T.copy().view(dtype).reshape(-1)


def encode_record(key: str, kind: str, parts: Mapping[str, torch.Tensor], compress: bool) -> bytes:
    """The file bytes of one record: 512-byte JSON header + payload (zlib over shuffled bytes)."""
    arrays = {n: t.detach().to("cpu").contiguous().numpy() for n, t in parts.items()}
    if compress:
        payload = zlib.compress(b"".join(_shuffle(a) for a in arrays.values()), 1)
    else:
        payload = b"".join(a.tobytes() for a in arrays.values())
    header = canonical_json({"format": RECORD_FORMAT, "key": key, "kind": kind,
                             "codec": "zlib-shuffle" if compress else "raw",
                             "parts": [[n, str(a.dtype), list(a.shape)] for n, a in arrays.items()],
                             "payload_bytes": len(payload), "crc32": zlib.crc32(payload)}).encode()
    if len(header) >= HEADER_BYTES:
        raise ValueError(f"score cache: header of {len(header)} bytes for key {key[:12]}...")
    return header + b" " * (HEADER_BYTES - 1 - len(header)) + b"\n" + payload


def decode_record(raw: bytes, key: str) -> tuple[str, dict[str, torch.Tensor]]:
    """(kind, {part name: tensor}) from file bytes; ValueError naming what is wrong."""
    head = json.loads(raw[:HEADER_BYTES].decode("utf-8"))
    if not isinstance(head, dict) or head.get("format") != RECORD_FORMAT:
        raise ValueError("not a qrexp score-cache record")
    if head.get("key") != key:
        raise ValueError(f"stored under key {str(head.get('key'))[:12]}...")
    payload = raw[HEADER_BYTES:]
    if len(payload) != head["payload_bytes"] or zlib.crc32(payload) != head["crc32"]:
        raise ValueError(f"payload of {len(payload)} bytes fails its length or CRC-32 check")
    if head["codec"] == "zlib-shuffle":
        payload = zlib.decompress(payload)
    out, offset = {}, 0
    for name, dtype, shape in head["parts"]:
        tdtype, ndtype = _DTYPES[dtype]
        count = int(np.prod(shape, dtype=np.int64))
        chunk = payload[offset: offset + count * np.dtype(ndtype).itemsize]
        offset += len(chunk)
        arr = (_unshuffle(chunk, ndtype, count) if head["codec"] == "zlib-shuffle"
               else np.frombuffer(chunk, ndtype).copy())
        out[name] = torch.from_numpy(arr.reshape(shape)).to(tdtype)
    if offset != len(payload):
        raise ValueError("payload length does not match its parts")
    return head["kind"], out


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
        """Cached value for ``key``; on a miss call ``fn()`` once, store and return it.

        ``shape``: the shape the value must have (checked on read and on compute; a computed value
        of another shape raises RuntimeError and is not stored)."""
        value = self.get(key, shape)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = fn()
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise RuntimeError(f"score cache: computed a tensor of shape {list(value.shape)} for key "
                               f"{key[:12]}..., expected {list(shape)}")
        self.put(key, value)
        return value

    def put_tokens(self, key: str, tokens: torch.Tensor, compress: bool = False) -> Path:
        """Store document TokenScores [2, L, H, T_doc] as float16 rows + scales (:func:`half_encode`)."""
        scales, values = half_encode(tokens)
        return atomic_write_bytes(self.path(key), encode_record(
            key, "doc_token_scores", {"scales": scales, "values": values}, compress))

    def get_tokens(self, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """Document TokenScores [2, L, H, T_doc] float32 as stored (None when absent or unsound)."""
        parts = self._read(key, "doc_token_scores", None if shape is None else {"values": shape})
        return None if parts is None else half_decode(parts["scales"], parts["values"])


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
