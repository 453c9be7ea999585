"""A local stand-in for Cohere's `POST /v2/rerank`, following the documented contract.

Request: JSON `{model, query, documents: [str], top_n?, max_tokens_per_doc?}` with
`Authorization: Bearer <key>`. Response: `{"id", "results": [{"index", "relevance_score"}],
"meta": {...}}`, results sorted by relevance, cut to `top_n`. Errors are `{"message": ...}`
with 400 (invalid body, too many documents), 401 (bad key), 429 and 500.

Scores are real and deterministic: the share of the query's words found in the
document's first `max_tokens_per_doc` words. Tests can script failures and delays
for the next requests, and read every request received.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MAX_TOKENS_PER_DOC = 4096
_WORD = re.compile(r"\w+")


def overlap_score(query: str, document: str, max_tokens: int = DEFAULT_MAX_TOKENS_PER_DOC) -> float:
    """Fraction of distinct query words present in the (truncated) document, in [0, 1]."""
    query_words = set(_WORD.findall(query.casefold()))
    document_words = set(_WORD.findall(document.casefold())[:max_tokens])
    if not query_words:
        return 0.0
    return len(query_words & document_words) / len(query_words)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float


@dataclass
class _Planned:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    delay_s: float = 0.0


class CohereStubServer:
    def __init__(self, *, api_key: str = "test-key", max_documents: int = 1000) -> None:
        self.api_key = api_key
        self.max_documents = max_documents
        self.requests: list[RecordedRequest] = []
        self._plan: deque[_Planned] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> CohereStubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- scripting ---------------------------------------------------------------------
    def fail_next(
        self, status: int, message: str, *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        with self._lock:
            for _ in range(times):
                self._plan.append(_Planned(status=status, headers=headers or {}, message=message))

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        with self._lock:
            self._plan.extend(_Planned(delay_s=seconds) for _ in range(times))

    # -- the endpoint --------------------------------------------------------------------
    def _respond(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        with self._lock:
            self.requests.append(RecordedRequest(path, headers, body, time.monotonic()))
            planned = self._plan.popleft() if self._plan else _Planned()
        if planned.delay_s:
            time.sleep(planned.delay_s)
        if planned.status != 200:
            return planned.status, planned.headers, {"message": planned.message}
        if path != "/v2/rerank":
            return 404, {}, {"message": f"no route for {path}"}
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, {"message": "invalid api token"}
        problem = self._validate(body)
        if problem:
            return 400, {}, {"message": problem}
        return 200, {}, self._rerank(body)

    def _validate(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "invalid request: body must be a JSON object"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "invalid request: model is required"
        if not isinstance(body.get("query"), str) or not body["query"].strip():
            return "invalid request: query must be a non-empty string"
        documents = body.get("documents")
        if not isinstance(documents, list) or not documents:
            return "invalid request: documents must be a non-empty list"
        if not all(isinstance(doc, str) for doc in documents):
            return "invalid request: documents must be strings"
        if len(documents) > self.max_documents:
            return (
                f"invalid request: too many documents, got {len(documents)}, "
                f"the maximum is {self.max_documents}"
            )
        for name in ("top_n", "max_tokens_per_doc"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or value < 1):
                return f"invalid request: {name} must be a positive integer"
        return None

    def _rerank(self, body: dict[str, Any]) -> dict[str, Any]:
        documents: list[str] = body["documents"]
        max_tokens = body.get("max_tokens_per_doc") or DEFAULT_MAX_TOKENS_PER_DOC
        scored = [
            {"index": index, "relevance_score": overlap_score(body["query"], doc, max_tokens)}
            for index, doc in enumerate(documents)
        ]
        scored.sort(key=lambda item: (-item["relevance_score"], item["index"]))
        top_n = body.get("top_n") or len(scored)
        return {
            "id": f"stub-{len(self.requests)}",
            "results": scored[:top_n],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, extra_headers, payload = stub._respond(self.path, headers, raw)
                data = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in extra_headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

        return Handler
