"""Several queries per forward: short prompts leave an accelerator idle at batch size 1, so the
document prefixes of B examples run as one left-padded batch, then every example's continuations
(real and null query) as one right-padded batch on that batched prefix cache.

Left padding keeps every prompt's last token in the same column; explicit position ids restart at 0
after each row's padding and the 2-D attention mask hides the pads, so each real token sees exactly
the keys and positions of its batch-1 forward. The captured key axis of row b is cut back to that
prompt's own tokens, so the result equals :func:`qrexp.engine.forward.prefix_passes` per example
(tested to 1e-5 in fp32 on tiny Llama, Qwen2 and sliding-window Mistral models).

Meant for short prompts (BEIR passages) on an accelerator: the padding mask is explicit, so the
prefix pass cannot use the fused causal (flash) kernel and SDPA's fallback may build [B, H, P, P]
scores (on CPU it measured slower than batch 1: experiments/bench_throughput.py).
"""
from __future__ import annotations

from typing import Sequence

import torch

from qrexp.engine.capture import Capture, StopForward, capturing
from qrexp.engine.forward import (FrozenPrefixLayer, Heads, check_cache, check_key_axis, full_cache,
                                  last_layer)

Continuation = tuple[list[int], tuple[int, int]]          # (token ids, query span relative to them)


def _pad_id(model) -> int:
    pad = model.config.pad_token_id
    return pad if pad is not None else 0


def batched_prefix_passes(model, items: Sequence[tuple[list[int], Sequence[Continuation]]],
                          heads: Heads = None, early_exit: bool = True, rows: bool = False):
    """Batched :func:`~qrexp.engine.forward.prefix_passes` over several examples.

    items: [(prefix ids, [(continuation ids, span), ...]), ...]; every prefix non-empty.
    Returns one list per item, one (captures {layer: [H_sel, T]} or [H_sel, S, T] with rows=True,
    last-token logits [V] or None after early exit) per continuation, T = len(prefix) + len(ids):
    the same values as prefix_passes on that item alone (up to float rounding). Memory: the prefix
    cache holds B x max prefix length tokens; each layer's continuation keys are gathered per row.
    Raises ValueError for an empty prefix or no continuations; RuntimeError if a cache or capture
    does not line up with the tokens (as prefix_passes).
    """
    if not items or any(not prefix or not conts for prefix, conts in items):
        raise ValueError("batched_prefix_passes: every item needs a non-empty prefix and continuations")
    device, pad = model.device, _pad_id(model)
    stop = last_layer(heads, model.config.num_hidden_layers) if early_exit else None
    lens = [len(prefix) for prefix, _ in items]
    width = max(lens)
    left = [width - n for n in lens]                                   # padding before row b
    ids = torch.tensor([[pad] * p + list(prefix) for p, (prefix, _) in zip(left, items)], device=device)
    col = torch.arange(width, device=device)
    lpad = torch.tensor(left, device=device)[:, None]
    mask = (col[None, :] >= lpad).long()                               # [B, P]
    cache = full_cache()
    with torch.no_grad(), capturing(Capture(span=None, stop_after=stop)):
        try:
            model(input_ids=ids, attention_mask=mask, position_ids=(col[None, :] - lpad).clamp(min=0),
                  cache=cache, use_cache=True, logits_to_keep=1)
        except StopForward:
            pass
    check_cache(cache, width, "batched prefix pass")

    src = [b for b, (_, conts) in enumerate(items) for _ in conts]     # continuation row -> item
    conts = [c for _, cs in items for c in cs]
    clens = [len(c) for c, _ in conts]
    cwidth = max(clens)
    src_t = torch.tensor(src, device=device)
    cache.layers = [FrozenPrefixLayer.of(layer, rows=src_t) for layer in cache.layers]
    cids = torch.tensor([list(c) + [pad] * (cwidth - len(c)) for c, _ in conts], device=device)
    ccol = torch.arange(cwidth, device=device)
    cmask = (ccol[None, :] < torch.tensor(clens, device=device)[:, None]).long()
    full_mask = torch.cat([mask[src_t], cmask], dim=1)                 # [N, P + W]
    pos = torch.tensor([lens[b] for b in src], device=device)[:, None] + ccol[None, :]
    cap = Capture(spans=[span for _, span in conts], heads=heads, stop_after=stop, rows=rows)
    with torch.no_grad(), capturing(cap):
        try:
            out = model(input_ids=cids, attention_mask=full_mask, position_ids=pos, cache=cache,
                        use_cache=True, logits_to_keep=cwidth)
            logits = [out.logits[n, k - 1] for n, k in enumerate(clens)]
        except StopForward:
            logits = [None] * len(conts)
    results: list[list] = [[] for _ in items]
    for n, b in enumerate(src):
        check_key_axis(cap.batch_out[n], width + cwidth, f"batched continuation {n} (item {b})")
        kept = {layer: x[..., left[b]: width + clens[n]] for layer, x in cap.batch_out[n].items()}
        results[b].append((kept, logits[n]))
    return results
