"""No generation past the model's window: every QA prompt is tokenized and measured before any
generation, and an overflowing prompt is refused or truncated by an explicit, recorded policy.

Policies (config field ``eval.qa.overflow``):

* ``error`` (default): raise one ValueError naming the first offending prompts, their token counts
  and the window, before any prompt is generated for.
* ``truncate_middle``: keep the first ``ceil(b/2)`` and the last ``floor(b/2)`` prompt tokens, with
  budget ``b = window - max_new_tokens``: the instruction at the start and the question / claim and
  chat suffix at the end survive, the middle of the context goes (LongBench's convention for prompts
  longer than the model's window). Each truncated prompt is counted and reported.

The paper's code runs vLLM with ``max_model_len=131072`` (its models' window), which refuses a longer
prompt; ``error`` is the faithful policy, ``truncate_middle`` an explicit deviation for short-window
models. Only in-process generators with a tokenizer and a known ``window`` can be checked (remote
servers enforce their own limit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

OVERFLOW_POLICIES = ("error", "truncate_middle")


@dataclass(frozen=True)
class PromptFit:
    """The length of one prompt: ``tokens`` as built, ``kept`` after the policy (== tokens if it fits)."""
    name: str
    tokens: int
    kept: int

    @property
    def truncated(self) -> bool:
        """Whether the policy cut this prompt."""
        return self.kept < self.tokens


def check_overflow_policy(policy: str) -> None:
    """Raise ValueError unless ``policy`` is one of OVERFLOW_POLICIES (error, truncate_middle)."""
    if policy not in OVERFLOW_POLICIES:
        raise ValueError(f"eval.qa.overflow={policy!r}: must be one of {', '.join(OVERFLOW_POLICIES)}")


def fit_prompts(generator: Any, prompts: Sequence[Any], names: Sequence[str], max_new_tokens: int,
                policy: str = "error") -> tuple[list[Any], list[PromptFit]]:
    """Measure every prompt (tokenize only) and apply ``policy``; returns (prompts to generate, fits).

    ``generator`` must have ``encode(prompt) -> list[int]`` and ``window`` (max prompt + new tokens),
    as :class:`qrexp.evals.llm.HFGenerator`; a generator without them (a remote server) is returned as is,
    with empty fits. Truncated prompts come back as token-id lists. Raises ValueError under
    ``error`` when any prompt + ``max_new_tokens`` exceeds the window, and under any policy when
    ``max_new_tokens`` alone leaves no room for a prompt.
    """
    check_overflow_policy(policy)
    if len(names) != len(prompts):
        raise ValueError(f"fit_prompts: {len(names)} names for {len(prompts)} prompts")
    window = getattr(generator, "window", None)
    if window is None or not hasattr(generator, "encode"):
        return list(prompts), []
    budget = int(window) - int(max_new_tokens)
    if budget < 2:
        raise ValueError(f"QA max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
                         f"window of {window} tokens")
    encoded = [generator.encode(p) for p in prompts]
    over = [(name, len(ids)) for name, ids in zip(names, encoded) if len(ids) > budget]
    if over and policy == "error":
        shown = ", ".join(f"{name} ({n} tokens)" for name, n in over[:3])
        raise ValueError(f"{len(over)} of {len(prompts)} QA prompt(s) exceed the model's window: {shown} + "
                         f"{max_new_tokens} new tokens > {window}; set eval.qa.overflow=truncate_middle, "
                         f"lower eval.qa.top_k or eval.qa.max_new_tokens, or use a longer-context model")
    out, fits = [], []
    head = (budget + 1) // 2
    for name, prompt, ids in zip(names, prompts, encoded):
        if len(ids) > budget:
            out.append(ids[:head] + ids[len(ids) - (budget - head):])
        else:
            out.append(prompt)
        fits.append(PromptFit(name, len(ids), min(len(ids), budget)))
    return out, fits


def fit_summary(fits: Sequence[PromptFit]) -> dict[str, int]:
    """{"prompts_truncated": count, "max_prompt_tokens": longest prompt as built} (empty without fits)."""
    if not fits:
        return {}
    return {"prompts_truncated": sum(f.truncated for f in fits), "max_prompt_tokens": max(f.tokens for f in fits)}
