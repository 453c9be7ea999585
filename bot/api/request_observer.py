"""RequestObserverMiddleware: the outermost view of every HTTP request.

Times the request to the last byte of its response and reports it to the Prometheus
metrics by route *template* (`/v1/admin/kbs/{kb}`, never the raw path, so label values
stay bounded); requests no route matched share one `unmatched` label.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.observability.prometheus import UNMATCHED_ROUTE


def route_template(scope: Scope) -> str:
    """The matched route's path template; FastAPI leaves the route in the scope."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestObserverMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = scope["app"].state.services.metrics
        if metrics is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler becomes a 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            metrics.http_request(
                route_template(scope), scope["method"], status, time.perf_counter() - started
            )
