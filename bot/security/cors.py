"""CORS for /v1, answered from the widget keys' allowed origins.

A preflight cannot carry the widget key, so it is allowed when any active widget key lists
the origin; AccessMiddleware then checks the actual request's key against its own origins.
Without `require_api_keys` (local development, the demo) every origin is allowed.
Error responses get the headers too, so the widget can read a 429 instead of seeing a
network failure.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.errors import error_response
from bot.errors import InvalidRequest
from bot.security.keystore import normalise_origin

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Supportbot-Key"
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE_S = "600"


class KeyedCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = _allowed(scope, origin)
        preflight = scope["method"] == "OPTIONS" and _header(
            scope, b"access-control-request-method"
        )
        if preflight:
            response: Response
            if allowed:
                response = Response(status_code=204, headers=_preflight_headers(origin))
            else:
                response = error_response(
                    403,
                    "origin_not_allowed",
                    f"origin {origin} is not allowed by any widget key; add it with "
                    "`supportbot keys create-widget --origin ...`",
                )
            await response(scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _cors_headers(origin).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _allowed(scope: Scope, origin: str) -> bool:
    services = scope["app"].state.services
    if not services.settings.require_api_keys:
        return True
    try:
        return normalise_origin(origin) in services.edge.keystore.widget_origins()
    except InvalidRequest:
        return False


def _cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        "Vary": "Origin",
    }


def _preflight_headers(origin: str) -> dict[str, str]:
    return {
        **_cors_headers(origin),
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
    }


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
