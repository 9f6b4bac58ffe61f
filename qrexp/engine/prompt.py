"""Retrieval prompts (documents first, query last) and their token spans.

Two styles:
  reference  byte-identical to the QRHead paper code's prompt for the Llama-3 and Qwen2.5 families
             (hand-written chat markers, " \\n\\n" separators for Llama, "\\n\\n" for Qwen)
  chat       the same content rendered through the tokenizer's own chat template (any model)

Query-span modes: ``instruction`` (the paper code: late instruction + "Query: q" + chat suffix, to the
end of the prompt) and ``query`` (the query text only). Spans are half-open token ranges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from qrexp.engine.chat import render_chat
from qrexp.types import Doc, Prompt

INSTRUCTION = " Here are some paragraphs:"
# Wording kept exactly as in the paper code ("that are"), so reference prompts match byte for byte.
LATE_INSTRUCTION = "Please find information that are relevant to the following query in the paragraphs above."
REFERENCE_FAMILIES = {
    "llama3": {"prefix": "<|start_header_id|>user<|end_header_id|>",
               "suffix": "<|eot_id|><|start_header_id|>assistant<|end_header_id|>", "sep": " \n\n",
               "marker": "<|start_header_id|>"},
    "qwen2.5": {"prefix": "<|im_start|>user", "suffix": "<|im_end|>\n<|im_start|>assistant",
                "sep": "\n\n", "marker": "<|im_start|>"},
}
STYLES = ("chat", "reference")
SPAN_MODES = ("instruction", "query")


@dataclass(frozen=True)
class PromptSettings:
    """How a retrieval prompt is rendered: ``style`` "chat" (the model's chat template) or
    "reference" (the paper code's hand-written Llama-3 / Qwen2.5 template); ``query_span``
    "instruction" (query through the end of the prompt, the paper's choice) or "query" (the query
    tokens only). Raises ValueError for a value outside these choices."""
    style: str = "chat"
    query_span: str = "instruction"
    reference_family: str | None = None   # None: detected from the tokenizer's special tokens

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"prompt_style must be one of {STYLES}, got {self.style!r}")
        if self.query_span not in SPAN_MODES:
            raise ValueError(f"query_span must be one of {SPAN_MODES}, got {self.query_span!r}")
        if self.reference_family not in (None, *REFERENCE_FAMILIES):
            raise ValueError(f"reference_family must be one of {sorted(REFERENCE_FAMILIES)}")


def doc_block(index: int, doc: Doc) -> str:
    """The paper code's document text: "[i] title\\ntext" (no title line when title is None)."""
    body = doc.text if doc.title is None else f"{doc.title}\n{doc.text}"
    return f"[{index}] {body}"


def chat_query(query: str) -> str:
    """The query as the chat style renders it: stripped of surrounding whitespace.

    Chat templates such as Llama-3.x's apply Jinja's ``trim`` to message content, so a query ending
    in whitespace would otherwise not appear verbatim in the rendered prompt; stripping it first
    (str.strip, the same function ``trim`` uses) gives exactly the text the template renders.
    """
    return query.strip()


def detect_reference_family(tokenizer) -> str:
    """The key of REFERENCE_FAMILIES (the reference template's family) whose marker token is in the tokenizer's vocabulary; ValueError for any other tokenizer."""
    vocab = tokenizer.get_vocab()
    for name, fam in REFERENCE_FAMILIES.items():
        if fam["marker"] in vocab:
            return name
    raise ValueError("prompt_style='reference' is defined for Llama-3 and Qwen2.5 chat tokenizers; "
                     "this tokenizer has neither, use prompt_style='chat'")


class PromptBuilder:
    """Builds :class:`Prompt` objects for one tokenizer and one set of prompt settings."""

    def __init__(self, tokenizer, settings: PromptSettings = PromptSettings(),
                 max_length: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.max_length = max_length
        self.family = None
        if settings.style == "reference":
            self.family = settings.reference_family or detect_reference_family(tokenizer)

    # ---- text --------------------------------------------------------------------------------
    def _body(self, query: str, docs: Sequence[Doc], sep: str, lead: str):
        """Prompt body and char spans: (text, doc char spans, instruction start, query text span)."""
        text, spans = lead, []
        for i, doc in enumerate(docs):
            text += sep
            block = doc_block(i + 1, doc)
            spans.append((len(text), len(text) + len(block)))
            text += block
        text += sep
        instr = len(text)
        text += LATE_INSTRUCTION + sep + "Query:"
        q0 = len(text) + 1
        text += " " + query
        return text, spans, instr, (q0, q0 + len(query))

    def render(self, query: str, docs: Sequence[Doc]):
        """Full prompt text, doc char spans, query char span, and whether to add special tokens."""
        if self.settings.style == "reference":
            fam = REFERENCE_FAMILIES[self.family]
            body, spans, instr, qtext = self._body(query, docs, fam["sep"], fam["prefix"] + INSTRUCTION)
            text, shift, add_special = body + fam["suffix"], 0, True
        else:
            body, spans, instr, qtext = self._body(chat_query(query), docs, "\n\n", INSTRUCTION.lstrip())
            text = render_chat(self.tokenizer, body)
            shift, add_special = text.find(body), False
            if shift < 0:
                raise ValueError("the chat template changes the prompt body (beyond trimming its ends); "
                                 "use model.prompt_style=reference")
        spans = [(s + shift, e + shift) for s, e in spans]
        if self.settings.query_span == "instruction":
            qspan = (instr + shift, len(text))
        else:
            qspan = (qtext[0] + shift, qtext[1] + shift)
        return text, spans, qspan, add_special

    # ---- tokens ------------------------------------------------------------------------------
    def build(self, query: str, docs: Sequence[Doc | Mapping[str, Any]], qid: str = "?") -> Prompt:
        """Render and tokenize the prompt: a :class:`qrexp.types.Prompt` with token spans [start, end)
        of every document and of the query (to the prompt's end in "instruction" mode), and
        ``cont_start`` where the query-dependent part begins. Raises ValueError naming ``qid`` for no
        documents, an empty query, a prompt longer than the context window, or a span that cannot
        be located in the tokens."""
        docs = [Doc.from_any(d) for d in docs]
        if not docs:
            raise ValueError(f"example {qid}: no documents to score")
        if not query.strip():
            raise ValueError(f"example {qid}: empty query")
        text, doc_chars, q_chars, add_special = self.render(query, docs)
        enc = self.tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(f"example {qid}: prompt has {len(ids)} tokens, more than the model's "
                             f"context window of {self.max_length}; use fewer or shorter documents")
        doc_spans = []
        for doc, (c0, c1) in zip(docs, doc_chars):
            doc_spans.append(token_span(offsets, c0, c1, f"example {qid}, document {doc.doc_id}"))
        q_span = token_span(offsets, *q_chars, f"example {qid}, query span")
        if self.settings.query_span == "instruction":
            q_span = (q_span[0], len(ids))           # the chat suffix up to the prompt's end
        return Prompt(text=text, input_ids=tuple(ids), query_span=q_span,
                      doc_spans=tuple(doc_spans), doc_ids=tuple(d.doc_id for d in docs),
                      cont_start=q_span[0])


def token_span(offsets: np.ndarray, c0: int, c1: int, what: str) -> tuple[int, int]:
    """Half-open token range of the tokens overlapping chars [c0, c1) (zero-width tokens ignored)."""
    s, e = offsets[:, 0], offsets[:, 1]
    hit = np.nonzero((e > s) & (e > c0) & (s < c1))[0]
    if len(hit) == 0:
        raise ValueError(f"{what}: cannot be located in the tokenized prompt (chars {c0}-{c1})")
    return int(hit[0]), int(hit[-1]) + 1
