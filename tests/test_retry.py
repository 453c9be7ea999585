"""bot.retry: the waits a policy sleeps between tries, recorded instead of slept."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable

import httpx
import pytest

from bot.retry import RetryableStatus, RetryPolicy, raise_for_retryable_status, retry_after_seconds

POLICY = RetryPolicy(attempts=4, initial_wait_s=0.1, max_wait_s=5.0)


def flaky(failures: list[BaseException]) -> tuple[list[int], Callable[[], str]]:
    """A call that raises each of `failures` in turn, then returns "ok"; counts its calls."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "ok"

    return calls, call


def run(policy: RetryPolicy, failures: list[BaseException]) -> tuple[str, list[float], int]:
    calls, call = flaky(failures)
    waits: list[float] = []
    retrying = policy.retrying(RetryableStatus).copy(sleep=waits.append)
    return retrying(call), waits, len(calls)


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": " 2.5 "}) == 2.5
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8.0 <= (retry_after_seconds({"RETRY-AFTER": in_ten}) or 0) <= 10.0
    an_hour_ago = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert retry_after_seconds({"Retry-After": an_hour_ago}) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({"Retry-After": ""}) is None
    assert retry_after_seconds({"Content-Type": "text/plain"}) is None
    assert retry_after_seconds(None) is None


def test_waits_exactly_what_retry_after_asks() -> None:
    result, waits, calls = run(POLICY, [RetryableStatus(429, 1.5), RetryableStatus(503, 0.0)])
    assert (result, waits, calls) == ("ok", [1.5, 0.0], 3)


def test_an_http_date_in_the_headers_of_a_failure_is_honoured() -> None:
    """Failures that carry headers (SDK errors, httpx.HTTPStatusError) need no wrapping."""
    in_three = email.utils.formatdate(time.time() + 3, usegmt=True)
    request = httpx.Request("GET", "http://127.0.0.1/")
    response = httpx.Response(429, headers={"Retry-After": in_three}, request=request)
    failure = httpx.HTTPStatusError("rate limited", request=request, response=response)
    _, call = flaky([failure])
    waits: list[float] = []
    retrying = POLICY.retrying(httpx.HTTPStatusError).copy(sleep=waits.append)
    assert retrying(call) == "ok"
    assert len(waits) == 1 and 1.0 <= waits[0] <= 3.0


def test_without_retry_after_backoff_is_jittered_and_exponential_under_the_cap() -> None:
    policy = RetryPolicy(attempts=8, initial_wait_s=0.1, max_wait_s=0.5)
    samples = [run(policy, [RetryableStatus(503, None)] * 7)[1] for _ in range(30)]
    for waits in samples:
        assert len(waits) == 7
        for n, wait in enumerate(waits):
            assert 0.0 <= wait <= min(0.1 * 2**n, 0.5)
    # Jitter: the same try waits differently from run to run.
    assert len({round(waits[2], 6) for waits in samples}) > 1


def test_a_retry_after_beyond_the_cap_stops_at_once() -> None:
    calls, call = flaky([RetryableStatus(429, 60.0)])
    waits: list[float] = []
    with pytest.raises(RetryableStatus) as raised:
        POLICY.retrying(RetryableStatus).copy(sleep=waits.append)(call)
    assert raised.value.retry_after_s == 60.0
    assert (len(calls), waits) == (1, [])


def test_attempts_are_bounded_and_the_last_failure_propagates() -> None:
    failures: list[BaseException] = [RetryableStatus(500 + n, None) for n in range(5)]
    calls, call = flaky(failures)
    with pytest.raises(RetryableStatus) as raised:
        POLICY.retrying(RetryableStatus).copy(sleep=lambda _: None)(call)
    assert (len(calls), raised.value.status) == (4, 503)


def test_other_failures_are_not_retried() -> None:
    calls, call = flaky([ValueError("bad input")])
    with pytest.raises(ValueError, match="bad input"):
        POLICY.retrying(RetryableStatus).copy(sleep=lambda _: None)(call)
    assert len(calls) == 1


def test_async_retrying_sleeps_for_real() -> None:
    calls, call = flaky([RetryableStatus(429, 0.2)])

    async def fetch() -> str:
        return call()

    started = time.monotonic()
    assert asyncio.run(POLICY.async_retrying(RetryableStatus)(fetch)) == "ok"
    assert time.monotonic() - started >= 0.2
    assert len(calls) == 2


def test_which_statuses_are_retryable() -> None:
    for status in (408, 429, 500, 502, 503, 504):
        with pytest.raises(RetryableStatus) as raised:
            raise_for_retryable_status(status, {"Retry-After": "7"})
        assert (raised.value.status, raised.value.retry_after_s) == (status, 7.0)
    for status in (200, 204, 301, 400, 401, 403, 404, 422):
        raise_for_retryable_status(status, {})
