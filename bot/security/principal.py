"""Who is calling: an admin, a widget key for one knowledge base, or an anonymous client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from bot.errors import Forbidden, Unauthorized
from bot.security.keys import looks_like_key, same_secret
from bot.security.keystore import KeyStore

PrincipalKind = Literal["admin", "widget", "anonymous"]
KEY_HEADER = "x-supportbot-key"
ENV_ADMIN_ID = "env-admin"
"""key_id of SUPPORTBOT_ADMIN_API_KEY, which is not in the keys file."""


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    key_id: str | None = None
    kb: str | None = None
    origins: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


ANONYMOUS = Principal("anonymous")


def presented_key(headers: dict[str, str]) -> str | None:
    """`Authorization: Bearer <key>` (what OpenAI clients send) or `X-Supportbot-Key`."""
    explicit = headers.get(KEY_HEADER, "").strip()
    if explicit:
        return explicit
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def authenticate(
    presented: str | None,
    keystore: KeyStore,
    *,
    admin_api_key: str | None,
    require_keys: bool,
) -> Principal:
    """Resolve a presented key. A key in our format that does not verify is always refused;
    a foreign bearer token (an OpenAI client's placeholder) only when keys are required."""
    if not presented:
        if require_keys:
            raise Unauthorized(
                "an API key is required: send `Authorization: Bearer <key>`", "missing_api_key"
            )
        return ANONYMOUS
    if admin_api_key and same_secret(presented, admin_api_key):
        return Principal("admin", ENV_ADMIN_ID)
    if looks_like_key(presented):
        record = keystore.authenticate(presented)
        if record is None:
            raise Unauthorized(
                "the API key is not valid (unknown, revoked or mistyped)", "invalid_api_key"
            )
        if record.kind == "admin":
            return Principal("admin", record.id)
        return Principal("widget", record.id, record.kb, record.origins)
    if require_keys:
        raise Unauthorized("the API key is not valid", "invalid_api_key")
    return ANONYMOUS


def principal_of(request: Request) -> Principal:
    """What AccessMiddleware decided for this request (anonymous outside /v1)."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else ANONYMOUS


def require_admin(request: Request) -> Principal:
    """FastAPI dependency for admin-only routes."""
    principal = principal_of(request)
    if principal.kind == "anonymous":
        raise Unauthorized(
            "this endpoint needs an admin key: send `Authorization: Bearer sk_...`",
            "missing_api_key",
        )
    if not principal.is_admin:
        raise Forbidden("this endpoint needs an admin key, not a widget key", "admin_key_required")
    return principal
