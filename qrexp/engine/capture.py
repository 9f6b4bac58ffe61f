"""Exact query-span attention capture for any decoder whose attention goes through transformers'
AttentionInterface (Llama, Qwen2/2.5, Qwen3, Mistral, ...), without forking modeling files.

While a :class:`Capture` is active, the registered attention function returns the stock SDPA output
and, for the requested layers/heads, also computes ``softmax(q k^T * scale + mask)`` for the
query-span rows only (post-RoPE, post q/k-norm, GQA keys shared by view) in fp32, reduced to the mean
over the span rows: ``[H_sel, T]`` per layer. T x T is never materialized. The same function can zero
chosen heads' outputs (head masking) and stop the forward after the last layer needed.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

ATTN_NAME = "qrexp_capture"
ROW_BLOCK_BYTES = 64 * 2**20   # bound on one fp32 score block [g, rows, T]


class StopForward(Exception):
    """Raised by the attention function to end a forward after the last layer needed."""


@dataclass
class Capture:
    """What to read during one forward.

    span: half-open row range [s, e) within the current forward's query block (batch size 1).
    spans: one such range per batch row instead (batched continuations); fills ``batch_out``.
    heads: {layer: list of head indices} to capture; None captures every head of every layer.
    out: filled with {layer: fp32 tensor [len(heads[layer]), T_kv]} (mean over span rows).
    mask_heads: {layer: heads} whose attention output is zeroed (intervention), captured or not.
    stop_after: raise StopForward after this layer (early exit).
    """
    span: tuple[int, int] | None = None
    heads: dict[int, list[int]] | None = None
    mask_heads: dict[int, list[int]] = field(default_factory=dict)
    stop_after: int | None = None
    rows: bool = False
    out: dict[int, torch.Tensor] = field(default_factory=dict)
    spans: list[tuple[int, int]] | None = None
    batch_out: list[dict[int, torch.Tensor]] = field(default_factory=list)
    seen_layers: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.spans is not None:
            self.batch_out = [{} for _ in self.spans]


_ACTIVE: contextvars.ContextVar[Capture | None] = contextvars.ContextVar("qrexp_capture", default=None)


@contextmanager
def capturing(cap: Capture):
    """Activate ``cap`` for the forwards run inside the block."""
    token = _ACTIVE.set(cap)
    try:
        yield cap
    finally:
        _ACTIVE.reset(token)


def span_attention(query: torch.Tensor, key: torch.Tensor, attention_mask: torch.Tensor | None,
                   scaling: float, span: tuple[int, int], heads: list[int],
                   reduce_rows: bool = True) -> torch.Tensor:
    """Attention probabilities from span rows to all keys, for a subset of heads.

    query [1, H, Q, D], key [1, KVH, T, D] (not repeated), mask None | bool | additive [1, 1|H, Q, T].
    Returns fp32 [len(heads), T] (mean over span rows) or [len(heads), S, T] with reduce_rows=False.
    Query heads sharing a KV head are computed in one matmul against that head's keys (a view,
    never repeated); rows are processed in blocks of at most ROW_BLOCK_BYTES of scores.
    """
    if query.shape[0] != 1:
        raise ValueError("span_attention reads one batch row at a time")
    n_heads, q_len, kv_len = query.shape[1], query.shape[2], key.shape[2]
    group = n_heads // key.shape[1]
    s, e = span
    heads_t = torch.as_tensor(heads, device=query.device)
    kv_of = heads_t // group
    groups = sorted(set(kv_of.tolist()))
    per_group = max(int((kv_of == g).sum()) for g in groups)
    rows_per_block = max(1, ROW_BLOCK_BYTES // (4 * kv_len * per_group * len(groups)))
    out = torch.empty((len(heads), kv_len) if reduce_rows else (len(heads), e - s, kv_len),
                      dtype=torch.float32, device=query.device)
    acc = torch.zeros(len(heads), kv_len, dtype=torch.float32, device=query.device)
    full = len(heads) == n_heads and bool((heads_t == torch.arange(n_heads, device=query.device)).all())
    if attention_mask is not None and attention_mask.shape[-1] < kv_len:
        raise RuntimeError(f"attention mask covers {attention_mask.shape[-1]} keys, the layer has "
                           f"{kv_len}; the capture would misalign positions")
    keys = key[0].float()                                               # [KVH, T, D]
    kv_pos = torch.arange(kv_len, device=query.device)
    for r0 in range(s, e, rows_per_block):
        r1 = min(e, r0 + rows_per_block)
        if full:   # every head: [KVH, g, R, D] @ [KVH, 1, D, T] broadcasts the shared keys
            q = query[0, :, r0:r1].float().reshape(key.shape[1], group, r1 - r0, -1)
            scores = torch.matmul(q, keys.unsqueeze(1).transpose(-1, -2)).flatten(0, 1)
        else:      # a subset: one matmul per KV group against that group's keys (a view)
            scores = torch.empty(len(heads), r1 - r0, kv_len, dtype=torch.float32, device=query.device)
            for g in groups:
                sel = (kv_of == g).nonzero().flatten()
                scores[sel] = torch.matmul(query[0, heads_t[sel], r0:r1].float(), keys[g].T)
        scores.mul_(scaling)
        if attention_mask is None:                                      # causal; queries end the keys
            q_pos = torch.arange(r0, r1, device=query.device) + (kv_len - q_len)
            scores.masked_fill_(kv_pos[None, :] > q_pos[:, None], float("-inf"))
        else:
            m = attention_mask[0, :, r0:r1, :kv_len]
            if m.shape[0] != 1:
                m = m[heads_t]
            if m.dtype == torch.bool:
                scores.masked_fill_(~m, float("-inf"))
            else:
                scores += m.float()
        probs = scores.softmax(-1)
        if reduce_rows:
            acc += probs.sum(1)
        else:
            out[:, r0 - s:r1 - s] = probs
    if reduce_rows:
        out.copy_(acc / (e - s))
    return out


def capture_attention_forward(module, query, key, value, attention_mask, dropout=0.0,
                              scaling=None, **kwargs):
    """Drop-in attention function: stock SDPA output, plus capture / masking / early exit."""
    cap = _ACTIVE.get()
    if cap is not None:
        _check_supported(module, attention_mask, key.shape[2])
    out, _ = sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                    scaling=scaling, **kwargs)
    if cap is None:
        return out, None
    layer = module.layer_idx
    cap.seen_layers.add(layer)
    masked = cap.mask_heads.get(layer)
    if masked:
        out = out.clone()
        out[:, :, masked, :] = 0                                     # out [B, Q, H, D]
    spans = cap.spans if cap.spans is not None else ([cap.span] if cap.span is not None else [])
    if spans and (cap.heads is None or layer in cap.heads):
        heads = list(range(query.shape[1])) if cap.heads is None else cap.heads[layer]
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        for b, span in enumerate(spans):
            mask = attention_mask
            if mask is not None and mask.shape[0] > 1:
                mask = mask[b:b + 1]
            rows = span_attention(query[b:b + 1], key[b:b + 1], mask, scale, span, heads,
                                  reduce_rows=not cap.rows)
            if cap.spans is None:
                cap.out[layer] = rows
            else:
                cap.batch_out[b][layer] = rows
    if cap.stop_after is not None and layer >= cap.stop_after:
        raise StopForward
    return out, None


def _check_supported(module, attention_mask, kv_len: int) -> None:
    """Refuse attention variants the capture would get wrong, rather than return wrong numbers."""
    cfg = getattr(module, "config", None)
    if getattr(cfg, "attn_logit_softcapping", None):
        raise NotImplementedError(f"{type(module).__name__}: attention soft-capping is not supported")
    window = getattr(module, "sliding_window", None)
    if window and attention_mask is None and kv_len > window:
        raise NotImplementedError(
            f"{type(module).__name__} layer {module.layer_idx}: sliding window {window} < {kv_len} tokens "
            "without an explicit mask")
    if getattr(module, "layer_idx", None) is None:
        raise NotImplementedError(f"{type(module).__name__} has no layer_idx; cannot attribute heads")


AttentionInterface.register(ATTN_NAME, capture_attention_forward)
# Same name in the mask registry: without it transformers builds no mask for an unknown
# implementation, and cached continuations (q_len > 1 on a prefix) silently attend to the future.
AttentionMaskInterface.register(ATTN_NAME, sdpa_mask)
