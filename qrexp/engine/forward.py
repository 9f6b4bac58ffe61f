"""Forward passes that read query-span attention: a shared prefix computed once, then the
continuations (real query, null query) batched on its KV cache, with early exit after the last
layer needed.

All passes call the full causal LM with ``logits_to_keep=1`` so the LM head costs one position.
Every reused KV cache is a *full* cache (:func:`full_cache`): each layer keeps every token, also on
sliding-window / local-attention layers (Mistral, Qwen2 ``use_sliding_window``, Gemma local
layers, ``config.layer_types``), and the window is applied by the model's own sliding mask over
that full key axis. The captured key axis is therefore always prefix + continuation, position for
position, equal to a fresh full forward; :func:`check_cache` and :func:`check_key_axis` assert it
wherever a cache is read.

Memory is linear in the prompt length T: the model's fused SDPA kernel computes attention, the
capture recomputes only the query-span rows in bounded blocks (qrexp.engine.capture), and
``prefill_chunk`` bounds the prefix pass's activations (and the [chunk, T] mask of sliding-window
models, which a one-shot prefill would build as [T, T]) to one chunk.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from qrexp.engine.capture import ATTN_NAME, Capture, StopForward, capturing

Heads = dict[int, list[int]] | None   # {layer: [head, ...]}; None = all heads of all layers


def prepare_model(model) -> None:
    """Switch ``model`` to the capture attention and check every layer really goes through it."""
    if getattr(model.config, "_attn_implementation", None) != ATTN_NAME:
        model.set_attn_implementation(ATTN_NAME)
    if getattr(model, "_qrexp_checked", False):
        return
    _check_layer_types(model)
    n_layers = model.config.num_hidden_layers
    ids = torch.tensor([[1, 2, 3, 4]], device=model.device) % model.config.vocab_size
    cap = Capture(span=(0, 4))
    with torch.no_grad(), capturing(cap):
        model(input_ids=ids, use_cache=False, logits_to_keep=1)
    if cap.seen_layers != set(range(n_layers)):
        missing = sorted(set(range(n_layers)) - cap.seen_layers)
        raise NotImplementedError(
            f"{type(model).__name__}: layers {missing[:5]} do not call the attention interface; "
            "qrexp cannot read their attention exactly")
    model._qrexp_checked = True


SUPPORTED_LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention")


def full_cache() -> DynamicCache:
    """A KV cache whose every layer keeps every token.

    ``DynamicCache(config=model.config)`` would give sliding-window layers a
    ``DynamicSlidingWindowLayer`` that drops all but the last window of the prefix, so a frozen
    prefix would be short and the captured key axis would no longer line up with document spans
    (issue 9). Without a config every layer is a plain ``DynamicLayer``; the model still builds its
    sliding-window mask (its mask functions size it from this cache: kv length = cached + new), so
    attention equals a fresh full forward. Costs the memory of a full cache on sliding layers.
    """
    return DynamicCache()


def check_cache(cache, n_tokens: int, where: str) -> None:
    """Raise RuntimeError unless every initialized layer of ``cache`` holds exactly ``n_tokens``."""
    for i, layer in enumerate(cache.layers):
        if getattr(layer, "is_sliding", False):
            raise RuntimeError(f"{where}: cache layer {i} is a sliding-window layer "
                               f"({type(layer).__name__}); qrexp needs a full cache")
        if layer.is_initialized and layer.keys.shape[-2] != n_tokens:
            raise RuntimeError(f"{where}: cache layer {i} holds {layer.keys.shape[-2]} tokens, "
                               f"expected {n_tokens}")


def check_key_axis(out: dict[int, torch.Tensor], n_keys: int, where: str) -> None:
    """Raise RuntimeError unless every capture ``out[layer]`` [..., T] has T == ``n_keys``."""
    for layer, x in out.items():
        if x.shape[-1] != n_keys:
            raise RuntimeError(f"{where}: layer {layer} captured {x.shape[-1]} key positions, "
                               f"expected {n_keys} (prefix + continuation)")


def _check_layer_types(model) -> None:
    cfg = model.config.get_text_config(decoder=True)
    types = getattr(cfg, "layer_types", None) or ()
    odd = sorted({t for t in types if t not in SUPPORTED_LAYER_TYPES})
    if odd:
        raise NotImplementedError(f"{type(model).__name__}: layer types {odd} (config.layer_types) "
                                  f"are not supported; qrexp reads {', '.join(SUPPORTED_LAYER_TYPES)}")
    if getattr(cfg, "kv_sharing_modes", None) or getattr(cfg, "num_kv_shared_layers", 0):
        raise NotImplementedError(f"{type(model).__name__}: layers sharing another layer's KV cache "
                                  "are not supported")


def last_layer(heads: Heads, n_layers: int) -> int:
    return n_layers - 1 if heads is None else max(heads)


def run_forward(model, ids: list[int], cap: Capture, cache=None):
    """One batch-1 forward over token ids ``ids`` (length T) under the capture ``cap``, no grad.

    ``cache`` (a transformers Cache, e.g. :func:`full_cache`) is extended in place when given.
    Returns the last position's logits [V] (the model's dtype), or None when ``cap`` stopped the
    forward early (``stop_after``: StopForward is caught here). Side effect: ``cap.out`` /
    ``cap.batch_out`` are filled by the capture attention (:mod:`qrexp.engine.capture`).
    """
    x = torch.tensor([ids], device=model.device)
    with torch.no_grad(), capturing(cap):
        try:
            out = model(input_ids=x, cache=cache, use_cache=cache is not None, logits_to_keep=1)
        except StopForward:
            return None
    return out.logits[0, -1]


class FrozenPrefixLayer(DynamicLayer):
    """A cache layer that serves its prefix to continuations without growing: ``update`` returns
    [prefix; new] keys/values for this layer's attention and stores nothing, so several
    continuations (batched: the prefix is broadcast as a view) reuse one prefix cache, and only one
    layer's concatenation is alive at a time."""

    rows: torch.Tensor | None = None

    @classmethod
    def of(cls, layer: DynamicLayer, rows: torch.Tensor | None = None) -> "FrozenPrefixLayer":
        """Freeze ``layer``. ``rows`` [N] (optional): continuation row n reads prefix row rows[n]
        of a batched prefix cache (a gather, one layer at a time); None: one prefix for all rows."""
        frozen = cls()
        frozen.__dict__.update(layer.__dict__)
        frozen.rows = rows
        return frozen

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            raise RuntimeError("continuation reached a layer the prefix pass did not run (early exit)")
        if self.rows is None:
            n = key_states.shape[0]
            keys, values = self.keys.expand(n, -1, -1, -1), self.values.expand(n, -1, -1, -1)
        else:
            keys, values = self.keys[self.rows], self.values[self.rows]
        return torch.cat([keys, key_states], dim=-2), torch.cat([values, value_states], dim=-2)


def prefill(model, ids: list[int], cache, stop_after: int | None = None,
            chunk: int | None = None) -> None:
    """Fill ``cache`` (a :func:`full_cache`) with the KV of ``ids``, in forwards of at most
    ``chunk`` tokens (None: one forward). Side effect: ``cache`` grows by len(ids) tokens.

    Chunk k attends to the cached chunks before it through the model's own causal (and sliding)
    mask, so the cache equals a one-shot prefill's up to float rounding (tested to 1e-5 fp32);
    peak activations scale with ``chunk`` instead of len(ids). Raises ValueError for chunk < 1.
    """
    if chunk is not None and chunk < 1:
        raise ValueError(f"prefill chunk must be >= 1 token or None, got {chunk}")
    step = chunk or max(1, len(ids))
    for start in range(0, len(ids), step):
        run_forward(model, list(ids[start:start + step]), Capture(span=None, stop_after=stop_after), cache)


def fresh_pass(model, ids: list[int], span: tuple[int, int], heads: Heads = None,
               early_exit: bool = True, rows: bool = False):
    """One full forward over ``ids``; returns ({layer: [H_sel, T]} , last logits or None)."""
    stop = last_layer(heads, model.config.num_hidden_layers) if early_exit else None
    cap = Capture(span=span, heads=heads, stop_after=stop, rows=rows)
    logits = run_forward(model, list(ids), cap)
    check_key_axis(cap.out, len(ids), "fresh pass")
    return cap.out, logits


def prefix_passes(model, prefix: list[int], continuations: list[tuple[list[int], tuple[int, int]]],
                  heads: Heads = None, early_exit: bool = True, rows: bool = False,
                  prefill_chunk: int | None = None):
    """Run ``prefix`` once, then all (ids, span) continuations on its KV cache in one batched,
    right-padded forward (the prefix cache is frozen and shared as a view, never copied).

    ``span`` is relative to the continuation. Right padding cannot change the real tokens (they
    never attend to later positions). ``prefill_chunk``: the prefix is prefilled in chunks of
    that many tokens (:func:`prefill`). Returns a list of ({layer: [H_sel, T]}, logits|None) where
    T counts the prefix and that continuation's own tokens.
    """
    if not prefix:
        return [fresh_pass(model, ids, span, heads, early_exit, rows) for ids, span in continuations]
    stop = last_layer(heads, model.config.num_hidden_layers) if early_exit else None
    cache = full_cache()
    prefill(model, prefix, cache, stop, prefill_chunk)
    check_cache(cache, len(prefix), "prefix pass")
    cache.layers = [FrozenPrefixLayer.of(layer) for layer in cache.layers]
    lengths = [len(ids) for ids, _ in continuations]
    width, n = max(lengths), len(continuations)
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    batch = torch.tensor([list(ids) + [pad] * (width - len(ids)) for ids, _ in continuations],
                         device=model.device)
    cap = Capture(spans=[span for _, span in continuations], heads=heads, stop_after=stop, rows=rows)
    with torch.no_grad(), capturing(cap):
        try:
            out = model(input_ids=batch, cache=cache, use_cache=True, logits_to_keep=width)
            logits = [out.logits[b, length - 1] for b, length in enumerate(lengths)]
        except StopForward:
            logits = [None] * n
    t = len(prefix)
    for b in range(n):
        check_key_axis(cap.batch_out[b], t + width, f"continuation {b} on a {t}-token prefix")
    return [({layer: x[..., : t + length] for layer, x in cap.batch_out[b].items()}, logits[b])
            for b, length in enumerate(lengths)]


def stack_layers(out: dict[int, torch.Tensor], heads: Heads, n_layers: int, n_heads: int,
                 length: int | None = None) -> torch.Tensor:
    """Dense TokenScores [L, H, T] from per-layer captures (uncaptured heads are zero)."""
    some = next(iter(out.values()))
    t = some.shape[-1] if length is None else length
    dense = torch.zeros(n_layers, n_heads, t, dtype=torch.float32, device=some.device)
    for layer, rows in out.items():
        idx = list(range(n_heads)) if heads is None else heads[layer]
        dense[layer, idx] = rows[..., :t]
    return dense
