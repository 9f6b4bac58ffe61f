"""The reference code's instance JSON, shared by BEIR, LongMemEval and CLIPPER in the QRHead release.

One instance::

    {"idx": "q1", "question": "...", "paragraphs": [{"idx": "d1", "title": "...", "paragraph_text": "..."}],
     "gt_docs": ["d1"], "num_gold_docs": 1}

The file is a JSON array or JSONL. Fields other than idx / question / paragraphs / gt_docs /
num_gold_docs / answer go to ``Example.meta`` (as does a "meta" object written by
:func:`write_instances`), so a write-then-load round trip returns equal examples with equal meta.
gt_docs ids need not be among the paragraphs (a gold document the candidates missed stays gold).
"""
from __future__ import annotations

import os
from typing import Any, Iterable

from qrexp.io.jsonio import Rec, check_id, read_records, write_json, write_jsonl
from qrexp.types import Doc, Example

_CORE = ("idx", "question", "paragraphs", "gt_docs", "num_gold_docs", "answer", "meta")
_ID = (str, int)


def _paragraph(rec: Rec, i: int, para: Any) -> Doc:
    field = f"paragraphs[{i}]"
    if not isinstance(para, dict):
        raise rec.error(f"field {field!r} must be an object, got {type(para).__name__}")
    for key in ("idx", "paragraph_text"):
        if key not in para:
            raise rec.error(f"field {field!r}: missing field {key!r}")
    if not isinstance(para["idx"], _ID) or isinstance(para["idx"], bool):
        raise rec.error(f"field {field + '.idx'!r} must be str or int, got {type(para['idx']).__name__}")
    if not isinstance(para["paragraph_text"], str):
        raise rec.error(f"field {field + '.paragraph_text'!r} must be str, "
                        f"got {type(para['paragraph_text']).__name__}")
    title = para.get("title")
    if title is not None and not isinstance(title, str):
        raise rec.error(f"field {field + '.title'!r} must be str or null, got {type(title).__name__}")
    return Doc(doc_id=check_id(para["idx"], rec.where, field + ".idx"), text=para["paragraph_text"],
               title=title)


def instance_to_example(rec: Rec) -> Example:
    """Convert one located instance record; every problem names the record and field."""
    qid = rec.get("idx", _ID)
    question = rec.get("question", str)
    paragraphs = rec.get("paragraphs", list)
    docs = [_paragraph(rec, i, p) for i, p in enumerate(paragraphs)]
    ids = [d.doc_id for d in docs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise rec.error(f"field 'paragraphs' repeats idx {dup[:3]}")
    gold = rec.get("gt_docs", list)
    bad = [g for g in gold if not isinstance(g, _ID) or isinstance(g, bool)]
    if bad:
        raise rec.error(f"field 'gt_docs' must list str or int ids, got {bad[0]!r}")
    for i, g in enumerate(gold):
        check_id(g, rec.where, f"gt_docs[{i}]")
    answer = rec.get("answer", default=None)
    meta = dict(rec.get("meta", dict, default={}))
    meta.update({k: v for k, v in rec.data.items() if k not in _CORE})
    return Example(qid=str(qid), query=question, docs=tuple(docs), gold=frozenset(gold),
                   answer=None if answer is None else str(answer), meta=meta)


def load_instances(path: str | os.PathLike, limit: int | None = None) -> list[Example]:
    """Read instances (the QRHead paper code's retrieval format: ``idx``, ``question``,
    ``paragraphs`` [{"idx", "title"?, "paragraph_text"}], ``gt_docs``) from a JSON array or JSONL
    file -> one Example each; ``limit`` keeps the first N. Raises ValueError naming file, record
    and field for a malformed instance; FileNotFoundError for a missing file."""
    records = read_records(path, id_field="idx")
    if limit is not None:
        records = records[:limit]
    examples = [instance_to_example(r) for r in records]
    seen: set[str] = set()
    for rec, ex in zip(records, examples):
        if ex.qid in seen:
            raise rec.error(f"field 'idx': duplicate instance id {ex.qid!r}")
        seen.add(ex.qid)
    return examples


def example_to_instance(ex: Example) -> dict[str, Any]:
    """The instance dict for one example; gold ids are listed in document order."""
    record: dict[str, Any] = {
        "idx": ex.qid,
        "question": ex.query,
        "paragraphs": [{"idx": d.doc_id, "title": d.title, "paragraph_text": d.text} for d in ex.docs],
        "gt_docs": [d for d in ex.doc_ids if d in ex.gold] + sorted(ex.gold - set(ex.doc_ids)),
        "num_gold_docs": len(ex.gold),
    }
    if ex.answer is not None:
        record["answer"] = ex.answer
    if ex.meta:
        record["meta"] = dict(ex.meta)
    return record


def write_instances(examples: Iterable[Example], path: str | os.PathLike) -> None:
    """Atomically write examples as instances: JSONL if ``path`` ends in .jsonl, else a JSON array."""
    records = [example_to_instance(ex) for ex in examples]
    if str(path).lower().endswith(".jsonl"):
        write_jsonl(records, path)
    else:
        write_json(records, path)
