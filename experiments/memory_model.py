"""Peak GPU memory of QR scoring computed from a decoder's shapes (not measured).

What is alive at the peak of one query (batch 1, no gradients), in bytes:

  weights   b * (2 V d + L (2 d H hd + 2 d KVH hd + 3 d I + 2 d) + d)   (untied embeddings)
  KV cache  2 L KVH hd T b                                             (full cache, every layer)
  prefix pass of a C-token chunk (C = T one-shot), the largest of one layer's transients:
    residual stream + layer output   2 C d b
    MLP  act(gate) * up and both     C d b + 3 C I b
    RMSNorm fp32 copy and square     8 C d
    attention q, k, v, RoPE, output  C (d + 2 H hd + 4 KVH hd + H hd + 3 (H + KVH) hd) b
      with a mask (chunked prefill, or a one-shot prefill of a sliding-window model): the bool
      mask C T and its additive form for the fused kernel C T b, keys repeated to every head for masked SDPA 2 H hd T b, and the layer's grown KV
      copy 2 KVH hd T b
  continuations (real + null query, N = 2 rows of w tokens) on the full prefix:
    the prefix gathered per row 2 N KVH hd T b, repeated for masked SDPA 2 N H hd T b, one
    layer's keys in fp32 for the capture KVH hd T 4, the captured rows kept L H T 4 N

peak = weights + KV(T) + max(prefix transients, continuation transients). A context "fits" when
the peak is at most FILL of the GPU's memory (room for the CUDA context and fragmentation).
experiments/gpu_check.py prints this next to torch's measured peak.
"""
from __future__ import annotations

GIB = 2**30
FILL = 0.9
LLAMA_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072,
                rope_theta=500000.0)


def _dims(shape: dict) -> tuple[int, int, int, int, int, int, int]:
    d, n_heads = shape["hidden_size"], shape["num_attention_heads"]
    hd = shape.get("head_dim") or d // n_heads
    return (d, shape["intermediate_size"], shape["num_hidden_layers"], n_heads,
            shape.get("num_key_value_heads", n_heads), hd, shape["vocab_size"])


def weight_bytes(shape: dict, b: int = 2) -> int:
    """Parameter bytes at ``b`` bytes per element (untied input and output embeddings)."""
    d, i, layers, h, kvh, hd, v = _dims(shape)
    return b * (2 * v * d + layers * (2 * d * h * hd + 2 * d * kvh * hd + 3 * d * i + 2 * d) + d)


def kv_bytes(shape: dict, tokens: int, b: int = 2) -> int:
    """Full KV cache of ``tokens`` tokens: 2 L KVH hd T b."""
    d, i, layers, h, kvh, hd, v = _dims(shape)
    return 2 * layers * kvh * hd * tokens * b


def prefill_bytes(shape: dict, tokens: int, chunk: int | None, b: int = 2, sliding: bool = False) -> int:
    """Largest transient of the prefix pass (see the module docstring)."""
    d, i, layers, h, kvh, hd, v = _dims(shape)
    c = min(chunk or tokens, tokens)
    attn = c * (d + 2 * h * hd + 4 * kvh * hd + h * hd + 3 * (h + kvh) * hd) * b   # + rotate_half copies
    if c < tokens or sliding:
        attn += c * tokens * (1 + b) + 2 * h * hd * tokens * b + 2 * kvh * hd * tokens * b
    return 2 * c * d * b + max(c * d * b + 3 * c * i * b, 8 * c * d, attn)


def continuation_bytes(shape: dict, tokens: int, b: int = 2, rows: int = 2, width: int = 40) -> int:
    """Transients of the batched real + null continuations on a ``tokens``-token prefix."""
    d, i, layers, h, kvh, hd, v = _dims(shape)
    return (2 * rows * kvh * hd * tokens * b + 2 * rows * h * hd * tokens * b + kvh * hd * tokens * 4
            + layers * h * tokens * 4 * rows + rows * width * tokens)


def peak_bytes(shape: dict, tokens: int, chunk: int | None = None, b: int = 2, scoring: bool = True,
               sliding: bool = False) -> int:
    """Computed peak of one query at ``tokens`` tokens; ``scoring=False``: a plain prefill."""
    act = prefill_bytes(shape, tokens, chunk, b, sliding)
    if scoring:
        act = max(act, continuation_bytes(shape, tokens, b))
    return weight_bytes(shape, b) + kv_bytes(shape, tokens, b) + act


def max_context(shape: dict, memory_bytes: float, chunk: int | None = None, b: int = 2,
                step: int = 1024) -> int:
    """Largest multiple of ``step`` tokens (capped at the model window) whose computed scoring peak
    is at most FILL * memory_bytes; 0 when not even ``step`` tokens fit."""
    cap = shape.get("max_position_embeddings") or 2**20
    lo, hi = 0, cap // step
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if peak_bytes(shape, mid * step, chunk, b) <= FILL * memory_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo * step
