"""A local OpenAI-compatible chat-completions server for tests.

Real SDKs (litellm, openai) talk to it over loopback HTTP, so tests exercise the real
client code paths: request encoding, SSE streaming, error translation, timeouts.
It follows the documented contract of `POST /v1/chat/completions` (JSON or
`text/event-stream` chunks ending in `data: [DONE]`) and the `{"error": {...}}` body
that OpenAI returns on failures.

    with OpenAIStubServer(StubReply(text="Hello [1].")) as server:
        ...  # point the client at server.base_url
        assert server.requests[0].messages[0]["role"] == "system"

Replies queued with `enqueue()` are used once each, in order; after that every request
gets `server.reply`. Failure modes: any HTTP status (500, 429 with Retry-After, 401),
a delay before the response starts, a delay between stream chunks, a connection that
drops mid-stream, and a raw (malformed) body.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_REPLY_TEXT = "This is the stub model's answer [1]."

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


@dataclass
class StubReply:
    """What the server answers to one request."""

    text: str = DEFAULT_REPLY_TEXT
    status: int = 200
    chunks: Sequence[str] | None = None
    """Stream deltas; default splits `text` into words (whitespace kept)."""
    delay_s: float = 0.0
    """Sleep before sending anything (simulates a slow or hung model)."""
    chunk_delay_s: float = 0.0
    """Sleep between streamed chunks."""
    retry_after_s: int | None = None
    """Sent as a `Retry-After` header (typically with status 429)."""
    raw_body: bytes | None = None
    """Sent verbatim as the body instead of a well-formed response."""
    disconnect_after_chunks: int | None = None
    """Streaming only: close the socket after this many chunks, without `[DONE]`."""
    error_message: str = "The stub server was told to fail this request."
    tool_call: tuple[str, str] | None = None
    """Streaming only: after `text` (may be empty), call this tool: (name, JSON arguments,
    sent verbatim, so malformed arguments can be played too), finish_reason `tool_calls`."""

    def deltas(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return re.findall(r"\s*\S+", self.text) or ([] if self.tool_call else [""])


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream", False))

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class OpenAIStubServer:
    """Serves on a free 127.0.0.1 port from a background thread; start/stop or use `with`."""

    def __init__(self, reply: StubReply | str | None = None, *, api_key: str | None = None) -> None:
        if isinstance(reply, str):
            reply = StubReply(text=reply)
        self.reply = reply or StubReply()
        self.api_key = api_key
        """When set, requests without `Authorization: Bearer <api_key>` get a 401."""
        self._queue: list[StubReply] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _StubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------
    def start(self) -> OpenAIStubServer:
        httpd = _StubHTTPServer(self)
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("OpenAIStubServer is not started; call start() first.")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What OpenAI-compatible clients take as base URL (ends in /v1)."""
        return f"{self.url}/v1"

    # --- scripting and inspection -----------------------------------------------
    def enqueue(self, *replies: StubReply | str) -> None:
        """Answer the next requests with these, once each, before falling back to `reply`."""
        with self._lock:
            self._queue.extend(StubReply(text=r) if isinstance(r, str) else r for r in replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._queue.clear()

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = self.requests
            if len(seen) >= count:
                return seen
            time.sleep(0.01)
        raise TimeoutError(f"expected {count} requests, got {len(self.requests)}")

    # --- used by the handler ----------------------------------------------------
    def _record(self, request: RecordedRequest) -> StubReply:
        with self._lock:
            self._requests.append(request)
            return self._queue.pop(0) if self._queue else self.reply

    def _sleep(self, seconds: float) -> None:
        """Interruptible by stop(), so a 'hung' reply never blocks teardown."""
        if seconds > 0:
            self._stopping.wait(seconds)


class _StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung reply's thread never blocks interpreter exit

    def __init__(self, stub: OpenAIStubServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def stub(self) -> OpenAIStubServer:
        assert isinstance(self.server, _StubHTTPServer)
        return self.server.stub

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [_model_card("test-model")]})
        else:
            self._send_error(404, f"No route for GET {self.path}", "not_found_error", None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_error(400, "Request body is not valid JSON.", "invalid_request_error", None)
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = RecordedRequest("POST", self.path, headers, body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.stub._record(request)
            self._send_error(404, f"No route for POST {self.path}", "not_found_error", None)
            return
        reply = self.stub._record(request)
        self.stub._sleep(reply.delay_s)
        if self.stub.api_key is not None and headers.get("authorization") != (
            f"Bearer {self.stub.api_key}"
        ):
            self._send_error(401, "Incorrect API key provided.", *_ERROR_TYPES[401])
            return
        try:
            self._answer(reply, request)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (e.g. its timeout fired); nothing to clean up

    # --- responses ----------------------------------------------------------------
    def _answer(self, reply: StubReply, request: RecordedRequest) -> None:
        if reply.raw_body is not None:
            self._send_bytes(reply.status, reply.raw_body, "application/json")
        elif reply.status >= 400:
            kind, code = _ERROR_TYPES.get(reply.status, ("server_error", None))
            self._send_error(reply.status, reply.error_message, kind, code, reply.retry_after_s)
        elif request.stream:
            self._stream(reply, request)
        else:
            self._send_json(reply.status, _completion(request.model, reply.text))

    def _stream(self, reply: StubReply, request: RecordedRequest) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        model = request.model or "test-model"
        for index, delta in enumerate(reply.deltas()):
            if reply.disconnect_after_chunks is not None and index >= reply.disconnect_after_chunks:
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if index:
                self.stub._sleep(reply.chunk_delay_s)
            first = {"role": "assistant", "content": delta} if index == 0 else {"content": delta}
            self._write_event(_chunk(model, first, None))
        if reply.tool_call is not None:
            name, arguments = reply.tool_call
            # As OpenAI streams a call: id and name first, the arguments in pieces.
            call = {"index": 0, "id": "call_stub", "type": "function"}
            opening = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**call, "function": {"name": name, "arguments": ""}}],
            }
            self._write_event(_chunk(model, opening, None))
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                self._write_event(
                    _chunk(
                        model,
                        {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                        None,
                    )
                )
            self._write_event(_chunk(model, {}, "tool_calls"))
        else:
            self._write_event(_chunk(model, {}, "stop"))
        options = request.body.get("stream_options") or {}
        if options.get("include_usage"):
            usage = _chunk(model, {}, None)
            usage["choices"] = []
            usage["usage"] = _usage(reply.text)
            self._write_event(usage)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _write_event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_error(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None,
        retry_after_s: int | None = None,
    ) -> None:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        extra = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else {}
        self._send_json(status, body, extra)

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _model_card(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "stub"}


def _usage(text: str) -> dict[str, int]:
    completion = len(text.split())
    return {"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion}


def _completion(model: str | None, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(text),
    }


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
