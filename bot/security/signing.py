"""HMAC-SHA256 request signatures, with a freshness check against replays.

Two schemes:
- Zendesk (inbound): `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret,
  timestamp + body)), timestamp from `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601).
- supportbot (generic webhook in, callbacks and handoff out): `X-Supportbot-Timestamp`
  (Unix seconds) and `X-Supportbot-Signature: sha256=<hex HMAC-SHA256(secret,
  "<timestamp>.<body>")>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime

from bot.errors import Unauthorized

ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
SIGNATURE_HEADER = "X-Supportbot-Signature"
TIMESTAMP_HEADER = "X-Supportbot-Timestamp"


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def supportbot_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Headers for an outbound request signed with our scheme."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: supportbot_signature(secret, timestamp, body),
    }


def parse_timestamp(value: str) -> float:
    """Unix seconds, or ISO 8601 as Zendesk sends it (`2024-04-17T17:18:10Z`)."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Unauthorized(
            f"signature timestamp {value!r} is not a time", "invalid_signature"
        ) from exc
    if parsed.tzinfo is None:
        raise Unauthorized("signature timestamp has no time zone", "invalid_signature")
    return parsed.timestamp()


def check_fresh(timestamp: str, max_skew_s: float, now: float | None = None) -> None:
    """Reject timestamps further than `max_skew_s` from our clock (replayed or forged)."""
    skew = abs((time.time() if now is None else now) - parse_timestamp(timestamp))
    if skew > max_skew_s:
        raise Unauthorized(
            f"signature timestamp is {skew:.0f}s away from the server clock "
            f"(limit {max_skew_s:.0f}s); the request is stale or a replay",
            "stale_signature",
        )


def verify(expected: str, given: str | None, *, what: str) -> None:
    if not given:
        raise Unauthorized(f"{what} signature header is missing", "missing_signature")
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise Unauthorized(
            f"{what} signature does not match; check the signing secret", "invalid_signature"
        )


def verify_zendesk(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    max_skew_s: float,
    now: float | None = None,
) -> None:
    if not timestamp:
        raise Unauthorized(f"{ZENDESK_TIMESTAMP} header is missing", "missing_signature")
    verify(zendesk_signature(secret, timestamp, body), signature, what="Zendesk webhook")
    check_fresh(timestamp, max_skew_s, now)


def verify_supportbot(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    max_skew_s: float,
    now: float | None = None,
) -> None:
    if not timestamp:
        raise Unauthorized(f"{TIMESTAMP_HEADER} header is missing", "missing_signature")
    verify(supportbot_signature(secret, timestamp, body), signature, what="webhook")
    check_fresh(timestamp, max_skew_s, now)
