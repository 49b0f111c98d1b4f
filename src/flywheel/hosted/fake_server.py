"""A fake provider for tests and demos: OpenAI chat-completions and embeddings, Cohere rerank.

``FakeProviderServer`` is a small threaded ``http.server`` on 127.0.0.1 (a free port). Answers
are canned but depend on the input, so code under test sees realistic variation:

* ``POST /v1/chat/completions``: a relevance grade when the prompt holds ``Query:`` and
  ``Passage:`` lines (word overlap, phrased like a talkative model: "Sure! Grade: 2 ..."), a
  question made from the passage's words when it asks for questions, else an echo.
* ``POST /v1/embeddings`` and ``POST /v2/embed``: hashed bag-of-words vectors (texts sharing
  words are similar), ``dimensions`` honoured.
* ``POST /v2/rerank``: documents ordered by word overlap with the query.

Usage numbers are exact and simple: one token per whitespace-separated word, so a test can
compute the cost by hand. :meth:`FakeProviderServer.inject` queues faults for the next
requests: ``"429"`` (with ``Retry-After``), ``"500"``, ``"401"`` (a refused key),
``"timeout"`` (answers after ``delay`` seconds), ``"malformed"`` (invalid JSON),
``"truncated"`` (body shorter than its ``Content-Length``), ``"refusal"`` (a chat refusal).
``requests`` records every request.

Run one by hand for a demo: ``python -m flywheel.hosted.fake_server --port 8900``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "500", "401", "timeout", "malformed", "truncated", "refusal")
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    "a an and are as at be by for from has in is it its of on or that the this to was were "
    "what which who why how with does do did".split()
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def token_count(text: str) -> int:
    """The fake's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def _content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP and len(w) > 2}


def overlap_grade(query: str, passage: str, *, scale: int = 3) -> int:
    """0..scale by the share of the query's content words found in the passage."""
    q = _content_words(query)
    if not q:
        return 0
    share = len(q & _content_words(passage)) / len(q)
    return min(scale, int(math.floor(share * (scale + 1))))


def hashed_vector(text: str, dim: int) -> list[float]:
    vec = [0.0] * dim
    for word in words(text):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vec[digest % dim] += 1.0 if (digest >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _field(prompt: str, name: str) -> str | None:
    match = re.search(rf"^{name}:\s*(.+?)\s*$", prompt, flags=re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else None


def default_chat_reply(prompt: str) -> str:
    """What the fake model says: a grade, a question, or an echo."""
    query, passage = _field(prompt, "Query"), _field(prompt, "Passage")
    if query is not None and passage is not None:
        scale = 5 if re.search(r"\b0\s*(?:-|to)\s*5\b", prompt) else 3
        grade = overlap_grade(query, passage, scale=scale)
        return f"Sure! After reading the passage carefully, Grade: {grade}. It matches the query."
    if passage is not None and "question" in prompt.lower():
        content = [w for w in words(passage) if w not in _STOP and len(w) > 3]
        middle = content[len(content) // 3 : len(content) // 3 + 4] or content[:4] or ["this"]
        return "What is known about " + " ".join(middle) + "?"
    return "echo: " + " ".join(prompt.split()[:20])


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout test) closes its socket: not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class _Fault:
    kind: str
    path: str | None
    retry_after: float
    delay: float


class FakeProviderServer:
    """``with FakeProviderServer() as server: OpenAI(base_url=server.openai_url, ...)``."""

    def __init__(self, *, port: int = 0, chat_reply: Callable[[str], str] | None = None) -> None:
        self.chat_reply = chat_reply or default_chat_reply
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def cohere_url(self) -> str:
        return self.url

    def start(self) -> FakeProviderServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- control -----------------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        path: str | None = None,
        retry_after: float = 0.01,
        delay: float = 2.0,
    ) -> None:
        """Make the next ``times`` requests (to ``path``, if given) fail with ``kind``."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault '{kind}'; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults += [_Fault(kind, path, retry_after, delay) for _ in range(times)]

    def count(self, path: str | None = None) -> int:
        """Requests received (to ``path``, if given), faulty ones included."""
        return sum(1 for p, _ in self.requests if path is None or p == path)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.path is None or fault.path == path:
                    return self._faults.pop(i)
        return None

    # -- protocol answers --------------------------------------------------------------------
    def _chat(self, body: dict[str, Any], refusal: bool) -> dict[str, Any]:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        reply = None if refusal else self.chat_reply(prompt)
        message: dict[str, Any] = {"role": "assistant", "content": reply}
        if refusal:
            message["refusal"] = "I'm sorry, I can't help with that."
        completion = token_count(reply or message.get("refusal", ""))
        prompt_tokens = token_count(prompt)
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
            },
        }

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        dim = int(body.get("dimensions") or 64)
        tokens = sum(token_count(t) for t in inputs)
        return {
            "object": "list",
            "model": body.get("model", "fake"),
            "data": [
                {"object": "embedding", "index": i, "embedding": hashed_vector(t, dim)}
                for i, t in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _cohere_embed(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = list(body.get("texts") or [])
        dim = int(body.get("output_dimension") or 64)
        return {
            "id": f"embed-{len(self.requests)}",
            "embeddings": {"float": [hashed_vector(t, dim) for t in texts]},
            "texts": texts,
            "meta": {"billed_units": {"input_tokens": sum(token_count(t) for t in texts)}},
        }

    def _rerank(self, body: dict[str, Any]) -> dict[str, Any]:
        query = str(body.get("query", ""))
        documents = [d if isinstance(d, str) else d.get("text", "") for d in body["documents"]]
        qwords = _content_words(query)
        scored = []
        for i, doc in enumerate(documents):
            dwords = _content_words(doc)
            share = len(qwords & dwords) / len(qwords) if qwords else 0.0
            scored.append((round(share - 1e-4 * (i / max(1, len(documents))), 6), i))
        scored.sort(key=lambda t: (-t[0], t[1]))
        top_n = body.get("top_n") or len(scored)
        return {
            "id": f"rerank-{len(self.requests)}",
            "results": [{"index": i, "relevance_score": s} for s, i in scored[:top_n]],
            "meta": {"billed_units": {"search_units": 1}},
        }

    def _answer(self, path: str, body: dict[str, Any], refusal: bool) -> dict[str, Any] | None:
        if path.endswith("/chat/completions"):
            return self._chat(body, refusal)
        if path.endswith("/v1/embeddings"):
            return self._embeddings(body)
        if path.endswith("/v2/embed"):
            return self._cohere_embed(body)
        if path.endswith("/rerank"):
            return self._rerank(body)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # keep test output clean
                return

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                path = self.path.split("?")[0]
                server.requests.append((path, body))
                fault = server._take_fault(path)
                kind = fault.kind if fault else None
                if kind == "429":
                    error = {"error": {"message": "rate limited", "type": "rate_limit"}}
                    self._send(
                        429, json.dumps(error).encode(), {"Retry-After": str(fault.retry_after)}
                    )
                    return
                if kind == "401":
                    self._send(401, b'{"error": {"message": "invalid api key"}}')
                    return
                if kind == "500":
                    self._send(500, b'{"error": {"message": "internal error"}}')
                    return
                if kind == "timeout":
                    time.sleep(fault.delay)
                answer = server._answer(path, body, refusal=kind == "refusal")
                if answer is None:
                    self._send(404, b'{"error": {"message": "no such endpoint"}}')
                    return
                payload = json.dumps(answer).encode()
                if kind == "malformed":
                    self._send(200, b'{"choices": [ this is not json')
                    return
                if kind == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(200, payload)

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI/Cohere provider.")
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    server = FakeProviderServer(port=args.port)
    print(
        f"fake provider on {server.url}  (OPENAI_BASE_URL={server.openai_url}, "
        f"COHERE_BASE_URL={server.cohere_url}); Ctrl-C stops it",
        flush=True,
    )
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()


if __name__ == "__main__":
    main()
