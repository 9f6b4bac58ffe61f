"""GPU check: a random-weight model of Llama-3.1-8B's shape in bf16 at 8K, 32K and 128K tokens.

For each length: seconds per query, peak GPU memory and tokens/s of a plain SDPA prefill and of QR
scoring (shared prefix + real and null query continuations, every head), one-shot and with chunked
prefill; next to each, the peak memory computed from the shapes (experiments/memory_model.py).
Then the capture is checked against an explicit fp32 softmax on layer 0. Writes
results/gpu_check/<device-name>.json (every field present; a length that runs out of memory
records the error instead of numbers). About 3-5 minutes on one H100/H200.

    python experiments/gpu_check.py                        # GPU: 8K, 32K, 128K tokens
    python experiments/gpu_check.py --tiny                 # a small shape on any device (seconds)
    python experiments/gpu_check.py --estimate             # only the computed memory table
"""
from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_model import GIB, LLAMA_8B, max_context, peak_bytes  # noqa: E402  (a sibling script)

from qrexp.engine.forward import fresh_pass, prefix_passes, prepare_model
from qrexp.io.files import write_json

TINY = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=8,
            num_key_value_heads=2, vocab_size=1000, max_position_embeddings=65536)
QUERY, NULL = 40, 12                     # continuation lengths: real query block, null query block
MEASURES = ("plain_prefill", "qr_scoring", "qr_scoring_chunked")
GPU_SIZES_GIB = (24, 40, 48, 80, 94, 141)


def build(shape: dict, device: str, dtype: torch.dtype):
    """A random-weight Llama of ``shape`` on ``device`` (weights N(0, 0.02), norms 1)."""
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


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(device: str, fn) -> tuple[float, float | None]:
    """(seconds, peak GiB allocated by torch during fn; None off CUDA)."""
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / GIB if device.startswith("cuda") else None
    return seconds, peak


def one_length(model, shape: dict, n: int, chunk: int, device: str, bytes_per: int) -> dict:
    """Timings and memory of the three measures at n tokens (errors recorded, not raised)."""
    g = torch.Generator().manual_seed(n)
    ids = torch.randint(0, shape["vocab_size"], (n,), generator=g).tolist()
    cont = n - QUERY
    conts = [(ids[cont:], (0, QUERY)), (ids[cont:cont + NULL], (0, NULL))]

    def plain():
        model.set_attn_implementation("sdpa")
        try:
            with torch.no_grad():
                model(torch.tensor([ids], device=device), logits_to_keep=1)
        finally:
            model.set_attn_implementation("qrexp_capture")

    fns = {"plain_prefill": plain,
           "qr_scoring": lambda: prefix_passes(model, ids[:cont], conts, early_exit=False),
           "qr_scoring_chunked": lambda: prefix_passes(model, ids[:cont], conts, early_exit=False,
                                                       prefill_chunk=chunk)}
    chunks = {"plain_prefill": n, "qr_scoring": n, "qr_scoring_chunked": chunk}
    row: dict = {"tokens": n}
    for name, fn in fns.items():
        computed = peak_bytes(shape, n, chunks[name], bytes_per, scoring=name != "plain_prefill") / GIB
        entry = {"seconds": None, "tokens_per_s": None, "peak_gib": None,
                 "computed_peak_gib": round(computed, 2), "error": None}
        try:
            seconds, peak = measure(device, fn)
            entry.update(seconds=round(seconds, 4), tokens_per_s=round(n / seconds, 1),
                         peak_gib=None if peak is None else round(peak, 2))
        except torch.OutOfMemoryError as exc:
            entry["error"] = f"out of memory: {str(exc).splitlines()[0]}"
            torch.cuda.empty_cache()
        row[name] = entry
    ok = row["plain_prefill"]["seconds"] and row["qr_scoring"]["seconds"]
    row["qr_over_plain"] = round(row["qr_scoring"]["seconds"] / row["plain_prefill"]["seconds"], 3) if ok else None
    return row


def capture_check(model, shape: dict, device: str, n: int = 512) -> dict:
    """Layer 0's captured span rows vs an explicit fp32 softmax from a 1-layer fp32 eager copy."""
    ids = torch.randint(0, shape["vocab_size"], (n,), generator=torch.Generator().manual_seed(1)).tolist()
    out, _ = fresh_pass(model, ids, (n - 16, n), heads={0: list(range(shape["num_attention_heads"]))})
    eager = build({**shape, "num_hidden_layers": 1}, device, torch.float32)
    own = {k: v.float() for k, v in model.state_dict().items() if k in eager.state_dict()}
    eager.load_state_dict(own, strict=False)
    eager.set_attn_implementation("eager")
    with torch.no_grad():
        att = eager(torch.tensor([ids], device=device), output_attentions=True).attentions[0]
    diff = (out[0].float() - att[0, :, n - 16:].mean(1)).abs().max().item()
    del eager
    return {"tokens": n, "layer": 0, "max_abs_diff": diff,
            "note": f"{model.dtype} model vs its fp32 copy (1e-5 in fp32, bf16 rounding on GPU)"}


def computed_table(shape: dict, bytes_per: int, chunk: int) -> dict:
    """{"<GiB>": {"one_shot": T, "chunked": T}} largest context whose computed peak fits."""
    return {str(g): {"one_shot": max_context(shape, g * GIB, None, bytes_per),
                     "chunked": max_context(shape, g * GIB, chunk, bytes_per)} for g in GPU_SIZES_GIB}


def main(argv: list[str] | None = None) -> Path | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=None,
                    help="tokens per prompt (default 8192 32768 131072; --tiny: 256 512 1024)")
    ap.add_argument("--chunk", type=int, default=None, help="prefill chunk (default 8192; --tiny: 128)")
    ap.add_argument("--tiny", action="store_true", help="a small shape, any device")
    ap.add_argument("--estimate", action="store_true", help="print the computed table and exit")
    ap.add_argument("--out", default="results/gpu_check", help="folder of the JSON")
    args = ap.parse_args(argv)
    shape = TINY if args.tiny else LLAMA_8B
    lengths = args.lengths or ([256, 512, 1024] if args.tiny else [8192, 32768, 131072])
    chunk = args.chunk or (128 if args.tiny else 8192)
    if args.estimate:
        for g, row in computed_table(LLAMA_8B, 2, chunk).items():
            print(f"{g:>4} GiB: one-shot {row['one_shot']:>7} tokens | chunked ({chunk}) {row['chunked']:>7} tokens")
        return None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    bytes_per = torch.finfo(dtype).bits // 8
    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu-{platform.machine()}"
    model = build(shape, device, dtype)
    prepare_model(model)
    print(f"{'tiny' if args.tiny else 'Llama-3.1-8B'}-shaped random model, {dtype}, {name}")
    prefix_passes(model, list(range(64)), [(list(range(64, 80)), (0, 16))])       # warm-up
    rows = []
    for n in lengths:
        row = one_length(model, shape, n, chunk, device, bytes_per)
        rows.append(row)
        print(f"T={n}: " + " | ".join(
            f"{k} " + (row[k]["error"] or f"{row[k]['seconds']:.2f} s, {row[k]['tokens_per_s']:.0f} tok/s, "
                       f"peak {row[k]['peak_gib'] if row[k]['peak_gib'] is not None else 'n/a'} GiB "
                       f"(computed {row[k]['computed_peak_gib']})") for k in MEASURES)
              + f" | QR/plain {row['qr_over_plain']}")
    check = capture_check(model, shape, device)
    print(f"layer 0 capture vs fp32 eager: max abs diff {check['max_abs_diff']:.2e}")
    result = {"device": name, "device_kind": device, "dtype": str(dtype).replace("torch.", ""),
              "shape": "tiny" if args.tiny else "Llama-3.1-8B", "config": shape,
              "prefill_chunk": chunk, "query_tokens": QUERY, "null_tokens": NULL,
              "torch": torch.__version__, "transformers": transformers.__version__,
              "lengths": rows, "capture_check": check,
              "computed_max_context": computed_table(shape, bytes_per, chunk),
              "command": "python experiments/gpu_check.py" + (" --tiny" if args.tiny else "")}
    path = Path(args.out) / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-')}{'-tiny' if args.tiny else ''}.json"
    write_json(path, result)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
