"""Model labels that say what is really loaded (issue 9, section 2).

A model's label (``model.name``) goes into run ids, run folders, head files, tables and W&B tags, so
it must never contradict ``model.path``. The rule, applied once when the config is built:

- no name given: the name is derived from the path (:func:`derive_name`): the label of a known model
  (:data:`KNOWN_MODELS`, the ``conf/model`` groups), else the last path component, lower-cased;
- the path is a hub id or embedded alias (not a local file or folder): the name is determined by
  it; an explicit name must equal the derived name or the path itself;
- the path is a local file or folder: any label is accepted (a local copy of a hub model may carry
  that model's label); the artifacts still record the path and the weights fingerprint.

``model.published_key`` (published heads of one model) obeys the same rule: for a hub id or alias it
must be the known label of that path.
"""
from __future__ import annotations

from pathlib import Path

from qrexp.types import ConfigError

# label -> hub id / embedded alias; the name and path fields of conf/model/<label>.yaml
KNOWN_MODELS = {
    "smollm2-135m": "smollm2-135m",
    "llama3.2-1b": "meta-llama/Llama-3.2-1B-Instruct",
    "llama3.2-3b": "meta-llama/Llama-3.2-3B-Instruct",
    "llama3.1-8b": "meta-llama/Llama-3.1-8B-Instruct",
    "llama3.1-70b": "meta-llama/Llama-3.1-70B-Instruct",
    "qwen2.5-7b": "Qwen/Qwen2.5-7B-Instruct",
    "qwen3-8b": "Qwen/Qwen3-8B",
}
_LABEL_OF_PATH = {path.lower(): label for label, path in KNOWN_MODELS.items()}


def is_local(path: str) -> bool:
    """True when ``path`` names an existing local file or folder (not a hub id or alias)."""
    return Path(path).expanduser().exists()


def derive_name(path: str, gguf_file: str | None = None) -> str:
    """The label of the model at ``path``: its known label, the GGUF file's stem, or the last
    component of the hub id / folder, lower-cased (``Qwen/Qwen2.5-0.5B-Instruct`` ->
    ``qwen2.5-0.5b-instruct``)."""
    known = _LABEL_OF_PATH.get(str(path).rstrip("/").lower())
    if known:
        return known
    if gguf_file:
        return Path(gguf_file).stem.lower()
    tail = str(path).rstrip("/").replace("\\", "/").split("/")[-1]
    return (Path(tail).stem if tail.endswith(".gguf") else tail).lower()


def resolve_name(name: str | None, path: str, gguf_file: str | None = None,
                 published_key: str | None = None) -> str:
    """The label to use for the model at ``path``; raises ConfigError (a ValueError: one line,
    naming the fields and the fix) when ``name`` or ``published_key`` contradicts the path."""
    if not path or path == "???":
        raise ConfigError("config model.path is not set: give a hub id, local folder, .gguf file or "
                         f"embedded alias (e.g. model=hf model.path=Qwen/Qwen2.5-0.5B-Instruct)")
    derived = derive_name(path, gguf_file)
    local = is_local(path)
    if published_key and not local and published_key != derived:
        raise ConfigError(f"config model.published_key={published_key!r} holds the heads of "
                         f"{KNOWN_MODELS.get(published_key, published_key)!r}, not of model.path={path!r}; "
                         "set model.published_key=null (or the model group of that path)")
    if name is None or name == "":
        return derived
    name = str(name)
    if local or name == derived or name == path:
        return name
    target = KNOWN_MODELS.get(name) or (name if "/" in name else None)
    hint = (f"to run {target} use model=hf model.path={target}; to run {path} drop model.name"
            if target else "drop model.name (it is derived from model.path)")
    raise ConfigError(f"config model.name={name!r} contradicts model.path={path!r}, which loads {derived!r}: {hint}")
