"""Test support: a local OpenAI-compatible /v1/chat/completions server with scripted failures, and
the ``server`` fixture that starts and stops one (import it into a test module to use it)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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
