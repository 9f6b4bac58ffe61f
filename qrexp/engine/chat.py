"""The one chat renderer: prompts as chat messages, rendered through the tokenizer's own template.

Every chat prompt qrexp sends to a model goes through here: the retrieval prompt's chat style
(:mod:`qrexp.engine.prompt`), NIAH prompts (:mod:`qrexp.heads.niah`), QA answer / judge /
claim-verification prompts and RankGPT windows (:mod:`qrexp.evals`, via
:class:`qrexp.evals.llm.HFGenerator`). A prompt is plain text (one user turn) or a list of messages
``[{"role", "content"}, ...]``. Rendering appends the assistant header (``add_generation_prompt``),
as transformers' ``apply_chat_template`` does; the rendered text already holds BOS, so token ids are
taken without adding special tokens again. Remote servers (OpenAI-compatible) get the messages
themselves and render them with their own template.
"""
from __future__ import annotations

from typing import Sequence

Messages = list[dict[str, str]]
ChatPrompt = str | Messages


def user_turn(text: str) -> Messages:
    """``text`` as a one-message chat: ``[{"role": "user", "content": text}]``."""
    return [{"role": "user", "content": text}]


def as_messages(prompt: ChatPrompt | Sequence[dict]) -> Messages:
    """A checked chat message list for ``prompt`` (plain text becomes one user turn).

    Raises TypeError for anything but a string or a non-empty list of dicts with string ``role``
    and ``content`` (naming the first bad message); extra keys are dropped.
    """
    if isinstance(prompt, str):
        return user_turn(prompt)
    if not isinstance(prompt, (list, tuple)) or not prompt:
        raise TypeError(f"a prompt must be a string or a non-empty list of messages, got {type(prompt).__name__}")
    for i, msg in enumerate(prompt):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str) or not isinstance(msg.get("content"), str):
            raise TypeError(f"prompt message {i} must be a dict with string 'role' and 'content', got {msg!r:.80}")
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def render_chat(tokenizer, prompt: ChatPrompt) -> str:
    """The prompt's text through ``tokenizer``'s chat template, with the assistant header appended.

    Raises ValueError when the tokenizer has no chat template (build the prompt as plain text then),
    TypeError for a malformed message list (:func:`as_messages`).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{type(tokenizer).__name__} has no chat template; build the prompt as "
                         "plain text instead (chat=False)")
    return tokenizer.apply_chat_template(as_messages(prompt), tokenize=False, add_generation_prompt=True)


def chat_prompt_ids(tokenizer, prompt: ChatPrompt) -> list[int]:
    """Token ids of :func:`render_chat` (no special tokens added: the template holds BOS)."""
    return list(tokenizer(render_chat(tokenizer, prompt), add_special_tokens=False)["input_ids"])
