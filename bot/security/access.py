"""AccessMiddleware: authenticate /v1 calls, keep widget keys in their lane, rate-limit.

For every /v1 request except the signed webhooks:
1. resolve the key (bot.security.principal); refuse bad keys, and missing ones when
   `require_api_keys` is set;
2. a widget key must come from one of its allowed origins, call a widget endpoint, and
   name its own knowledge base (`kb`, or `model` for the OpenAI-compatible endpoint);
3. spend a token from the client IP's bucket and from the key's bucket (admins are exempt);
   an empty bucket answers 429 with Retry-After.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from bot.api.errors import error_response, status_for
from bot.cache.rate_limit import RateLimit, RateLimiter
from bot.errors import Forbidden, RateLimited, SupportbotError
from bot.security.body_limit import replay
from bot.security.keystore import normalise_origin
from bot.security.principal import Principal, authenticate, presented_key
from bot.settings import Settings

WIDGET_PATHS = frozenset(
    {
        "/v1/chat",
        "/v1/chat/stream",
        "/v1/chat/completions",
        "/v1/search",
        "/v1/feedback",
        "/v1/handoff",
    }
)
"""What a public widget key may call."""
UNAUTHENTICATED_PREFIXES = ("/v1/webhooks/",)
"""Authenticated by their own HMAC signatures instead of keys."""


class AccessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or not path.startswith("/v1/")
            or path.startswith(UNAUTHENTICATED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        services = scope["app"].state.services
        headers = _headers(scope)
        try:
            principal = authenticate(
                presented_key(headers),
                services.edge.keystore,
                admin_api_key=_secret(services.settings),
                require_keys=services.settings.require_api_keys,
            )
            if principal.kind == "widget":
                receive = await _check_widget_scope(principal, path, headers, receive)
            await _spend(principal, scope, services.edge.rate_limiter, services.settings)
        except SupportbotError as exc:
            response = error_response(status_for(exc), exc.code, exc.message, _headers_for(exc))
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _check_widget_scope(
    principal: Principal, path: str, headers: dict[str, str], receive: Receive
) -> Receive:
    """Origin, endpoint and knowledge base checks; returns a receive that replays the body."""
    origin = headers.get("origin")
    try:
        allowed = origin is not None and normalise_origin(origin) in principal.origins
    except SupportbotError:
        allowed = False
    if not allowed:
        raise Forbidden(
            f"this widget key may only be used from {', '.join(principal.origins)}; "
            f"the request came from {origin or 'no browser origin'}",
            "origin_not_allowed",
        )
    if path not in WIDGET_PATHS:
        raise Forbidden("a widget key cannot call this endpoint", "key_not_allowed_here")
    body, replaying_receive = await _buffer_body(receive)
    kb = _named_kb(body)
    if kb is not None and kb != principal.kb:
        raise Forbidden(
            f"this widget key belongs to knowledge base {principal.kb!r}, not {kb!r}",
            "kb_not_allowed",
        )
    return replaying_receive


async def _spend(
    principal: Principal, scope: Scope, limiter: RateLimiter, settings: Settings
) -> None:
    if principal.is_admin:
        return
    ip_limit = RateLimit.per_minute(settings.rate_limit_per_minute, settings.rate_limit_burst)
    buckets = [(f"ip:{_client_ip(scope)}", ip_limit)]
    if principal.key_id is not None:
        key_limit = RateLimit.per_minute(
            settings.rate_limit_key_per_minute, settings.rate_limit_key_burst
        )
        buckets.append((f"key:{principal.key_id}", key_limit))
    for bucket, limit in buckets:
        decision = await limiter.hit(bucket, limit)
        if not decision.allowed:
            wait = max(1, math.ceil(decision.retry_after_s))
            who = "this key" if bucket.startswith("key:") else "your address"
            raise RateLimited(f"too many requests from {who}; retry in {wait}s", wait)


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body (already capped by BodySizeLimitMiddleware), and a receive to replay it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, replay(body, receive)


def _named_kb(body: bytes) -> str | None:
    try:
        payload: Any = json.loads(body or b"null")
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    value = payload.get("kb", payload.get("model"))
    return value if isinstance(value, str) else None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _client_ip(scope: Scope) -> str:
    """The peer address; behind a proxy run uvicorn with --proxy-headers to make it the client."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _secret(settings: Settings) -> str | None:
    return settings.admin_api_key.get_secret_value() if settings.admin_api_key else None


def _headers_for(exc: SupportbotError) -> dict[str, str] | None:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after_s)}
    if exc.code in ("missing_api_key", "invalid_api_key"):
        return {"WWW-Authenticate": 'Bearer realm="supportbot"'}
    return None
