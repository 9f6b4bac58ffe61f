"""GPU check (under 5 minutes on one H100/H200): a random-weight model of Llama-3.1-8B's shape in
bf16 at 8K and 32K tokens. Prints seconds per query for QR scoring (prefix + real and null query
continuations, every head) next to a plain SDPA prefill, the peak GPU memory of each, and checks the
capture against an explicit softmax on one layer.

    python experiments/gpu_check.py [--lengths 8192 32768] [--tiny]   (--tiny: a small shape, any device)
"""
from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from qrexp.engine.forward import fresh_pass, prefix_passes, prepare_model

LLAMA_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072,
                rope_theta=500000.0)
TINY = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=8,
            num_key_value_heads=2, vocab_size=1000, max_position_embeddings=65536)


def build(shape: dict, device: str, dtype: torch.dtype):
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(LlamaConfig(**shape), dtype=dtype)
    model = model.to_empty(device=device)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02) if p.dim() > 1 else p.fill_(1.0)
    # buffers left empty by to_empty (RoPE frequencies) are rebuilt from the config
    model.model.rotary_emb = type(model.model.rotary_emb)(config=model.config).to(device)
    return model.eval()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_gib(device, fn):
    if not device.startswith("cuda"):
        fn()
        return float("nan")
    torch.cuda.reset_peak_memory_stats()
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated() / 2**30


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[8192, 32768])
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = TINY if args.tiny else LLAMA_8B
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = build(shape, device, dtype)
    prepare_model(model)
    print(f"{'tiny' if args.tiny else 'Llama-3.1-8B'}-shaped random model, {dtype}, {device} "
          f"({torch.cuda.get_device_name() if device == 'cuda' else 'cpu'})")
    for n in args.lengths:
        g = torch.Generator().manual_seed(n)
        ids = torch.randint(0, shape["vocab_size"], (n,), generator=g).tolist()
        cont = n - 40                                     # a 40-token query continuation
        null = ids[cont:cont + 12]

        def plain():
            model.set_attn_implementation("sdpa")
            with torch.no_grad():
                model(torch.tensor([ids], device=device), logits_to_keep=1)
            model.set_attn_implementation("qrexp_capture")

        def score():
            prefix_passes(model, ids[:cont], [(ids[cont:], (0, 40)), (null, (0, 12))], heads=None,
                          early_exit=False)

        plain(), score()
        sync(device)
        times = {}
        for name, fn in (("plain prefill", plain), ("QR scoring", score)):
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name] = time.perf_counter() - t0
        mem = {name: peak_gib(device, fn) for name, fn in (("plain prefill", plain), ("QR scoring", score))}
        print(f"T={n}: " + " | ".join(f"{k} {times[k]:.2f}s, peak {mem[k]:.1f} GiB" for k in times)
              + f" | time ratio {times['QR scoring'] / times['plain prefill']:.2f}")
    # correctness on the device: captured rows vs an explicit softmax of layer 0's q.k
    n = 512
    ids = torch.randint(0, shape["vocab_size"], (n,)).tolist()
    out, _ = fresh_pass(model, ids, (n - 16, n), heads={0: list(range(shape["num_attention_heads"]))})
    eager = build(shape, device, torch.float32)
    eager.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    eager.set_attn_implementation("eager")
    with torch.no_grad():
        att = eager(torch.tensor([ids], device=device), output_attentions=True).attentions[0]
    diff = (out[0].float() - att[0, :, n - 16:].mean(1)).abs().max().item()
    print(f"layer 0 capture vs fp32 eager (bf16 model vs fp32 copy): max abs diff {diff:.2e}")


if __name__ == "__main__":
    main()
