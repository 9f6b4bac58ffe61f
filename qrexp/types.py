"""Plain, frozen data types shared by every stage of the pipeline.

Shapes used across the package (L = layers, H = heads per layer, T = tokens, D = documents):
  TokenScores  [L, H, T]  mean attention from the query span to every token (fp32)
  DocScores    [D, L, H]  per-head document scores (per-head outlier mask)
  HeadScores   [L, H]     one detection score per head

Also the two small helpers every stage shares: :func:`rank_by_score` (the one ranking and tie-break
rule of the package) and :func:`heads_by_layer` (the one heads -> {layer: heads} map).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Mapping, TypeVar

Run = dict[str, dict[str, float]]   # {qid: {doc_id: score}}
Qrels = dict[str, dict[str, int]]   # {qid: {doc_id: relevance}}
Head = tuple[int, int]              # (layer, head)

_HEAD_TOKEN = re.compile(r"^(\d+)-(\d+)$")
K = TypeVar("K", bound=Hashable)


class ConfigError(ValueError):
    """A config value that cannot be used (one line: path, value, expected, fix)."""


@dataclass(frozen=True)
class Doc:
    """One retrieval unit (passage, chat round, chapter)."""
    doc_id: str
    text: str
    title: str | None = None

    @classmethod
    def from_any(cls, doc: "Doc | Mapping[str, Any]") -> "Doc":
        """Accept a Doc or a paper-code paragraph dict {"idx", "title"?, "paragraph_text"}."""
        if isinstance(doc, Doc):
            return doc
        missing = [k for k in ("idx", "paragraph_text") if k not in doc]
        if missing:
            raise ValueError(f"document {dict(doc)!r:.80} lacks field(s) {missing}")
        title = doc.get("title")
        return cls(doc_id=str(doc["idx"]), text=str(doc["paragraph_text"]),
                   title=None if title is None else str(title))


@dataclass(frozen=True)
class Example:
    """A query with its candidate documents and the ids of the gold ones."""
    qid: str
    query: str
    docs: tuple[Doc, ...]
    gold: frozenset[str] = frozenset()
    answer: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "docs", tuple(self.docs))
        object.__setattr__(self, "gold", frozenset(str(g) for g in self.gold))
        ids = [d.doc_id for d in self.docs]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
            raise ValueError(f"example {self.qid}: duplicate doc ids {dup}")

    @property
    def doc_ids(self) -> list[str]:
        """The candidates' doc ids in the given order."""
        return [d.doc_id for d in self.docs]


@dataclass(frozen=True)
class Prompt:
    """A tokenized retrieval prompt.

    Spans are half-open token ranges [start, end) into ``input_ids``. ``cont_start`` is where the
    query-dependent continuation begins: every token before it is shared with the null-query prompt,
    so its KV cache is computed once and reused.
    """
    text: str
    input_ids: tuple[int, ...]
    query_span: tuple[int, int]
    doc_spans: tuple[tuple[int, int], ...]
    doc_ids: tuple[str, ...]
    cont_start: int

    def __len__(self) -> int:
        return len(self.input_ids)


def rank_by_score(scores: Mapping[K, float], where: str = "ranking", item: str = "key") -> list[K]:
    """The keys of ``scores`` best first: score descending, equal scores by key ascending.

    The one ranking rule of the package (documents, heads, first-stage candidates). Keys must be
    mutually comparable: doc ids (str) tie in string order, so "a" ranks before "b"; heads
    ``(layer, head)`` tie in (layer, head) order. Python's sort is stable and the key is total, so the
    order is deterministic whatever the mapping's insertion order. pytrec_eval / trec_eval break ties
    by doc id *descending*; qrexp.io.trec.rank_scores makes written scores strictly decreasing so
    those tools see this order.

    Raises ValueError ``"<where>, <item> <key>: score is NaN"`` for a NaN score (a NaN has no place
    in an order), e.g. where="run: query 'q7'", item="doc".
    """
    for key, score in scores.items():
        if score != score:                                    # NaN of any float type
            raise ValueError(f"{where}, {item} {key!r}: score is NaN")
    return sorted(scores, key=lambda key: (-scores[key], key))


def heads_by_layer(heads: Iterable[Head]) -> dict[int, list[int]]:
    """(layer, head) pairs -> {layer: [head, ...]}, layers ascending, heads ascending per layer.

    The form the capture and masking code take (qrexp.engine.forward ``Heads``, qrexp.engine.generate
    ``MaskHeads``). Duplicates are kept (a HeadSet has none); indices become ``int``.
    """
    out: dict[int, list[int]] = {}
    for layer, head in heads:
        out.setdefault(int(layer), []).append(int(head))
    return {layer: sorted(hs) for layer, hs in sorted(out.items())}


def format_head(head: Head) -> str:
    """(13, 18) -> "13-18"."""
    return f"{head[0]}-{head[1]}"


def parse_head(token: str, where: str = "head set") -> Head:
    """"13-18" -> (13, 18); anything else is a ValueError naming ``where`` and the token."""
    m = _HEAD_TOKEN.match(token.strip()) if isinstance(token, str) else None
    if m is None:
        raise ValueError(f"{where}: bad head token {token!r} (expected 'layer-head', e.g. '13-18')")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class HeadSet:
    """An ordered, duplicate-free set of (layer, head) pairs; n_layers/n_heads enable range checks."""
    name: str
    heads: tuple[Head, ...]
    n_layers: int | None = None
    n_heads: int | None = None

    def __post_init__(self) -> None:
        heads = tuple((int(l), int(h)) for l, h in self.heads)
        object.__setattr__(self, "heads", heads)
        if not heads:
            raise ValueError(f"head set {self.name!r}: no heads")
        seen: set[Head] = set()
        for head in heads:
            tok = format_head(head)
            if head in seen:
                raise ValueError(f"head set {self.name!r}: duplicate head {tok!r}")
            seen.add(head)
            layer, h = head
            if layer < 0 or h < 0:
                raise ValueError(f"head set {self.name!r}: negative index in head {tok!r}")
            if self.n_layers is not None and layer >= self.n_layers:
                raise ValueError(f"head set {self.name!r}: head {tok!r} out of range "
                                 f"(layer must be < n_layers={self.n_layers})")
            if self.n_heads is not None and h >= self.n_heads:
                raise ValueError(f"head set {self.name!r}: head {tok!r} out of range "
                                 f"(head must be < n_heads={self.n_heads})")

    @classmethod
    def full(cls, n_layers: int, n_heads: int) -> "HeadSet":
        """Every head of an ``n_layers`` x ``n_heads`` model, layer-major, named "full" (the ICR
        setting: all heads, paper Section 4 baseline). Raises ValueError for a zero-sized model."""
        return cls("full", tuple((l, h) for l in range(n_layers) for h in range(n_heads)),
                   n_layers, n_heads)

    @classmethod
    def parse(cls, text: str, name: str = "heads", n_layers: int | None = None,
              n_heads: int | None = None) -> "HeadSet":
        """Parse the paper's comma-separated "layer-head" list, e.g. "13-18,13-21,8-11"."""
        where = f"head set {name!r}"
        tokens = [t.strip() for t in str(text).split(",")]
        return cls(name, tuple(parse_head(t, where) for t in tokens), n_layers, n_heads)

    def format(self) -> str:
        """The paper's string form, heads in order: "13-18,13-21,..."."""
        return ",".join(format_head(h) for h in self.heads)

    def top(self, k: int) -> "HeadSet":
        """The first k heads (all if k >= len)."""
        if k < 1:
            raise ValueError(f"head set {self.name!r}: k must be >= 1, got {k}")
        return HeadSet(f"{self.name}-top{k}", self.heads[:k], self.n_layers, self.n_heads)

    def __len__(self) -> int:
        return len(self.heads)

    def __iter__(self):
        return iter(self.heads)

    def __contains__(self, head: object) -> bool:
        return head in self.heads
