"""Polite HTTP for connectors: retries with backoff and jitter, `Retry-After` honoured.

Every helpdesk API rate-limits (429 with `Retry-After`) and has bad minutes (5xx). A page
that fails transiently is retried with exponential backoff and full jitter, or after
exactly the wait the server asked for; once the attempts are spent (or the server asks for
a wait longer than we are willing to sleep) the listing fails with `SourceUnavailable`, so
the sync deletes nothing. 401/403 fail at once with `SourceAuthFailed`: retrying cannot fix
a revoked token. Messages name the vendor and the status, never a credential.

The waiting itself is `bot.retry`'s (tenacity); this module keeps the listing-specific
part: what each status means for a listing and how failures become source errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from bot.errors import SourceAuthFailed, SourceError, SourceRateLimited, SourceUnavailable
from bot.retry import RetryableStatus, RetryPolicy, raise_for_retryable_status
from bot.sources.protocol import ConnectorEnv

T = TypeVar("T")


DEFAULT_RETRY = RetryPolicy(attempts=6, initial_wait_s=1.0, max_wait_s=60.0)
"""What connectors built by the sync engine use (tests swap in shorter waits). A listing
runs in the background, so it waits up to a minute for a rate limit to pass."""


def check_status(status: int, headers: Mapping[str, str], vendor: str, what: str) -> None:
    """Raise the error a non-2xx status means for a listing; return on success."""
    if 200 <= status < 300:
        return
    raise_for_retryable_status(status, headers)
    if status in (401, 403):
        raise SourceAuthFailed(
            f"{vendor} refused the credentials ({status}) while listing {what}; the token may "
            "be expired or revoked, or lack read access to the help center. Update the "
            "source's credentials, then sync again (nothing was deleted)."
        )
    if status == 404:
        raise SourceError(
            f"{vendor} has no {what} at the configured address (404); check the source's URL "
            "and locales"
        )
    raise SourceError(f"{vendor} answered {status} while listing {what}")


async def with_retries(
    fetch: Callable[[], Awaitable[T]], policy: RetryPolicy | None, vendor: str
) -> T:
    """Run `fetch` (one page request), retrying transient failures as the policy allows
    (`None`: `DEFAULT_RETRY`)."""
    policy = policy or DEFAULT_RETRY
    retrying = policy.async_retrying((RetryableStatus, httpx.TransportError))
    try:
        async for attempt in retrying:
            with attempt:
                return await fetch()
    except RetryableStatus as exc:
        tries = retrying.statistics.get("attempt_number", policy.attempts)
        wait_s = round(exc.retry_after_s) if exc.retry_after_s is not None else 60
        if exc.status == 429:
            raise SourceRateLimited(
                f"{vendor} is still rate-limiting after {tries} tries (asks to wait "
                f"{wait_s} s); the sync stopped without deleting anything and will be retried",
                retry_after_s=wait_s,
            ) from exc
        raise SourceUnavailable(
            f"{vendor} answered HTTP {exc.status} {tries} times in a row; the sync stopped "
            "without deleting anything and will be retried later"
        ) from exc
    except httpx.TransportError as exc:
        raise SourceUnavailable(
            f"{vendor} could not be reached ({type(exc).__name__}); the sync stopped without "
            "deleting anything"
        ) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")


async def get_json(
    http: httpx.AsyncClient,
    url: str,
    *,
    vendor: str,
    what: str,
    policy: RetryPolicy | None,
    params: Mapping[str, str | int] | None = None,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[Any, httpx.Response]:
    """GET a JSON page with retries; the parsed body and the response (for its headers)."""

    async def fetch() -> tuple[Any, httpx.Response]:
        response = await http.get(url, params=params, auth=auth, headers=headers)
        check_status(response.status_code, response.headers, vendor, what)
        try:
            return response.json(), response
        except ValueError as exc:
            raise SourceError(f"{vendor} sent a page of {what} that is not JSON") from exc

    return await with_retries(fetch, policy, vendor)


def api_client(env: ConnectorEnv) -> httpx.AsyncClient:
    """An HTTP client for one listing: the engine's timeout and user agent, no redirects
    (a redirect to another host must not carry the credentials along)."""
    return httpx.AsyncClient(
        timeout=env.timeout_s, headers={"User-Agent": env.user_agent}, follow_redirects=False
    )


def same_origin(url: str, base: str) -> bool:
    """Whether a next-page link stays on the configured host (credentials go nowhere else)."""
    a, b = httpx.URL(url), httpx.URL(base)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
