"""An unreachable hub fails at once with one line (no minute of retries); cached models still load."""
import socket
import time

import pytest

from qrexp.engine import hub
from qrexp.engine.models import load_model


def _closed_port() -> int:
    with socket.socket() as s:                 # bind, read the port, close: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hub_fails_fast_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    t0 = time.time()
    with pytest.raises(hub.HubUnreachable) as err:
        load_model("nobody-qrexp/not-a-model")
    assert time.time() - t0 < 10
    msg = str(err.value)
    assert "\n" not in msg and "hub (http://127.0.0.1:" in msg and "unreachable" in msg
    assert "model.path=/path/to/not-a-model" in msg


def test_offline_and_not_cached_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(hub.HubUnreachable, match="HF_HUB_OFFLINE is set"):
        load_model("nobody-qrexp/not-a-model")


def test_cached_model_is_read_from_the_cache_without_network(monkeypatch, tmp_path):
    """A model in the HF cache (written here in the cache layout) is read with local_files_only (no retries)."""
    from organisms import bpe_tokenizer, tiny_model
    snap = tmp_path / "models--someone--tiny" / "snapshots" / "abc123"
    tok = bpe_tokenizer()
    tiny_model("llama", len(tok)).save_pretrained(snap)
    tok.save_pretrained(snap)
    (tmp_path / "models--someone--tiny" / "refs").mkdir()
    (tmp_path / "models--someone--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert hub.is_cached("someone/tiny") and not hub.reachable()
    assert hub.hub_load_options("someone/tiny") == {"local_files_only": True}
