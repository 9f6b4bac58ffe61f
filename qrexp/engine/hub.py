"""Fail fast when a hub model cannot be had: one short reachability probe before transformers'
retries (which take over a minute when the network is down).

Before a hub id is loaded, :func:`hub_load_options` checks the local Hugging Face cache and probes
the hub endpoint (``HF_ENDPOINT``, default https://huggingface.co) with one HEAD request of
``QREXP_HUB_TIMEOUT`` seconds (default 5). Cached models load from the cache without network when
the hub is unreachable or ``HF_HUB_OFFLINE`` is set; models that are neither cached nor reachable
raise :class:`HubUnreachable` with a one-line message saying how to use a local folder instead.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request


class HubUnreachable(OSError):
    """The Hugging Face hub cannot be reached and the model is not in the local cache."""


def endpoint() -> str:
    """The hub's base URL: $HF_ENDPOINT, else huggingface_hub's default; no trailing slash."""
    from huggingface_hub import constants
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    """True when $HF_HUB_OFFLINE is set to 1 / true / yes / on (case-insensitive)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def is_cached(repo_id: str, revision: str | None = None) -> bool:
    """Whether the model's config.json is in the local Hugging Face cache (``HF_HUB_CACHE``/``HF_HOME``)."""
    from huggingface_hub import try_to_load_from_cache
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision,
                                       cache_dir=os.environ.get("HF_HUB_CACHE"))
    except Exception:                   # an id the cache cannot hold (e.g. a malformed name)
        return False
    return isinstance(found, str)


def reachable(url: str | None = None, timeout: float | None = None) -> bool:
    """One HEAD request: any HTTP answer (even an error status) means reachable."""
    url = url or endpoint()
    timeout = float(os.environ.get("QREXP_HUB_TIMEOUT", 5)) if timeout is None else timeout
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def hub_load_options(repo_id: str, revision: str | None = None) -> dict:
    """Extra ``from_pretrained`` options for a hub id: {} when the hub is reachable,
    {"local_files_only": True} when it is not but the model is cached; raises HubUnreachable else."""
    cached = is_cached(repo_id, revision)
    if offline():
        if cached:
            return {"local_files_only": True}
        raise HubUnreachable(f"model {repo_id!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
                             f"is set: download it where the hub is reachable and point model.path at the "
                             f"local folder (model.path=/path/to/{repo_id.split('/')[-1]})")
    if reachable():
        return {}
    if cached:
        return {"local_files_only": True}
    raise HubUnreachable(f"model {repo_id!r}: the Hugging Face hub ({endpoint()}) is unreachable and the "
                         f"model is not in the local cache; download it elsewhere and point model.path at "
                         f"the local folder (model.path=/path/to/{repo_id.split('/')[-1]}), or set "
                         f"HF_ENDPOINT to a reachable mirror")
