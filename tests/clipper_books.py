"""Test support: a four-chapter CLIPPER-style book with two claim pairs, a word-overlap verifier, and
the book written in the HF release's file layout (used by the QA, data-identity and QA-stage tests)."""
import json
import re

from qrexp.evals.llm import Generator
from qrexp.types import Doc, Example

CHAPTERS = ["Mara sailed from Sallow in June, on the first day.",
            "Mara returned to Sallow in September with a map.",
            "Ivy kept bees in Brenn and sold honey at the fair.",
            "A storm hit the harbour of Dunmere in winter."]
# (true claim, false claim, gold chapter); each false claim shares its words with chapter 3 more
# than with the gold chapter, so BM25 retrieves a different chapter for it than for its true twin
PAIRS = [("Mara sailed from Sallow in June.", "Ivy sailed from Brenn with honey.", 1),
         ("Mara returned to Sallow in September.", "Ivy sold honey at the Brenn fair.", 2)]


def book_pairs() -> list[Example]:
    docs = [Doc(f"ch{k}", text, f"Chapter {k}") for k, text in enumerate(CHAPTERS, start=1)]
    return [Example(f"b1-{i}", t, docs, {f"ch{g}"}, "TRUE", {"true_claim": t, "false_claim": f})
            for i, (t, f, g) in enumerate(PAIRS)]


class Reader(Generator):
    """A tiny deterministic verifier: TRUE iff every word of the statement occurs in the context.
    Records the contexts it was shown."""

    def __init__(self):
        self.seen = []

    def generate(self, prompts, max_new_tokens):
        out = []
        for p in prompts:
            text = p[-1]["content"]
            context = text.split("<context>")[1].split("</context>")[0]
            statement = text.split("<statement>")[1].split("</statement>")[0]
            self.seen.append((statement, context))
            words = lambda s: set(re.findall(r"[a-z]+", s.lower()))
            verdict = "TRUE" if words(statement) <= words(context) else "FALSE"
            out.append(f"<explanation>checked</explanation>\n<answer>{verdict}</answer>")
        return out


def write_book(root, pairs=PAIRS, chapters=CHAPTERS):
    """CLIPPER files as the HF release lists them (each pair twice, status TRUE / FALSE) + chapters."""
    (root / "books" / "b1").mkdir(parents=True)
    for k, text in enumerate(chapters, start=1):
        (root / "books" / "b1" / f"{k}.txt").write_text(text)
    rows = [{"book_name": "b1", "book_title": "B", "claim_type": "single", "true_claim": t, "false_claim": f,
             "status": status, "source": f"Chapter {g}"} for t, f, g in pairs for status in ("TRUE", "FALSE")]
    (root / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root
