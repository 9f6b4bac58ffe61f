"""qrexp.io.redact: which names are credentials, what is masked in text and configs, log records and
console streams, sys.argv for W&B."""
import io
import logging
import sys

import pytest

from qrexp.io.redact import (MASK, RedactingStream, install_log_redaction, is_secret_name, redact,
                          redact_text, redact_url, redacted_argv)


@pytest.mark.parametrize("name", ["judge_api_key", "api_key", "OPENAI_API_KEY", "HF_TOKEN", "hf_token",
                                  "judgeApiKey", "AWS_ACCESS_KEY_ID", "client_secret", "Password",
                                  "auth_token", "key", "keys", "private_key"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["max_new_tokens", "published_key", "row_key", "col_key", "api_key_env",
                                  "author", "auth", "monkey", "keyword", "judge_url", "n_heads"])
def test_names_that_are_not_secrets(name):
    assert not is_secret_name(name)


@pytest.mark.parametrize("text,expected", [
    ("eval.qa.judge_url=http://user:TOK9@host:8000/v1", "eval.qa.judge_url=http://***@host:8000/v1"),
    ("https://host/v1?api_key=abc&model=m&sig=zz#frag", "https://host/v1?api_key=***&model=m&sig=***#frag"),
    ("+eval.qa.judge_api_key=sk-123 seed=1", "+eval.qa.judge_api_key=*** seed=1"),
    ("#0 : heads.k=4 +eval.qa.judge_api_key=sk-1", "#0 : heads.k=4 +eval.qa.judge_api_key=***"),
    ("{'hf_token': 'hf_abc', 'n': 1}", "{'hf_token': '***', 'n': 1}"),
    ("judge_api_key: sk-9", "judge_api_key: ***"),
    ("Authorization: Bearer sk-abcdef12", "Authorization: Bearer ***"),
    ("eval.qa.max_new_tokens=32 api_key_env=OPENAI_API_KEY", "eval.qa.max_new_tokens=32 api_key_env=OPENAI_API_KEY"),
    ("http://localhost:8000/v1 ok", "http://localhost:8000/v1 ok"),
])
def test_redact_text(text, expected):
    assert redact_text(text, env=False) == expected
    assert redact_text(expected, env=False) == expected          # idempotent


def test_environment_secrets_are_masked_anywhere(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-from-env-777")
    monkeypatch.setenv("SOME_KEY_FLAG", "1")                      # too short to be a secret
    assert redact_text("sent tok-from-env-777 and 1") == f"sent {MASK} and 1"
    assert redact_url("http://h/x?q=tok-from-env-777") == "http://h/x?q=tok-from-env-777"  # no env


def test_redact_config_drops_or_masks_keys_and_cleans_strings():
    cfg = {"eval": {"qa": {"judge_url": "http://u:p4ss@h/v1", "judge_api_key": "sk-1", "max_new_tokens": 6}},
           "model": {"published_key": "llama-3.1-8b"}, "list": ["x", "http://a:b@c"]}
    assert redact(cfg) == {"eval": {"qa": {"judge_url": "http://***@h/v1", "max_new_tokens": 6}},
                           "model": {"published_key": "llama-3.1-8b"}, "list": ["x", "http://***@c"]}
    masked = redact(cfg, drop_keys=False)
    assert masked["eval"]["qa"]["judge_api_key"] == MASK


def test_log_records_and_console_streams_are_redacted(monkeypatch):
    install_log_redaction()
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logger = logging.getLogger("qrexp.test_redact")
    logger.addHandler(handler)
    try:
        logger.warning("calling %s", "http://u:SECRET1@h/v1")
    finally:
        logger.removeHandler(handler)
    assert buf.getvalue() == "calling http://***@h/v1\n"
    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write("+eval.qa.judge_api_key=sk-sp")            # a line split over two writes
    stream.write("lit-77\nnext\r")
    assert inner.getvalue() == "+eval.qa.judge_api_key=***\nnext\r"


def test_redacted_argv_is_restored():
    saved = list(sys.argv)
    sys.argv[:] = ["qrexp", "eval.qa.judge_url=http://u:pw123@h/v1"]
    try:
        with redacted_argv():
            assert sys.argv == ["qrexp", "eval.qa.judge_url=http://***@h/v1"]
        assert sys.argv == ["qrexp", "eval.qa.judge_url=http://u:pw123@h/v1"]
    finally:
        sys.argv[:] = saved


def test_run_ids_do_not_depend_on_credentials():
    from qrexp.runs.store import run_id
    base = {"eval": {"name": "lme", "qa": {"judge_url": "http://u:tokA@judge:8000/v1", "max_new_tokens": 6}}}
    rotated = {"eval": {"name": "lme", "qa": {"judge_url": "http://u:tokB@judge:8000/v1", "max_new_tokens": 6}}}
    other_host = {"eval": {"name": "lme", "qa": {"judge_url": "http://u:tokA@other:8000/v1", "max_new_tokens": 6}}}
    assert run_id(base, ("eval.name",)) == run_id(rotated, ("eval.name",))
    assert run_id(base, ("eval.name",)) != run_id(other_host, ("eval.name",))
    import hashlib
    from qrexp.io.files import canonical_json
    plain = {"model": {"name": "m", "published_key": "k"}, "qa": {"max_new_tokens": 6}, "n": 1}
    # configs without credentials keep the ids they had before redaction took part
    assert run_id(plain) == hashlib.sha256(canonical_json(plain).encode()).hexdigest()[:10]
