"""A scripted OpenAI-compatible chat completions server on 127.0.0.1 for client tests.

Each request to ``POST /v1/chat/completions`` first takes the next fault from the queue, if any:

- ``"429"`` / ``"429:<s>"``: HTTP 429 with ``Retry-After: <s>`` (default ``0``);
- ``"500"``, ``"503"``, ``"400"`` (any other number): that HTTP status with a JSON error body;
- ``"timeout"``: sleep ``timeout_sleep`` seconds (longer than the client's timeout), then answer;
- ``"drop"``: close the connection without answering;
- ``"badjson"``: HTTP 200 with a body that is not JSON;
- ``"nochoices"``: HTTP 200 with ``"choices": []``.

With the queue empty it answers a valid ``chat.completion``: ``n`` choices (one if
``ignore_n``), choice ``i`` saying ``"<last user message> #<i> seed=<seed>"`` cut to
``max_tokens`` words (``finish_reason`` ``"length"`` then), and a ``usage`` object whose
``completion_tokens`` is ``3 * choices + 1`` (so it does not split evenly).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_NAMED = ("timeout", "drop", "badjson", "nochoices")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default 5 drops bursts of connections (1 s SYN retry)


class FaultServer:
    """The server, run in a daemon thread; use as a context manager for its ``base_url``.
    ``port`` 0 takes a free port."""

    def __init__(self, faults: list[str] | None = None, *, ignore_n: bool = False,
                 delay: float = 0.0, timeout_sleep: float = 2.0, port: int = 0) -> None:
        for fault in faults or []:
            if fault not in _NAMED and not fault.split(":")[0].isdigit():
                raise ValueError(f"unknown fault {fault!r}")
        self.faults: deque[str] = deque(faults or [])
        self.ignore_n = ignore_n
        self.delay = delay
        self.timeout_sleep = timeout_sleep
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def count(self) -> int:
        """Requests received so far."""
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _enter(self, body: dict[str, Any], headers: dict[str, str]) -> str | None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.faults.popleft() if self.faults else None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The success answer to a request body."""
        users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
        prompt = users[-1] if users else ""
        k = 1 if self.ignore_n else int(body.get("n", 1))
        max_tokens = body.get("max_tokens")
        choices = []
        for i in range(k):
            words = f"{prompt} #{i} seed={body.get('seed')}".split()
            cut = max_tokens is not None and len(words) > max_tokens
            choices.append({
                "index": i,
                "message": {"role": "assistant",
                            "content": " ".join(words[:max_tokens] if cut else words)},
                "finish_reason": "length" if cut else "stop",
            })
        prompt_tokens = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fault"),
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 3 * k + 1,
                      "total_tokens": prompt_tokens + 3 * k + 1},
        }


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fault"}]}).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": "not found"}')
                return
            body = json.loads(raw)
            fault = server._enter(body, dict(self.headers.items()))
            try:
                answer = self._answer(fault, body)
            finally:
                # Leave before answering: the client may send its next request as soon as it
                # has this answer, and that must not count as overlapping this one.
                server._leave()
            if answer is None:  # "drop"
                self.close_connection = True
                return
            if fault == "timeout":
                time.sleep(server.timeout_sleep)  # the client has given up on it by now
            try:
                self._send(*answer)
            except OSError:  # the client hung up
                self.close_connection = True

        def _answer(self, fault: str | None, body: dict[str, Any]
                    ) -> tuple[int, bytes, dict[str, str]] | None:
            """(status, body, headers) to send, or None to drop the connection."""
            if fault == "drop":
                return None
            if fault is not None and fault.split(":")[0].isdigit():
                status, _, retry_after = fault.partition(":")
                headers = {"Retry-After": retry_after or "0"} if status == "429" else {}
                error = {"error": {"message": f"injected {status}", "code": int(status)}}
                return int(status), json.dumps(error).encode(), headers
            if server.delay:
                time.sleep(server.delay)
            if fault == "badjson":
                return 200, b'{"choices": [not json', {}
            if fault == "nochoices":
                return 200, json.dumps({"object": "chat.completion", "choices": []}).encode(), {}
            return 200, json.dumps(server.completion(body)).encode(), {}

    return Handler
