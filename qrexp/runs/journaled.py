"""Generator replies journaled per prompt (:mod:`qrexp.runs.checkpoint`): QA answers, LLM-judge
verdicts and RankGPT windows of a run are generated once, even across a kill and a restart."""
from __future__ import annotations

from typing import Any, Sequence

from qrexp.runs.checkpoint import MISSING, Journal, digest


class JournaledGenerator:
    """A generator whose replies are journaled per prompt: a prompt answered before (same prompt,
    generator name, ``max_new_tokens`` and ``identity``) is never sent again, in this run or after
    a restart. Other attributes (``progress``, ``encode``, ``window``, ...) are the inner generator's.

    Prompts are sent in chunks of the inner generator's ``batch_size`` (HF; 1 by default: every reply
    equals an unjournaled call's) or ``workers`` (HTTP), each chunk recorded as it returns. Only a
    digest of each prompt and of the identity is stored, never their text.
    """

    def __init__(self, inner: Any, journal: Journal, identity: Any = None) -> None:
        self.__dict__.update(inner=inner, journal=journal, identity=identity)
        self.__dict__["chunk"] = max(1, int(getattr(inner, "batch_size", 0) or getattr(inner, "workers", 0) or 1))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.inner, name, value)

    def generate(self, prompts: Sequence[Any], max_new_tokens: int) -> list[str]:
        """One reply per prompt, in order (journaled ones read back, the others generated)."""
        setting = digest({"generator": getattr(self.inner, "name", type(self.inner).__name__),
                          "max_new_tokens": max_new_tokens, "identity": self.identity})
        keys = [digest(p) for p in prompts]
        out = [self.journal.lookup(k, setting) for k in keys]
        todo = list(dict.fromkeys(k for k, v in zip(keys, out) if v is MISSING))     # each prompt once
        if len(todo) < len(set(keys)):
            self.journal.log(f"[checkpoint] {self.journal.name}: {len(set(keys)) - len(todo)} of "
                             f"{len(set(keys))} prompts answered earlier")
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        for start in range(0, len(todo), self.chunk):
            part = todo[start:start + self.chunk]
            for key, reply in zip(part, self.inner.generate([prompts[first[k]] for k in part], max_new_tokens)):
                self.journal.record(key, setting, reply)
        return [self.journal.done[k][1] if v is MISSING else v for k, v in zip(keys, out)]
