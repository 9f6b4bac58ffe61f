"""experiments/gpu_check.py --tiny writes its JSON with every field, and the memory model it prints
counts what a real model holds (parameters, KV cache) and the published Llama-3.1-8B size."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from qrexp.engine.forward import full_cache, prefill, prepare_model

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location("gpu_check", EXPERIMENTS / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_mode_writes_every_field(gpu_check, tmp_path):
    path = gpu_check.main(["--tiny", "--lengths", "96", "160", "--chunk", "32", "--out", str(tmp_path)])
    data = json.loads(path.read_text())
    assert path.parent == tmp_path and path.name.endswith("-tiny.json")
    assert {"device", "device_kind", "dtype", "shape", "config", "prefill_chunk", "query_tokens",
            "null_tokens", "torch", "transformers", "lengths", "capture_check",
            "computed_max_context", "command"} <= set(data)
    assert data["shape"] == "tiny" and data["prefill_chunk"] == 32 and data["dtype"] == "float32"
    assert [row["tokens"] for row in data["lengths"]] == [96, 160]
    for row in data["lengths"]:
        for name in gpu_check.MEASURES:
            entry = row[name]
            assert set(entry) == {"seconds", "tokens_per_s", "peak_gib", "computed_peak_gib", "error"}
            assert entry["error"] is None and entry["seconds"] > 0 and entry["computed_peak_gib"] >= 0
            assert entry["tokens_per_s"] == pytest.approx(row["tokens"] / entry["seconds"], rel=0.05)   # seconds rounded to 1e-4 s
            assert entry["peak_gib"] is None                               # no CUDA here
        assert row["qr_over_plain"] == pytest.approx(
            row["qr_scoring"]["seconds"] / row["plain_prefill"]["seconds"], rel=1e-2)
    assert data["capture_check"]["max_abs_diff"] < 1e-5
    assert set(data["computed_max_context"]) == {str(g) for g in gpu_check.GPU_SIZES_GIB}


def test_memory_model_counts_real_tensors(gpu_check):
    mm = sys.modules["memory_model"]
    assert mm.weight_bytes(mm.LLAMA_8B, 2) == 2 * 8_030_261_248            # Llama-3.1-8B parameters
    assert mm.kv_bytes(mm.LLAMA_8B, 131072, 2) == 16 * 2**30                # bf16 KV at 128K: 16 GiB
    shape = gpu_check.TINY
    model = gpu_check.build(shape, "cpu", torch.float32)
    assert mm.weight_bytes(shape, 4) == sum(p.numel() * 4 for p in model.parameters())
    prepare_model(model)
    cache = full_cache()
    prefill(model, list(range(100)), cache, chunk=40)
    held = sum(t.numel() * 4 for layer in cache.layers for t in (layer.keys, layer.values))
    assert mm.kv_bytes(shape, 100, 4) == held
    one_shot = mm.max_context(mm.LLAMA_8B, 40 * 2**30)
    assert 0 < one_shot < mm.max_context(mm.LLAMA_8B, 40 * 2**30, chunk=8192) <= 131072
    assert mm.peak_bytes(mm.LLAMA_8B, 131072) <= mm.FILL * 80 * 2**30          # 128K fits 80 GB one-shot
