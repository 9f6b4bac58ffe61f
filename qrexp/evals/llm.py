"""Text generation backends for answer generation, LLM judging and listwise re-ranking.

A prompt is either plain text or a list of chat messages ``[{"role", "content"}, ...]``. Every backend
decodes greedily (temperature 0) and returns only the newly generated text, one string per prompt.

* :class:`HFGenerator` runs a transformers causal LM in-process: message lists go through the
  tokenizer's chat template (with the assistant header; :func:`qrexp.engine.chat.render_chat`),
  plain text is tokenized as is, a list of token ids is used as given; prompts are batched with left padding. ``window`` is the model's
  context length (``max_position_embeddings``), for callers that check prompt lengths first.
* :class:`OpenAIGenerator` talks to any OpenAI-compatible ``/v1/chat/completions`` server (OpenAI,
  vLLM, llama.cpp, ...) through the ``openai`` client (its retries and time-outs). The API key is read
  from an environment variable at each call and is sent only in the Authorization header: it is never
  stored, logged or returned. Credentials in the URL (``http://user:TOKEN@host/v1``) become a Basic
  Authorization header (when no key is set); messages and logs show the URL redacted (``shown_url``,
  qrexp.io.redact).
"""
from __future__ import annotations

import base64
import logging
import os
import threading
import urllib.parse
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import torch

from qrexp.engine.chat import Messages, as_messages, chat_prompt_ids
from qrexp.io.redact import redact_text, redact_url

PromptLike = str | Messages | list[int]
log = logging.getLogger(__name__)


class Generator(ABC):
    """Greedy text generation: ``generate(prompts, max_new_tokens) -> [new text per prompt]``.

    ``progress``: whether :func:`generate_all` shows a progress bar for this generator's work."""

    name: str = "generator"
    progress: bool = True

    @abstractmethod
    def generate(self, prompts: Sequence[PromptLike], max_new_tokens: int) -> list[str]:
        """One completion per prompt, in order, without the prompt text."""


def generate_all(generator: Generator, prompts: Sequence[PromptLike], max_new_tokens: int, desc: str,
                 chunk: int = 16) -> list[str]:
    """``generator.generate`` over ``prompts`` in chunks of ``chunk`` with a tqdm bar (prompts done of
    total, labelled ``desc``; shown when ``generator.progress``). Same outputs as one call for greedy
    decoding with batch size <= ``chunk``."""
    from tqdm.auto import tqdm
    out: list[str] = []
    with tqdm(total=len(prompts), desc=desc, unit="prompt",
              disable=not getattr(generator, "progress", True) or not prompts) as bar:
        for start in range(0, len(prompts), chunk):
            part = generator.generate(prompts[start:start + chunk], max_new_tokens)
            out += part
            bar.update(len(part))
    return out


class HFGenerator(Generator):
    """Greedy ``model.generate`` in batches of ``batch_size`` (left padded, grouped by length)."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.name = str(getattr(model.config, "_name_or_path", "") or type(model).__name__)
        self.window: int | None = getattr(model.config, "max_position_embeddings", None)

    def stop_ids(self) -> set[int]:
        """The model's generation stop ids (the tokenizer's eos when the model names none)."""
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        return set(eos) if isinstance(eos, (list, tuple)) else set() if eos is None else {eos}

    def encode(self, prompt: PromptLike) -> list[int]:
        """Token ids of one prompt (chat template for message lists, with the generation prompt;
        a list of ints is already token ids)."""
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            return list(prompt)
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        return chat_prompt_ids(self.tokenizer, prompt)

    def generate(self, prompts: Sequence[PromptLike], max_new_tokens: int) -> list[str]:
        """Greedy completions (new text only, cut at the first stop id), in prompt order."""
        encoded = [self.encode(p) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out: list[str] = [""] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for i, text in zip(batch, self._generate_batch([encoded[i] for i in batch], max_new_tokens)):
                out[i] = text
        return out

    def _generate_batch(self, seqs: list[list[int]], max_new_tokens: int) -> list[str]:
        stops = self.stop_ids()
        pad_id = self.tokenizer.pad_token_id
        pad_id = pad_id if pad_id is not None else min(stops, default=0)
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq):] = 1
        device = self.model.device
        with torch.inference_mode():
            gen = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                      max_new_tokens=max_new_tokens, do_sample=False, top_p=None,
                                      top_k=None, temperature=None, pad_token_id=pad_id)
        texts = []
        for row in gen[:, width:].tolist():     # [B, new]; rows that stopped early are padded
            cut = next((j for j, t in enumerate(row) if t in stops), len(row))
            texts.append(self.tokenizer.decode(row[:cut], skip_special_tokens=True))
        return texts


class OpenAIGenerator(Generator):
    """OpenAI-compatible chat completions through the maintained ``openai`` client (OpenAI, vLLM,
    llama.cpp, ...; ``base_url`` ends in ``/v1``).

    Request body: ``{"model", "messages", "max_tokens", "temperature": 0, "n": 1}``. The client retries
    HTTP 408/409/429, 5xx, connection errors and time-outs up to ``max_retries`` times with its
    exponential back-off (0.5 s doubling, capped at 8 s, honouring Retry-After) and ``timeout``
    seconds per request; other HTTP errors raise at once. ``workers`` > 1 sends that many requests
    concurrently (results stay in prompt order). ``stats`` counts HTTP requests and retries; each
    failed attempt is logged (warning, API key redacted). The key is read from ``api_key_env`` at
    each ``generate`` call, sent only in the Authorization header (none without a key), and never
    stored, logged or returned.
    """

    def __init__(self, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = 120.0, max_retries: int = 5, temperature: float = 0.0,
                 workers: int = 1) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {redact_url(base_url)!r}")
        if max_retries < 0 or workers < 1 or timeout <= 0:
            raise ValueError("max_retries must be >= 0, workers >= 1 and timeout > 0")
        # credentials in the URL (http://user:TOKEN@host/v1) go to a Basic Authorization header and
        # stay in memory; messages and logs show ``shown_url`` (qrexp.io.redact)
        self.url, self._userinfo_auth = _endpoint(base_url)
        self.shown_url = redact_url(self.url)
        self.name = self.model = model
        self.api_key_env, self.timeout, self.max_retries = api_key_env, timeout, max_retries
        self.temperature, self.workers = temperature, workers
        self.stats = {"requests": 0, "retries": 0}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIGenerator(url={self.shown_url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    def _key(self) -> str | None:
        return (os.environ.get(self.api_key_env) or None) if self.api_key_env else None

    def generate(self, prompts: Sequence[PromptLike], max_new_tokens: int) -> list[str]:
        """One chat completion per prompt (HTTP requests to ``base_url``), in prompt order; raises
        RuntimeError after the retries or on a non-retryable HTTP error (key redacted)."""
        import httpx
        import openai
        messages = [as_messages(p) for p in prompts]
        key = self._key()

        def on_request(request) -> None:
            with self._lock:
                self.stats["requests"] += 1

        def on_response(response) -> None:
            if response.status_code == 429 or response.status_code >= 500:
                response.read()
                log.warning("%s: attempt failed (HTTP %d: %s)", self.shown_url, response.status_code,
                            _redact(response.text[:300], key))

        http = httpx.Client(timeout=self.timeout, event_hooks={"request": [on_request], "response": [on_response]})
        parts = urllib.parse.urlsplit(self.url)         # the client appends /chat/completions itself
        base = urllib.parse.urlunsplit(parts._replace(path=parts.path.removesuffix("/chat/completions"), query=""))
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)) or None
        client = openai.OpenAI(api_key=key or "unused", base_url=base, timeout=self.timeout,
                               max_retries=self.max_retries, http_client=http, default_query=query)
        if key:                                          # Bearer <key> from the environment
            extra = None
        elif self._userinfo_auth:                        # user:password from the URL
            extra = {"Authorization": f"Basic {self._userinfo_auth}"}
        else:                                            # no key: no Authorization header
            extra = {"Authorization": openai.Omit()}
        before = self.stats["requests"]

        def complete(msgs: Messages) -> str:
            return self._complete(client, msgs, int(max_new_tokens), extra, key)

        try:
            if self.workers == 1 or len(messages) < 2:
                out = [complete(m) for m in messages]
            else:
                with ThreadPoolExecutor(max_workers=self.workers) as pool:
                    out = list(pool.map(complete, messages))
        finally:
            with self._lock:
                self.stats["retries"] += max(0, self.stats["requests"] - before - len(messages))
            client.close()
        return out

    def _complete(self, client, messages: Messages, max_tokens: int, extra, key: str | None) -> str:
        import openai
        try:
            reply = client.chat.completions.create(model=self.model, messages=messages, max_tokens=max_tokens,
                                                   temperature=self.temperature, n=1, extra_headers=extra)
        except openai.APIStatusError as exc:
            detail = _redact(exc.response.text[:300], key)
            code = exc.status_code
            if code == 429 or code >= 500:
                raise RuntimeError(f"{self.shown_url}: giving up after {self.max_retries + 1} attempts; "
                                   f"last error HTTP {code}: {detail}") from None
            hint = f" (is ${self.api_key_env} set?)" if code in (401, 403) else ""
            raise RuntimeError(f"{self.shown_url}: HTTP {code}{hint}: {detail}") from None
        except openai.APIConnectionError as exc:            # includes time-outs
            raise RuntimeError(f"{self.shown_url}: giving up after {self.max_retries + 1} attempts; last error "
                               f"{type(exc).__name__}: {_redact(str(exc), key)}") from None
        try:
            content = reply.choices[0].message.content
        except (IndexError, AttributeError, TypeError):
            raise ValueError(f"{self.shown_url}: response lacks choices[0].message.content: "
                             f"{_redact(str(reply)[:200], key)}") from None
        return "" if content is None else str(content)


def _redact(text: str, key: str | None) -> str:
    return redact_text(text.replace(key, "***") if key else text)


def _endpoint(base_url: str) -> tuple[str, str | None]:
    """(``<base_url>/chat/completions`` without ``user:password@``, query kept; base64
    ``user:password`` for a Basic Authorization header, or None)."""
    parts = urllib.parse.urlsplit(base_url)
    parts = parts._replace(path=parts.path.rstrip("/") + "/chat/completions")
    if "@" not in parts.netloc:
        return urllib.parse.urlunsplit(parts), None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), base64.b64encode(pair.encode()).decode()
