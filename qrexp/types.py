"""Plain, frozen data types shared by every stage of the pipeline.

Shapes used across the package (L = layers, H = heads per layer, T = tokens, D = documents):
  TokenScores  [L, H, T]  mean attention from the query span to every token (fp32)
  DocScores    [D, L, H]  per-head document scores (per-head outlier mask)
  HeadScores   [L, H]     one detection score per head
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

Run = dict[str, dict[str, float]]   # {qid: {doc_id: score}}
Qrels = dict[str, dict[str, int]]   # {qid: {doc_id: relevance}}
Head = tuple[int, int]              # (layer, head)


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
