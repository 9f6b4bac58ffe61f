"""A hand-built copying decoder for NIAH tests: one head retrieves the next token from the context.

Residual layout (hidden 128): slot A holds a unit vector a_v naming the current token v, slot B holds
a_{v+1} (its successor), slot C is empty. Head (layer, head) uses q = B, k = A (on RoPE dims whose
rotation is ~0, rope_theta 1e80), so the token v attends to the earlier position holding v+1; its
value reads A there and o_proj writes it into slot C. The LM head reads slot C only, so the model
emits the token it attended to. Every other head and every MLP writes nothing, so masking the planted
head leaves slot C empty (all logits 0, greedy output token 0), while masking any other head changes
nothing. With a needle "w10 w11 ... w17" in the context and a prompt ending in "w9", greedy decoding
copies the needle token by token, and the planted head's argmax sits on the copied needle position.
"""
from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

HIDDEN, N_HEADS = 128, 4


def copy_model(vocab_size: int, eos_id: int, layer: int = 0, head: int = 1, n_layers: int = 2,
               alpha: float = 2.0, max_len: int = 512, seed: int = 0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=HIDDEN, intermediate_size=64,
                      num_hidden_layers=n_layers, num_attention_heads=N_HEADS,
                      num_key_value_heads=N_HEADS, rope_theta=1e80, max_position_embeddings=max_len,
                      tie_word_embeddings=False, bos_token_id=None, eos_token_id=eos_id,
                      pad_token_id=eos_id)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    hd = HIDDEN // N_HEADS
    inv_freq = model.model.rotary_emb.inv_freq.double()
    pairs = [i for i in range(hd // 2) if float(inv_freq[i]) * max_len < 1e-2]
    dims = pairs + [i + hd // 2 for i in pairs]          # head dims RoPE leaves (almost) unrotated
    d = len(dims)
    slot_a, slot_b, slot_c = range(0, d), range(d, 2 * d), range(2 * d, 3 * d)
    gen = torch.Generator().manual_seed(seed)
    names = torch.randn(vocab_size, d, generator=gen)
    names = names / names.norm(dim=1, keepdim=True)      # a_v, unit vectors
    rows = slice(head * hd, (head + 1) * hd)
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        emb.zero_()
        emb[:, slot_a] = names
        emb[:, slot_b] = names.roll(-1, dims=0)          # a_{v+1}
        for block in model.model.layers:
            block.self_attn.o_proj.weight.zero_()
            block.mlp.down_proj.weight.zero_()
        attn = model.model.layers[layer].self_attn
        for w in (attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight):
            w[rows] = 0
        q, k = attn.q_proj.weight[rows], attn.k_proj.weight[rows]    # views: edits land in place
        v, o = attn.v_proj.weight[rows], attn.o_proj.weight[:, rows]
        for i, dim in enumerate(dims):
            q[dim, slot_b[i]] = alpha
            k[dim, slot_a[i]] = alpha
            v[i, slot_a[i]] = 1.0
            o[slot_c[i], i] = 1.0
        lm = model.lm_head.weight
        lm.zero_()
        lm[:, slot_c] = names
    return model
