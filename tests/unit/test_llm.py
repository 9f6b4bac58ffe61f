"""Generation backends: HFGenerator equals per-prompt model.generate; OpenAIGenerator against a local
fake OpenAI-compatible server, through the openai client (request fields, parsing, retries, the API key
kept secret)."""
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from qrexp.engine.chat import as_messages
from qrexp.evals.llm import HFGenerator, OpenAIGenerator

KEY = "sk-test-Zr81xQ"


def test_as_messages():
    assert as_messages("hi") == [{"role": "user", "content": "hi"}]
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u", "extra": 1}]
    assert as_messages(msgs) == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    with pytest.raises(TypeError, match="message 0"):
        as_messages([{"role": "user"}])
    with pytest.raises(TypeError, match="non-empty list"):
        as_messages([])


@pytest.fixture
def one_thread():
    """Tiny models run far faster on one thread when the 2 cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_hf_generator_matches_unbatched_generate(chat_tokenizer, one_thread):
    from organisms import tiny_model
    tok = chat_tokenizer
    model = tiny_model("llama", len(tok), seed=0)
    prompts = [[{"role": "user", "content": "Which city does Aiko live in?"}],
               "Marta Novak lives in Oslo and works as a pilot. John Reyes owns a parrot in Lima. Query:"]

    def reference(prompt, n=10):
        gen = HFGenerator(model, tok)
        ids = torch.tensor([gen.encode(prompt)])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False)
        return out[0, ids.shape[1]:].tolist()

    # make the first prompt stop early: a token it generates (first time, at step >= 3) and the other
    # prompt never does becomes the stop id, so the batch holds a finished and a running row
    free = [reference(p) for p in prompts]
    j, stop = next((j, t) for j, t in enumerate(free[0]) if j >= 2 and t not in free[0][:j] and t not in free[1])
    model.generation_config.eos_token_id = stop
    refs = [reference(p) for p in prompts]
    assert refs == [free[0][:j + 1], free[1]] and len(refs[1]) == 10
    expected = [tok.decode([t for t in r if t != model.generation_config.eos_token_id], skip_special_tokens=True)
                for r in refs]
    gen = HFGenerator(model, tok, batch_size=2)
    assert len(gen.encode(prompts[0])) != len(gen.encode(prompts[1]))
    assert gen.generate(prompts, max_new_tokens=10) == expected
    assert HFGenerator(model, tok, batch_size=1).generate(prompts[::-1], 10) == expected[::-1]
    assert gen.encode(prompts[0]) == tok(tok.apply_chat_template(prompts[0], tokenize=False,
                                                                 add_generation_prompt=True))["input_ids"]


class FakeOpenAI:
    """An OpenAI-compatible /v1/chat/completions server on 127.0.0.1 with scripted failures."""

    def __init__(self):
        self.requests, self.failures = [], []        # failures: list of (status, body) served first
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body,        # header names lower-cased
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
                if fake.failures:
                    status, text = fake.failures.pop(0)
                    text = text.replace("{auth}", self.headers.get("Authorization", ""))
                else:
                    status = 200
                    last = body["messages"][-1]["content"]
                    text = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": f"echo:{last}"},
                         "finish_reason": "stop"}]})
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    fake = FakeOpenAI()
    yield fake
    fake.close()


def test_request_fields_and_parsing(server, monkeypatch):
    monkeypatch.setenv("QREXP_TEST_KEY", KEY)
    gen = OpenAIGenerator(server.base_url + "/", "judge-model", api_key_env="QREXP_TEST_KEY")
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "second"}]
    assert gen.generate(["first", chat], max_new_tokens=7) == ["echo:first", "echo:second"]
    first, second = server.requests
    assert first["path"] == "/v1/chat/completions"
    assert first["body"] == {"model": "judge-model", "messages": [{"role": "user", "content": "first"}],
                             "max_tokens": 7, "temperature": 0.0, "n": 1}
    assert second["body"]["messages"] == chat
    assert first["headers"]["authorization"] == f"Bearer {KEY}"
    assert first["headers"]["content-type"] == "application/json"
    assert gen.stats == {"requests": 2, "retries": 0}


def test_retry_on_500_and_key_never_exposed(server, monkeypatch, caplog):
    monkeypatch.setenv("QREXP_TEST_KEY", KEY)
    server.failures = [(500, '{"error": "overloaded, auth was {auth}"}'), (503, "busy")]
    gen = OpenAIGenerator(server.base_url, "m", api_key_env="QREXP_TEST_KEY", max_retries=2)
    with caplog.at_level(logging.WARNING, logger="qrexp.evals.llm"):
        out = gen.generate(["hello"], max_new_tokens=3)
    assert out == ["echo:hello"]
    assert gen.stats == {"requests": 3, "retries": 2}
    assert len(server.requests) == 3 and all(r["body"]["messages"][0]["content"] == "hello" for r in server.requests)
    assert "HTTP 500" in caplog.text and "***" in caplog.text          # the echoed key is redacted
    exposed = [repr(gen), str(vars(gen)), json.dumps(gen.stats), json.dumps(out), caplog.text]
    assert not any(KEY in text for text in exposed)


def test_client_error_raises_at_once_without_key(server, monkeypatch):
    monkeypatch.setenv("QREXP_TEST_KEY", KEY)
    server.failures = [(401, '{"error": "bad key {auth}"}')]
    gen = OpenAIGenerator(server.base_url, "m", api_key_env="QREXP_TEST_KEY")
    with pytest.raises(RuntimeError) as info:
        gen.generate(["x"], 2)
    assert "HTTP 401" in str(info.value) and "$QREXP_TEST_KEY" in str(info.value)
    assert KEY not in str(info.value) and len(server.requests) == 1


def test_gives_up_after_retries(server, monkeypatch):
    monkeypatch.delenv("QREXP_TEST_KEY", raising=False)
    server.failures = [(500, "a"), (502, "b"), (500, "c")]
    gen = OpenAIGenerator(server.base_url, "m", api_key_env="QREXP_TEST_KEY", max_retries=1)
    with pytest.raises(RuntimeError, match="giving up after 2 attempts; last error HTTP 502: b"):
        gen.generate(["x"], 2)
    assert "authorization" not in server.requests[0]["headers"]     # no key in the environment: no header


def test_workers_keep_prompt_order(server):
    gen = OpenAIGenerator(server.base_url, "m", api_key_env=None, workers=3)
    prompts = [f"p{i}" for i in range(7)]
    assert gen.generate(prompts, 4) == [f"echo:{p}" for p in prompts]


def test_bad_response_shape(server):
    server.failures = [(200, '{"choices": []}')]
    with pytest.raises(ValueError, match="lacks choices"):
        OpenAIGenerator(server.base_url, "m", api_key_env=None).generate(["x"], 2)
    with pytest.raises(ValueError, match="http:// or https://"):
        OpenAIGenerator("localhost:8000/v1", "m")


def test_timeout_is_retried_then_reported(server):
    """A server that never answers: each attempt times out after `timeout` s; the error says so."""
    import socket
    import time
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)                                   # accepts connections, never replies
    try:
        gen = OpenAIGenerator(f"http://127.0.0.1:{silent.getsockname()[1]}/v1", "m", api_key_env=None,
                              timeout=0.5, max_retries=1)
        t0 = time.time()
        with pytest.raises(RuntimeError, match="giving up after 2 attempts; last error APITimeoutError"):
            gen.generate(["x"], 2)
        assert 1.0 <= time.time() - t0 < 60 and gen.stats == {"requests": 2, "retries": 1}   # 2 cores shared: loose
    finally:
        silent.close()


def test_url_credentials_become_basic_auth_and_are_never_shown(server, monkeypatch, caplog):
    """http://user:TOKEN@host/v1: the request goes to host with a Basic header; the token appears
    in no message, log line or repr (only shown_url, redacted)."""
    import base64
    token = "tok-in-url-5f2a9c"
    monkeypatch.delenv("QREXP_TEST_KEY", raising=False)
    url = server.base_url.replace("http://", f"http://judge:{token}@") + "?api_key=qk-77aa"
    gen = OpenAIGenerator(url, "m", api_key_env="QREXP_TEST_KEY", max_retries=1)
    server.failures = [(500, "retry me"), (400, "bad")]
    with caplog.at_level(logging.WARNING, logger="qrexp.evals.llm"), pytest.raises(RuntimeError) as info:
        gen.generate(["x"], 2)
    sent = server.requests[0]["headers"]["authorization"]
    assert sent == "Basic " + base64.b64encode(f"judge:{token}".encode()).decode()
    assert server.requests[0]["path"] == "/v1/chat/completions?api_key=qk-77aa"
    assert gen.shown_url == server.base_url + "/chat/completions?api_key=***"
    for text in (str(info.value), caplog.text, repr(gen)):
        assert token not in text and "qk-77aa" not in text
    assert "api_key=***" in str(info.value) and "HTTP 400" in str(info.value)
