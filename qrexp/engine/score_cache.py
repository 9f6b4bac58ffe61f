"""On-disk cache of per-example score tensors (TokenScores pairs, DocScores [D, L, H]), so that
changing the detection objective, k, head source or evaluation subset never repeats a forward pass.

Keys are sha256 fingerprints of what was computed (:func:`scores_key`): the prompt token ids actually
scored with their spans (:func:`prompt_digest`, real and null prompt), the loaded model's identity
with its weights fingerprint (:func:`qrexp.engine.models.model_fingerprint`) and the scoring settings; not
of the settings alone, since a prompt can change while they do not (an edited tokenizer or chat
template, a template that renders the date, another transformers version). Gold labels, objective
and k take no part. Files live at ``<root>/<key[:2]>/<key>.pt``; each is written to a temp file and
moved into place (os.replace). An unreadable file, or one whose tensor shape does not fit the prompt
it is read for, is reported with a warning, deleted and recomputed, never served.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch

from qrexp.heads.objectives import detect
from qrexp.io.files import atomic_write_bytes, canonical_json
from qrexp.types import Example, Prompt

CACHE_FORMAT = "qrexp.doc_scores.v1"
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
    """Per-example tensors on disk: get / put / get_or_compute, with hit/miss counters."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"score cache: bad key {key!r:.80} (expected 64 lowercase hex digits)")
        return self.root / key[:2] / f"{key}.pt"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """The cached tensor, or None if absent, unreadable or (``shape`` given) of another shape
        than the prompt it is read for needs; such a file is warned about and deleted."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            rec = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            problem = None
            if not isinstance(rec, dict) or rec.get("format") != CACHE_FORMAT:
                problem = "not a qrexp DocScores record"
            elif rec.get("key") != key:
                problem = f"stored under key {str(rec.get('key'))[:12]}..."
            elif not isinstance(rec.get("doc_scores"), torch.Tensor):
                problem = "field 'doc_scores' is not a tensor"
            elif shape is not None and tuple(rec["doc_scores"].shape) != tuple(shape):
                problem = (f"holds a tensor of shape {list(rec['doc_scores'].shape)}, the prompt "
                           f"needs {list(shape)}")
        except Exception as e:  # truncated / garbage file: torch raises several types
            problem = f"unreadable ({type(e).__name__}: {str(e)[:80]})"
        if problem:
            warnings.warn(f"score cache {path}: {problem}; recomputing", RuntimeWarning, stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        return rec["doc_scores"]

    def put(self, key: str, tensor: torch.Tensor) -> Path:
        """Store a CPU copy of ``tensor`` atomically; returns the file path."""
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"score cache: value for key {key[:12]}... must be a tensor, "
                            f"got {type(tensor).__name__}")
        buf = io.BytesIO()
        record = {"format": CACHE_FORMAT, "key": key,
                  "doc_scores": tensor.detach().to("cpu").contiguous().clone()}
        torch.save(record, buf)
        return atomic_write_bytes(self.path(key), buf.getvalue())

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


def iter_doc_scores(examples: Iterable[Example], cache: ScoreCache, key_of: Callable[[Example], str],
                    compute: Callable[[Example], torch.Tensor]) -> Iterator[torch.Tensor]:
    """DocScores [D, L, H] of each example, from the cache or computed (and cached) on a miss."""
    for ex in examples:
        yield cache.get_or_compute(key_of(ex), lambda ex=ex: compute(ex))


def cached_doc_scores(cache: ScoreCache, keys: Iterable[str]) -> Iterator[torch.Tensor]:
    """DocScores for already-cached keys, read lazily; a missing key is a KeyError naming it."""
    for i, key in enumerate(keys):
        value = cache.get(key)
        if value is None:
            raise KeyError(f"score cache {cache.root}: no DocScores for example {i} (key {key[:12]}...)")
        yield value


def detect_from_cache(cache: ScoreCache, keys: Iterable[str], relevance: Iterable[torch.Tensor],
                      objective: str = "qrscore") -> torch.Tensor:
    """Run a detection objective over cached DocScores only (no model) -> HeadScores [L, H]."""
    return detect(objective, cached_doc_scores(cache, keys), relevance)
