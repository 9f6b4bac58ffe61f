"""Score a small built-in example with the embedded SmolLM2 and print the ranking.

    python -m qrexp.engine.quickstart [--heads full|13-18,...] [--query "..."]
"""
from __future__ import annotations

import argparse
import time

from qrexp.engine.retriever import QRRetriever
from qrexp.types import Doc

PEOPLE = [
    ("Marta Novak", "Oslo", "pilot", "ferret"), ("John Reyes", "Lima", "baker", "parrot"),
    ("Aiko Tanaka", "Nairobi", "nurse", "turtle"), ("Lars Berg", "Cairo", "chef", "rabbit"),
    ("Sofia Costa", "Quito", "judge", "goat"), ("Omar Haddad", "Hanoi", "tailor", "canary"),
]
DOCS = [Doc(f"p{i}", f"{n} lives in {c}, works as a {j} and owns a {p}.", title=n)
        for i, (n, c, j, p) in enumerate(PEOPLE)]
QUESTIONS = [("Which city is Aiko Tanaka's home?", "p2"), ("What animal does Lars Berg keep?", "p3"),
             ("What is Sofia Costa's profession?", "p4"), ("Where does Omar Haddad live?", "p5"),
             ("Which pet belongs to Marta Novak?", "p0")]


def main(argv: list[str] | None = None) -> None:
    """Command line: load ``--model`` (default SmolLM2-135M), rank the toy documents for each
    question (or ``--query``) with ``--heads`` and print the top 3 and the hit count. Downloads or
    converts the model on first use."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--heads", default="full")
    ap.add_argument("--query", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    retriever = QRRetriever.from_pretrained(args.model, heads=args.heads)
    print(f"loaded {args.model} in {time.time() - t0:.1f}s "
          f"({retriever.n_layers} layers x {retriever.n_heads} heads, scoring {len(retriever.heads)} heads)")
    questions = [(args.query, None)] if args.query else QUESTIONS
    hits = 0
    for query, gold in questions:
        ranked = retriever.rank(query, DOCS, top_k=3)         # [Ranked(doc_id, score, text)] best first
        hits += ranked[0].doc_id == gold
        print(f"\nQuery: {query}")
        for rank, hit in enumerate(ranked, 1):
            mark = " (gold)" if hit.doc_id == gold else ""
            print(f"  {rank}. {hit.score:+.4f}  {hit.text}{mark}")
    if not args.query:
        print(f"\ngold ranked first for {hits}/{len(questions)} queries (chance: 1 in {len(DOCS)} per query)")


if __name__ == "__main__":
    main()
