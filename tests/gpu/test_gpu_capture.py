"""GPU tier (skipped without CUDA): experiments/gpu_check.py at 8K tokens on a random-weight
Llama-3.1-8B shape in bf16: QR scoring runs next to a plain prefill and the capture matches an fp32
eager computation on the GPU."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_gpu_check_at_8k(tmp_path):
    sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location("gpu_check", EXPERIMENTS / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    data = json.loads(gpu_check.main(["--lengths", "8192", "--out", str(tmp_path)]).read_text())
    assert str(data["device_kind"]).startswith("cuda") and data["lengths"], data
    assert data["capture_check"]["max_abs_diff"] < 1e-3, data["capture_check"]
