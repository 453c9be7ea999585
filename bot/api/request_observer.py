"""RequestObserverMiddleware: the outermost view of every HTTP request.

- A request id: the caller's `X-Request-ID` when it is a sane token, else a new one;
  echoed in the response's `X-Request-ID`, so a customer report can be matched to a log.
- With several worker processes, `X-Worker-PID`: which one answered (uneven load, and a
  log line to look for).
- Prometheus: the request counted and timed by route *template* (`/admin/kbs/{kb}`,
  never the raw path, so label values stay bounded); unmatched requests share one label.
- One JSON log line per request (logger `supportbot.request`): route, status, duration,
  KB, per-stage timings, result mode, LLM usage. Never headers, query strings or keys;
  the customer's text only when `log_customer_text` is set.
"""

from __future__ import annotations

import os
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.observability.prometheus import UNMATCHED_ROUTE
from bot.observability.request_log import write_request_line
from bot.observability.request_record import RequestRecord, current_record

REQUEST_ID_HEADER = "x-request-id"
WORKER_HEADER = "x-worker-pid"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def route_template(scope: Scope) -> str:
    """The matched route's path template; FastAPI leaves the route in the scope."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestObserverMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = scope["app"].state.services
        metrics = services.metrics
        settings = services.settings
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        record = RequestRecord(request_id)
        token = current_record.set(record)
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler becomes a 500
        extra = [(b"x-request-id", request_id.encode("latin-1"))]
        if settings.workers > 1:
            extra.append((WORKER_HEADER.encode(), str(os.getpid()).encode()))

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), *extra]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            current_record.reset(token)
            seconds = time.perf_counter() - started
            route = route_template(scope)
            if metrics is not None:
                metrics.http_request(route, scope["method"], status, seconds)
            if settings.request_log:
                write_request_line(
                    record,
                    method=scope["method"],
                    route=route,
                    path=scope.get("path", ""),
                    status=status,
                    seconds=seconds,
                    customer_text=settings.log_customer_text,
                )
