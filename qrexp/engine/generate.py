"""Greedy decoding on a KV cache, with per-step attention argmax read-out and head masking.

One prefill over the prompt on a full KV cache (:func:`qrexp.engine.forward.full_cache`: sliding-window
layers keep every token too and the model applies its own window mask, so argmax positions index
the whole prompt + generated tokens), then one token per forward, every
forward with ``logits_to_keep=1`` (batch size 1). With ``capture_last_row`` each step also reads, for
every layer and head, the attention row of the query position that predicts the new token (the
prompt's last position for the first token, the previous generated token after that) and keeps its
argmax over keys. ``mask_heads`` zeroes those heads' attention outputs at every step (prefill too).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from qrexp.engine.capture import Capture
from qrexp.engine.forward import check_cache, check_key_axis, full_cache, prepare_model, run_forward

MaskHeads = dict[int, list[int]]   # {layer: [head, ...]}


@dataclass(frozen=True)
class GenerationTrace:
    """The result of :func:`greedy_generate`.

    token_ids: generated ids; a final stop id is kept, as transformers' ``generate`` keeps it.
    text: the decoded answer (special tokens and the stop id left out).
    argmax: LongTensor [steps, L, H] (CPU), the key position (0 = first prompt token; positions past
        the prompt are generated tokens) of each head's largest attention from the query row that
        predicted ``token_ids[t]``; ties go to the earliest position. None unless requested.
    logits: fp32 [steps, V] (CPU), the next-token logits of each step. None unless requested.
    stopped: True when decoding ended on a stop id, False when it ran out of ``max_new_tokens``.
    """
    token_ids: list[int]
    text: str
    argmax: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    stopped: bool = False


def stop_id_set(model, tokenizer, stop_ids: Iterable[int] | None = None) -> set[int]:
    """``stop_ids`` if given, else the model's generation-config EOS id(s) and the tokenizer's EOS."""
    if stop_ids is not None:
        return {int(i) for i in stop_ids}
    found: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for eos in (gen_eos, getattr(tokenizer, "eos_token_id", None)):
        if eos is None:
            continue
        found.update([int(eos)] if isinstance(eos, int) else (int(i) for i in eos))
    return found


def check_mask_heads(mask_heads: MaskHeads | None, n_layers: int, n_heads: int) -> MaskHeads:
    """Validated {layer: sorted, de-duplicated heads}; empty lists dropped. ValueError naming the
    layer (and head) outside an ``n_layers`` x ``n_heads`` model."""
    out: MaskHeads = {}
    for layer, heads in (mask_heads or {}).items():
        if not 0 <= int(layer) < n_layers:
            raise ValueError(f"mask_heads: layer {layer} outside a {n_layers}-layer model")
        bad = [h for h in heads if not 0 <= int(h) < n_heads]
        if bad:
            raise ValueError(f"mask_heads: layer {layer} head {bad[0]} outside 0..{n_heads - 1}")
        if heads:
            out[int(layer)] = sorted({int(h) for h in heads})
    return out


def greedy_generate(model, tokenizer, prompt_ids: Sequence[int], max_new_tokens: int,
                    capture_last_row: bool = False, mask_heads: MaskHeads | None = None,
                    stop_ids: Iterable[int] | None = None, keep_logits: bool = False) -> GenerationTrace:
    """Greedy decoding of one prompt; see :class:`GenerationTrace` for what comes back.

    ``stop_ids`` defaults to :func:`stop_id_set`. ``model`` is switched to the capture attention
    (:func:`qrexp.engine.forward.prepare_model`); its outputs are the stock SDPA outputs.
    """
    prompt = [int(i) for i in prompt_ids]
    if not prompt:
        raise ValueError("greedy_generate: empty prompt")
    if max_new_tokens < 1:
        raise ValueError(f"greedy_generate: max_new_tokens must be >= 1, got {max_new_tokens}")
    prepare_model(model)
    cfg = model.config
    n_layers = cfg.num_hidden_layers
    window = getattr(cfg, "max_position_embeddings", None)
    if window is not None and len(prompt) + max_new_tokens > window:
        raise ValueError(f"greedy_generate: {len(prompt)} prompt + {max_new_tokens} new tokens exceed "
                         f"the model's max_position_embeddings={window}")
    masks = check_mask_heads(mask_heads, n_layers, cfg.num_attention_heads)
    stops = stop_id_set(model, tokenizer, stop_ids)
    cache = full_cache()
    step_ids, tokens, argmax, logit_rows, stopped = prompt, [], [], [], False
    for _ in range(max_new_tokens):
        span = (len(step_ids) - 1, len(step_ids)) if capture_last_row else None
        cap = Capture(span=span, mask_heads=masks)
        logits = run_forward(model, step_ids, cap, cache)                    # [V]
        seen = len(prompt) + len(tokens)                               # tokens now in the cache
        check_cache(cache, seen, f"greedy_generate step {len(tokens)}")
        if capture_last_row:
            check_key_axis(cap.out, seen, f"greedy_generate step {len(tokens)}")
        token = int(torch.argmax(logits))
        tokens.append(token)
        if capture_last_row:              # out[l]: [H, T], one row; layers may be on several GPUs
            argmax.append(torch.stack([cap.out[l].argmax(-1).cpu() for l in range(n_layers)]))
        if keep_logits:
            logit_rows.append(logits.detach().float().cpu())
        if token in stops:
            stopped = True
            break
        step_ids = [token]
    answer = tokens[:-1] if stopped else tokens
    return GenerationTrace(
        token_ids=tokens,
        text=tokenizer.decode(answer, skip_special_tokens=True),
        argmax=torch.stack(argmax) if capture_last_row else None,
        logits=torch.stack(logit_rows) if keep_logits else None,
        stopped=stopped)
