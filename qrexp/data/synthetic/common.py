"""Helpers shared by the synthetic generators: seeded RNGs, ids, word counts, file digests.

JSON text comes from the one writer, :mod:`qrexp.io.files` (field order kept: ``sort_keys=False``).
"""
from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

TOKENS_PER_WORD = 1.3   # budget estimate used for the demo model's short contexts


def rng_for(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from the parts (e.g. seed, split, index); stable across runs.

    ``random.Random(str)`` hashes the string with SHA-512, so unlike ``hash()`` it is not salted.
    """
    return random.Random("|".join(str(p) for p in parts))


def hex_id(rng: random.Random, n: int = 8) -> str:
    """``n`` lowercase hex digits drawn from ``rng`` (the style of LongMemEval ids)."""
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def word_count(text: str) -> int:
    """Whitespace word count, the unit of every length budget here."""
    return len(text.split())


def est_tokens(words: int) -> int:
    """Token estimate for a word count (``TOKENS_PER_WORD`` tokens per word)."""
    return round(words * TOKENS_PER_WORD)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (for the manifest)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
