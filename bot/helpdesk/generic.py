"""The generic webhook contract's plumbing: which client is calling, and signed callbacks.

Inbound requests name their client in `X-Supportbot-Integration` and are signed with that
client's secret (bot.security.signing, our scheme). A request with a `callback_url` is
answered later: the result is POSTed there, signed the same way, retried on failure.
Callbacks only go to URL prefixes the client's configuration allows, so the bot cannot
be turned into a proxy for arbitrary URLs.
"""

from __future__ import annotations

import logging

import httpx

from bot.errors import Forbidden, Unauthorized
from bot.retry import RetryableStatus, RetryPolicy, raise_for_retryable_status
from bot.security.integrations import GenericWebhook, generic_webhook
from bot.security.signing import signed_headers, verify_supportbot

log = logging.getLogger(__name__)

INTEGRATION_HEADER = "X-Supportbot-Integration"
CALLBACK_RETRY = RetryPolicy(attempts=3, initial_wait_s=0.5, max_wait_s=10.0)
"""A callback is answered in the background: a few seconds of patience cost nobody."""


def authenticate_generic(
    webhooks: list[GenericWebhook],
    name: str | None,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    max_skew_s: float,
) -> GenericWebhook:
    if not name:
        raise Unauthorized(f"{INTEGRATION_HEADER} header is missing", "missing_signature")
    integration = generic_webhook(webhooks, name)
    if integration is None:
        raise Unauthorized(
            f"no generic webhook client named {name!r} is configured", "unknown_integration"
        )
    verify_supportbot(
        integration.secret.get_secret_value(), body, signature, timestamp, max_skew_s=max_skew_s
    )
    return integration


def check_callback_url(integration: GenericWebhook, url: str) -> None:
    if not any(url.startswith(prefix) for prefix in integration.callback_url_prefixes):
        raise Forbidden(
            f"callback_url is not under an allowed prefix for {integration.name!r}; "
            "add it to callback_url_prefixes in SUPPORTBOT_GENERIC_WEBHOOKS",
            "callback_not_allowed",
        )


async def deliver_callback(
    http: httpx.AsyncClient, integration: GenericWebhook, url: str, body: bytes
) -> bool:
    """POST the signed result; retry 5xx, 429 and network errors. True once delivered."""
    secret = integration.secret.get_secret_value()

    async def post() -> httpx.Response:
        headers = {"Content-Type": "application/json", "User-Agent": "supportbot-callback"}
        headers.update(signed_headers(secret, body))  # signed afresh: the timestamp moves on
        response = await http.post(url, content=body, headers=headers)
        raise_for_retryable_status(response.status_code, response.headers)
        return response

    retrying = CALLBACK_RETRY.async_retrying(
        (httpx.HTTPError, RetryableStatus), logger=log, what=f"callback to {url}"
    )
    try:
        response: httpx.Response = await retrying(post)
    except (httpx.HTTPError, RetryableStatus) as exc:
        detail = f"{type(exc).__name__}: {exc}"
    else:
        if response.is_success:
            return True
        detail = f"HTTP {response.status_code}"
    log.error("giving up on callback to %s for %s: %s", url, integration.name, detail)
    return False
