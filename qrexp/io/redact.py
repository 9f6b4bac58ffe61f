"""Credentials never leave memory: one redaction used by every artifact, log line and console write.

What is a secret:

- a config key or override whose name contains ``key``, ``token``, ``secret`` or ``password``
  (``SECRET_WORDS``; e.g. ``+eval.qa.judge_api_key=...``): dropped from stored configs, its value
  replaced by ``***`` in text;
- the userinfo of a URL (``http://user:TOKEN@host/v1`` -> ``http://***@host/v1``) and the value of a
  token-like query parameter (``?api_key=...``, ``&sig=...``, ``&access_token=...``);
- a bearer token (``Authorization: Bearer ...``);
- the value (8 characters or more) of any environment variable whose name contains one of the
  secret words, e.g. ``$OPENAI_API_KEY``, ``$WANDB_API_KEY``, ``$HF_TOKEN``.

The real value is only ever held in memory (e.g. ``OpenAIGenerator`` keeps the URL it calls); run
folders, W&B runs, Hydra's saved configs, logs and the console get :func:`redact_text` /
:func:`redact` output. :func:`install_log_redaction` and :func:`RedactingStream` apply it to the
logging system and to stdout / stderr.
"""
from __future__ import annotations

import io
import logging
import os
import re
from typing import Any, Mapping

SECRET_WORDS = ("secret", "password", "passwd", "apikey", "credential", "credentials", "token")
# a name holding one of these words is a credential ("auth" alone may name a group of settings)
KEY_QUALIFIERS = ("api", "access", "private", "secret", "auth", "signing", "encryption", "license")
_QUERY_WORDS = ("sig", "signature", "auth", "code")   # also credentials in a URL's query string
MASK = "***"
_MIN_ENV_SECRET = 8          # shorter env values ("1", "true") are not treated as secrets
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s'\"<>]+)@")
# ?name=value or &name=value (or ;) where name looks like a credential
_QUERY = re.compile(r"(?P<lead>[?&;](?P<name>[^=&;#\s'\"]*)=)(?P<value>[^&;#\s'\"]+)")
# name=value / name: value in overrides and log lines where name looks like a credential
_ASSIGN = re.compile(r"(?P<lead>(?<![\w.\-?&;])['\"]?[+~]?(?P<name>[A-Za-z_][\w.\-]*)['\"]?\s*(?:=|:\s)\s*['\"]?)"
                     r"(?P<value>[^\s,'\"\]}&;#]+)")
_BEARER = re.compile(r"(?P<lead>\b(?:Bearer|Basic)\s+)(?P<value>[A-Za-z0-9._~+/=\-]{6,})")


def name_words(name: Any) -> list[str]:
    """``"judge_api_key"`` / ``"judgeApiKey"`` / ``"JUDGE-API-KEY"`` -> ``["judge", "api", "key"]``."""
    return [w.lower() for w in _WORD.findall(str(name))]


def is_secret_name(name: Any) -> bool:
    """True if a key, override or variable name looks like a credential.

    A word of the name is one of ``SECRET_WORDS`` (``hf_token``, ``client_secret``, ``password``;
    not ``max_new_tokens``), or it is ``key`` alone or qualified by ``KEY_QUALIFIERS``
    (``api_key``, ``judge_api_key``, ``AWS_ACCESS_KEY_ID``; not ``published_key``, ``row_key``).
    Names ending in ``env`` hold a variable's name, not its value (``api_key_env``).
    """
    words = name_words(name)
    if not words or words[-1] == "env":
        return False
    if any(w in SECRET_WORDS for w in words) or words in (["key"], ["keys"]):
        return True
    return any(w == "key" and i > 0 and words[i - 1] in KEY_QUALIFIERS for i, w in enumerate(words))


def _is_secret_param(name: str) -> bool:
    return is_secret_name(name) or any(w in _QUERY_WORDS for w in name_words(name))


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose name looks like a credential (longest first)."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= _MIN_ENV_SECRET}
    return sorted(values, key=len, reverse=True)


def redact_url(url: str) -> str:
    """A URL without userinfo and with token-like query values masked (everything else kept)."""
    return redact_text(url, env=False)


def redact_text(text: str, env: bool = True) -> str:
    """``text`` with every secret (see module doc) replaced by ``***``; ``env=False`` skips the
    environment values. Idempotent; text without secrets is returned unchanged."""
    if not isinstance(text, str) or not text:
        return text
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@" if m["userinfo"] != MASK else m[0], text)
    out = _QUERY.sub(lambda m: m["lead"] + MASK if _is_secret_param(m["name"]) else m[0], out)
    out = _ASSIGN.sub(lambda m: m["lead"] + MASK if is_secret_name(m["name"].rsplit(".", 1)[-1])
                      and not _env_var_name(m["value"]) else m[0], out)
    out = _BEARER.sub(lambda m: m["lead"] + MASK, out)
    if env:
        for value in secret_env_values():
            out = out.replace(value, MASK)
    return out


def _env_var_name(value: str) -> bool:
    """``api_key_env=OPENAI_API_KEY`` names a variable, it does not hold a secret."""
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", value)) or value.startswith(MASK)


def redact(obj: Any, drop_keys: bool = True, env: bool = True) -> Any:
    """A copy of a nested config: secret-named keys dropped (``drop_keys``) or their value masked,
    and every string passed through :func:`redact_text` (``env=False``: environment values left
    alone, so that the result does not depend on the environment, e.g. for run ids)."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if is_secret_name(k):
                if not drop_keys:
                    out[k] = MASK
                continue
            out[k] = redact(v, drop_keys, env)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact(v, drop_keys, env) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, env)
    return obj


# ----------------------------------------------------------------------------- logging and console
_installed = False


def install_log_redaction() -> None:
    """Redact every log record's message once it is created (a LogRecord factory, so it survives
    Hydra's ``logging.config.dictConfig``). Safe to call more than once."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem, not ours
            return record
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class RedactingStream(io.TextIOBase):
    """A text stream that writes :func:`redact_text` of everything to ``inner`` (stdout / stderr).

    Lines are redacted whole: text is buffered up to the next newline or carriage return (tqdm)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
        if cut >= 0:
            ready, self._pending = self._pending[: cut + 1], self._pending[cut + 1:]
            self.inner.write(redact_text(ready))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.inner.write(redact_text(self._pending))
            self._pending = ""
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self):
        return getattr(self.inner, "encoding", "utf-8")

    def __getattr__(self, name: str):              # buffer, errors, reconfigure, ...: the inner stream's
        return getattr(self.inner, name)


def redact_console() -> None:
    """Wrap sys.stdout and sys.stderr in :class:`RedactingStream` (idempotent)."""
    import sys
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


class redacted_argv:
    """``with redacted_argv():`` sys.argv holds redacted arguments (W&B records sys.argv in its
    run metadata at init); restored on exit."""

    def __enter__(self):
        import sys
        self.saved = list(sys.argv)
        sys.argv[:] = [redact_text(a) for a in sys.argv]
        return self

    def __exit__(self, *exc):
        import sys
        sys.argv[:] = self.saved
