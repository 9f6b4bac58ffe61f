"""Needle-in-a-haystack examples: filler units + one needle sentence at a chosen depth, cut into chunks.

The context is built from whole haystack units (sentences or paragraphs, taken in order and cycled)
until adding the next one would pass ``length`` tokens (needle included). The needle goes in at the
unit boundary at or before ``depth`` (0 = first, 1 = last) of the filler tokens. Units are then packed
greedily into chunks of at most ``chunk_tokens`` tokens (a longer unit is a chunk of its own), so the
needle always lies inside one chunk, the gold document. The full context is ``" ".join`` of the chunk
texts (:func:`full_context`); ``meta["needle_span"]`` gives the needle's char offsets in it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from qrexp.types import Doc, Example

CountTokens = Callable[[str], int]


def count_words(text: str) -> int:
    """Whitespace word count, the default token counter."""
    return len(text.split())


@dataclass(frozen=True)
class Needle:
    """A fact sentence to hide, the question that asks for it and its short answer."""
    needle_id: str
    needle: str
    question: str
    answer: str


NEEDLES = (
    Needle("soup", "The secret ingredient in Grandma Rosa's tomato soup is a spoonful of smoked paprika.",
           "What is the secret ingredient in Grandma Rosa's tomato soup?", "a spoonful of smoked paprika"),
    Needle("cat", "The lighthouse keeper on Marrow Island named his ginger cat Admiral Biscuit.",
           "What did the lighthouse keeper on Marrow Island name his ginger cat?", "Admiral Biscuit"),
    Needle("pumpkin", "The winning pumpkin at the Harwick county fair weighed three hundred and twelve kilograms.",
           "How much did the winning pumpkin at the Harwick county fair weigh?",
           "three hundred and twelve kilograms"),
)

_SUBJECTS = ("The old miller", "A young teacher", "The harbor master", "Our neighbor", "The village baker",
             "A traveling merchant", "The river pilot", "My grandmother", "The night watchman",
             "A quiet student", "The town clerk", "An elderly shepherd", "The school librarian",
             "A retired sailor")
_ACTIONS = ("repaired the wooden fence", "planted three rows of beans", "counted the boats in the bay",
            "wrote a long letter to a cousin", "painted the kitchen a pale green", "swept the stone steps",
            "sorted a box of old photographs", "walked the long way around the hill",
            "mended a torn fishing net", "read the weather report aloud", "carried firewood up the lane",
            "tuned the church piano", "cleaned the windows of the shop", "sketched the clock tower")
_WHEN = ("before the market opened", "on a windy afternoon in late autumn", "after the evening rain",
         "near the stone bridge", "while the kettle was boiling", "at the end of a busy week",
         "under a grey and heavy sky", "as the first lamps were lit", "during the long summer holiday",
         "beside the narrow canal", "early on a Sunday morning", "just before the snow arrived")
_AFTER = ("and nobody thought much of it", "and then went home to rest", "and hummed an old song",
          "and said it had been a fine day", "and noted it in a small diary", "and waved to a passing friend")


def _filler_stream(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        parts = [rng.choice(_SUBJECTS), rng.choice(_ACTIONS), rng.choice(_WHEN)]
        if rng.random() < 0.4:
            parts[-1] += ", " + rng.choice(_AFTER)
        yield " ".join(parts) + "."


def filler_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` plain narrative sentences drawn deterministically with ``random.Random(seed)``."""
    return list(islice(_filler_stream(seed), n))


def filler_for_length(length: int, count_tokens: CountTokens = count_words, seed: int = 0) -> list[str]:
    """The shortest prefix of ``filler_sentences(., seed)`` holding at least ``length`` tokens."""
    out, total = [], 0
    for sentence in _filler_stream(seed):
        if total >= length:
            break
        out.append(sentence)
        total += count_tokens(sentence)
    return out


def _fill(haystack: Sequence[str], budget: int, count_tokens: CountTokens) -> tuple[list[str], list[int]]:
    if not haystack or all(count_tokens(u) <= 0 for u in haystack):
        raise ValueError("haystack has no text to fill the context with")
    units, sizes, total = [], [], 0
    for unit in cycle(haystack):
        size = count_tokens(unit)
        if total + size > budget:
            break
        units.append(unit)
        sizes.append(size)
        total += size
    return units, sizes


def _chunk(units: Sequence[str], sizes: Sequence[int], chunk_tokens: int) -> list[list[int]]:
    chunks: list[list[int]] = []
    used = 0
    for i, size in enumerate(sizes):
        if chunks and used + size <= chunk_tokens:
            chunks[-1].append(i)
            used += size
        else:
            chunks.append([i])
            used = size
    return chunks


def make_niah(haystack: Sequence[str], needle: Needle, length: int, depth: float, chunk_tokens: int = 100,
              count_tokens: CountTokens = count_words, qid: str | None = None) -> Example:
    """One NIAH example of about ``length`` tokens (as ``count_tokens`` counts them) with the needle
    at ``depth`` (0 = start, 1 = end; see module doc). Raises ValueError for depth outside [0, 1],
    a non-positive ``chunk_tokens`` or a ``length`` that leaves no room for filler around the needle."""
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"needle depth must be in [0, 1], got {depth}")
    if chunk_tokens <= 0:
        raise ValueError(f"chunk_tokens must be positive, got {chunk_tokens}")
    needle_size = count_tokens(needle.needle)
    if needle_size >= length:
        raise ValueError(f"length {length} leaves no room for filler around a {needle_size}-token needle")
    units, sizes = _fill(haystack, length - needle_size, count_tokens)
    filler_total = sum(sizes)
    at, before = 0, 0
    while at < len(sizes) and before + sizes[at] <= depth * filler_total:
        before += sizes[at]
        at += 1
    units.insert(at, needle.needle)
    sizes.insert(at, needle_size)
    docs, starts, offset = [], [], 0
    gold_chunk, in_chunk = 0, 0
    for c, members in enumerate(_chunk(units, sizes, chunk_tokens)):
        text = " ".join(units[i] for i in members)
        docs.append(Doc(doc_id=f"c{c}", text=text))
        starts.append(offset)
        offset += len(text) + 1
        if at in members:
            pos = members.index(at)
            gold_chunk = c
            in_chunk = sum(len(units[i]) + 1 for i in members[:pos])
    span_in_chunk = (in_chunk, in_chunk + len(needle.needle))
    meta = {"needle": needle.needle, "needle_id": needle.needle_id, "depth": depth, "length": length,
            "n_tokens": count_tokens(" ".join(d.text for d in docs)),
            "depth_actual": before / filler_total if filler_total else 0.0, "chunk_tokens": chunk_tokens,
            "needle_chunk": f"c{gold_chunk}", "needle_span_in_chunk": span_in_chunk,
            "needle_span": (starts[gold_chunk] + span_in_chunk[0], starts[gold_chunk] + span_in_chunk[1])}
    return Example(qid=qid or f"niah-{needle.needle_id}-L{length}-D{depth:g}", query=needle.question,
                   docs=tuple(docs), gold=frozenset({f"c{gold_chunk}"}), answer=needle.answer, meta=meta)


def full_context(example: Example) -> str:
    """The whole haystack text of a NIAH example (chunks joined by one space)."""
    return " ".join(d.text for d in example.docs)


def niah_grid(lengths: Iterable[int], depths: Iterable[float],
              needles: Sequence[Needle | Mapping[str, Any]] = NEEDLES,
              haystack: Sequence[str] | None = None, chunk_tokens: int = 100,
              count_tokens: CountTokens = count_words, seed: int = 0) -> list[Example]:
    """Every (needle, length, depth) combination; default haystack = seeded filler sentences.

    ``needles`` may also be mappings with the Needle fields (as they come from a config file).
    """
    lengths, depths = list(lengths), list(depths)
    needles = [n if isinstance(n, Needle) else Needle(**n) for n in needles]
    if haystack is None:
        haystack = filler_for_length(max(lengths), count_tokens, seed)
    return [make_niah(haystack, n, length, d, chunk_tokens, count_tokens)
            for n in needles for length in lengths for d in depths]
