"""Retries, written once: the server's `Retry-After` when it gives one, else backoff with jitter.

Every remote call we retry (Cohere rerank, helpdesk callbacks and handoff webhooks,
connector listings) follows one shape, built on `tenacity`:

* at most `attempts` tries;
* between two tries, the wait the server asked for in `Retry-After` (delta-seconds or an
  HTTP date, RFC 9110 §10.2.3), otherwise exponential backoff with full jitter
  (`initial_wait_s` × 2ⁿ, capped at `max_wait_s`, a random point below it);
* a server that asks for longer than `max_wait_s` is not waited for: we stop at once and
  the caller turns the last failure into its own error (rather than stall a chat
  request or a sync).

Usage (sync: `retrying`, same arguments)::

    policy = RetryPolicy(attempts=4, initial_wait_s=0.5, max_wait_s=30.0)

    async def fetch() -> httpx.Response:
        response = await http.get(url)
        raise_for_retryable_status(response.status_code, response.headers)
        return response

    response = await policy.async_retrying(
        retry_on=(RetryableStatus, httpx.TransportError), logger=log, what="listing"
    )(fetch)

With `reraise`, the last failure itself propagates once the tries are spent. The wait
reads `Retry-After` from the failure with `retry_after_of`: a `retry_after_s` attribute
(`RetryableStatus` has one), else the exception's `headers`, else its `response.headers`.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base


class RetryableStatus(Exception):
    """A response worth another try (408, 429, 5xx), with the wait the server asked for."""

    def __init__(self, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


def is_retryable_status(status: int) -> bool:
    """Timeouts, rate limits and server errors may pass; other 4xx will not."""
    return status in (408, 429) or status >= 500


def raise_for_retryable_status(status: int, headers: Mapping[str, str] | None) -> None:
    """Raise `RetryableStatus` (with the server's `Retry-After`) for a status worth retrying."""
    if is_retryable_status(status):
        raise RetryableStatus(status, retry_after_seconds(headers))


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date), None when absent
    or unreadable; a date in the past is 0. Header names are matched case-insensitively."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def retry_after_of(failure: BaseException | None) -> float | None:
    """The wait a failure carries: `retry_after_s`, else its (or its response's) headers."""
    if failure is None:
        return None
    if hasattr(failure, "retry_after_s"):
        value = failure.retry_after_s
        return float(value) if isinstance(value, int | float) else None
    headers = getattr(failure, "headers", None)
    if headers is None:
        headers = getattr(getattr(failure, "response", None), "headers", None)
    return retry_after_seconds(headers) if isinstance(headers, Mapping) else None


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


class RetryAfterWait(wait_base):
    """`Retry-After` when the failure carries one, else full-jitter exponential backoff."""

    def __init__(self, initial_wait_s: float, max_wait_s: float) -> None:
        self._max = max_wait_s
        self._backoff = wait_random_exponential(multiplier=initial_wait_s, max=max_wait_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        asked = retry_after_of(_failure(retry_state))
        if asked is not None:
            return min(asked, self._max)
        return float(self._backoff(retry_state))


class StopIfRetryAfterExceeds(stop_base):
    """Stop when the server asks for a longer wait than we are willing to sleep."""

    def __init__(self, max_wait_s: float) -> None:
        self._max = max_wait_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        asked = retry_after_of(_failure(retry_state))
        return asked is not None and asked > self._max


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    """Tries in all, the first included."""
    initial_wait_s: float = 0.5
    max_wait_s: float = 30.0
    """Longest single wait; a `Retry-After` beyond it ends the retries at once."""

    def wait(self) -> wait_base:
        return RetryAfterWait(self.initial_wait_s, self.max_wait_s)

    def stop(self) -> stop_base:
        return stop_after_attempt(self.attempts) | StopIfRetryAfterExceeds(self.max_wait_s)

    def retrying(
        self,
        retry_on: type[BaseException] | tuple[type[BaseException], ...],
        *,
        logger: logging.Logger | None = None,
        what: str = "call",
    ) -> Retrying:
        """A tenacity `Retrying` (blocking sleeps) retrying `retry_on` under this policy."""
        return Retrying(**self._options(retry_on, logger, what))

    def async_retrying(
        self,
        retry_on: type[BaseException] | tuple[type[BaseException], ...],
        *,
        logger: logging.Logger | None = None,
        what: str = "call",
    ) -> AsyncRetrying:
        """A tenacity `AsyncRetrying` (asyncio sleeps) retrying `retry_on` under this policy."""
        return AsyncRetrying(**self._options(retry_on, logger, what))

    def _options(
        self,
        retry_on: type[BaseException] | tuple[type[BaseException], ...],
        logger: logging.Logger | None,
        what: str,
    ) -> dict[str, Any]:
        return {
            "stop": self.stop(),
            "wait": self.wait(),
            "retry": retry_if_exception_type(retry_on),
            "before_sleep": _log_retry(logger, what),
            "reraise": True,
        }


def _log_retry(logger: logging.Logger | None, what: str) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        if logger is None:
            return
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "%s attempt %d failed (%s); retrying in %.2fs",
            what,
            state.attempt_number,
            _describe(_failure(state)),
            wait,
        )

    return log


def _describe(failure: BaseException | None) -> str:
    if failure is None:
        return "no result"
    text = str(failure)
    return f"{type(failure).__name__}: {text}" if text else type(failure).__name__
