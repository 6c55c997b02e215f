"""A small, real OpenAI-compatible HTTP server for tests (stdlib only, 127.0.0.1, free port).

Point the real `openai` SDK (or anything that speaks the protocol) at `server.base_url`:

    from tests.support.fake_openai import FakeOpenAIServer, FakeReply

    with FakeOpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        server.script_chat(['{"facts": ["User likes tea"]}', FakeReply(status=500)])
        ...
        path, body, headers = server.requests[0]   # "/v1/chat/completions", JSON, lower-case

`FakeOpenAIServer(embedding_dim=384, model="fake-model")`: `model` is echoed when a request
names none. `reset()` forgets recorded requests, queued replies and failure settings.

As a pytest fixture: add `pytest_plugins = ["tests.support.fake_openai"]` to the root
conftest.py and take the `fake_openai` fixture (a started server, stopped after the test).

Endpoints (POST, JSON bodies):
- `/v1/chat/completions`: each request takes the next reply from the FIFO filled by
  `script_chat()`; when it is empty, `default_chat` answers, either a str or a callable
  `(request_json) -> str` that computes the reply from the prompt. `"stream": true` gets
  server-sent events, as the real API sends them.
- `/v1/embeddings`: deterministic unit vectors of `embedding_dim` floats, from hashing the
  lower-cased words of each input (bag of hashed words: texts sharing words get similar
  vectors); see `fake_embedding()`. The request's `dimensions` field is ignored, so a client
  can be tested against a server that returns a size it did not expect. Honours
  `encoding_format: "base64"`, which the openai SDK asks for by default. Set
  `fail_embeddings` to a `FakeReply` to answer every embeddings request with it (one with
  only a `delay` just slows them down). Other paths get a 404 in OpenAI's error format.

A reply spec is a str (the assistant's message content) or a `FakeReply`:
- `FakeReply(status=500, body=...)`: HTTP error; `body` is a dict (sent as JSON) or str,
  by default an OpenAI-style `{"error": {...}}`.
- `FakeReply(delay=5.0, content="...")`: sleeps first (test client timeouts), then answers.
- `FakeReply(raw=b"not json")`: that body verbatim, with `status` (200 by default).

Every request is recorded in `server.requests` (thread-safe snapshot) as a `RecordedRequest`
(path, parsed JSON body or None, headers with lower-case names). Shutdown never waits for a
sleeping handler: handlers run on daemon threads and wake up when the server stops.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

ChatResponder = Callable[[dict[str, Any]], str]
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class FakeReply:
    """A scripted answer: see the module docstring."""

    content: str | None = None
    status: int = 200
    body: dict[str, Any] | str | None = None
    delay: float = 0.0
    raw: bytes | None = None


class RecordedRequest(NamedTuple):
    path: str
    body: Any
    headers: dict[str, str]


def fake_embedding(text: str, dimension: int = 384) -> list[float]:
    """The unit vector the server returns for `text` (so tests can compute expectations)."""
    vector = [0.0] * dimension
    for word in _WORD.findall(text.lower()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[digest % dimension] += 1.0 if (digest >> 63) else -1.0
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:  # no words at all: still a valid unit vector
        vector[0], norm = 1.0, 1.0
    return [value / norm for value in vector]


def _error_json(status: int, message: str) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _word_count(value: Any) -> int:
    """Rough token count for `usage`: words in every string inside the value."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(_word_count(item) for item in value.values())
    if isinstance(value, list):
        return sum(_word_count(item) for item in value)
    return 0


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.owner._handle(self, RecordedRequest(path, body, headers))

    def send_body(self, status: int, payload: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired): nothing left to tell it

    def send_json(self, status: int, payload: Any) -> None:
        self.send_body(status, json.dumps(payload).encode(), "application/json")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; `requests` is the log


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads (one may be sleeping) at close

    def __init__(self, owner: FakeOpenAIServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # disconnects mid-reply are expected in timeout tests
        super().handle_error(request, client_address)  # a bug here: print the traceback


class FakeOpenAIServer:
    """See the module docstring. Start with `with FakeOpenAIServer() as server:`."""

    def __init__(self, *, embedding_dim: int = 384, model: str = "fake-model") -> None:
        self.embedding_dim = embedding_dim
        self.model = model
        self.default_chat: str | ChatResponder = "OK"
        self.fail_embeddings: FakeReply | None = None
        self._lock = threading.Lock()
        self._script: deque[str | FakeReply] = deque()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer is already running")
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a FakeReply delay
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- test-facing API ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def script_chat(self, replies: Iterable[str | FakeReply]) -> None:
        """Queue replies for the next chat requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests, queued replies and failure settings."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
        self.default_chat = "OK"
        self.fail_embeddings = None

    # --- request handling (handler threads) --------------------------------------------------

    def _handle(self, handler: _Handler, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._counter += 1
            number = self._counter
        body = request.body if isinstance(request.body, dict) else None
        if request.path == "/v1/chat/completions":
            reply = self._next_chat_reply()
            if self._apply(handler, reply):
                self._chat(handler, body, reply, number)
        elif request.path == "/v1/embeddings":
            reply = self.fail_embeddings or FakeReply()
            if self._apply(handler, reply):
                self._embeddings(handler, body)
        else:
            handler.send_json(404, _error_json(404, f"no route for {request.path}"))

    def _next_chat_reply(self) -> FakeReply:
        with self._lock:
            spec = self._script.popleft() if self._script else None
        return FakeReply(content=spec) if isinstance(spec, str) else spec or FakeReply()

    def _apply(self, handler: _Handler, reply: FakeReply) -> bool:
        """Delay, then send the error or raw body if the reply has one. True: send success."""
        if reply.delay and self._stopping.wait(reply.delay):
            return False  # shutting down: drop the connection unanswered
        if reply.raw is not None:
            handler.send_body(reply.status, reply.raw, "application/json")
        elif reply.status >= 400:
            error = (
                reply.body
                if reply.body is not None
                else _error_json(reply.status, f"fake error (HTTP {reply.status})")
            )
            payload = error.encode() if isinstance(error, str) else json.dumps(error).encode()
            handler.send_body(reply.status, payload, "application/json")
        else:
            return True
        return False

    def _chat(
        self, handler: _Handler, body: dict[str, Any] | None, reply: FakeReply, number: int
    ) -> None:
        if body is None:
            handler.send_json(400, _error_json(400, "the body must be a JSON object"))
            return
        try:
            content = reply.content if reply.content is not None else self._default(body)
        except Exception as exc:  # noqa: BLE001 -- a bug in the test's responder: show the client
            handler.send_json(500, _error_json(500, f"default_chat raised {exc!r}"))
            return
        model = str(body.get("model") or self.model)
        prompt_tokens = _word_count(body.get("messages"))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _word_count(content),
            "total_tokens": prompt_tokens + _word_count(content),
        }
        completion_id = f"chatcmpl-fake-{number}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _stream_events(completion_id, model, content, usage if include_usage else None)
            handler.send_body(200, events, "text/event-stream")
            return
        handler.send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            },
        )

    def _default(self, body: dict[str, Any]) -> str:
        responder = self.default_chat
        return responder if isinstance(responder, str) else responder(body)

    def _embeddings(self, handler: _Handler, body: dict[str, Any] | None) -> None:
        inputs = _embedding_inputs(body)
        if inputs is None or body is None:
            handler.send_json(400, _error_json(400, "'input' must be a string or list of them"))
            return
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = fake_embedding(text, self.embedding_dim)
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = _word_count(inputs)
        handler.send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or self.model),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def _embedding_inputs(body: dict[str, Any] | None) -> list[str] | None:
    """The request's inputs as strings; token arrays become their ids joined by spaces."""
    value = body.get("input") if body else None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(item, int) for item in value):
        return [" ".join(map(str, value))]
    texts = []
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, list) and all(isinstance(token, int) for token in item):
            texts.append(" ".join(map(str, item)))
        else:
            return None
    return texts


def _stream_events(
    completion_id: str, model: str, content: str, usage: dict[str, int] | None
) -> bytes:
    """The chat reply as server-sent `chat.completion.chunk` events, a few words per chunk."""
    created = int(time.time())
    pieces = re.findall(r"\S+\s*|\s+", content) or [""]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": "".join(pieces[i : i + 3])} for i in range(0, len(pieces), 3)]
    chunks: list[dict[str, Any]] = [
        {"index": 0, "delta": delta, "finish_reason": None, "logprobs": None} for delta in deltas
    ]
    chunks.append({"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None})
    events = []
    for choice in chunks:
        events.append(_chunk(completion_id, model, created, [choice], None))
    if usage is not None:
        events.append(_chunk(completion_id, model, created, [], usage))
    return b"".join(events) + b"data: [DONE]\n\n"


def _chunk(completion_id: str, model: str, created: int, choices: list[Any], usage: Any) -> bytes:
    payload = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A running FakeOpenAIServer, stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server
