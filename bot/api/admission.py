"""AdmissionMiddleware: a bounded amount of work per process, and a fast 503 beyond it.

Without a bound, a burst larger than the machine can serve queues inside the process until
every caller's own timeout fires: all of them fail, slowly. Here at most `max_in_flight`
`/v1` requests run at once (an answer holds its slot until it ends: the LLM client parses
every streamed delta on this event loop, ~1 ms each, so an answer waiting on its model is
not idle; benchmarks/README.md); up to `admission_queue` more wait at most
`admission_wait_s` for a slot, first come first served. Anything beyond that is refused at
once with `503 overloaded` and `Retry-After`, which clients and load balancers understand.
A request whose expected wait (its place in the queue times the recent mean slot hold,
over the number of slots) is already longer than `admission_wait_s` is refused at once
too: it would most likely wait the whole budget and be refused anyway, and a starved
process should answer "later" in milliseconds, not seconds. Per-client limits (429) are
the access middleware's job and run first, so one noisy client cannot fill the queue.

Health, metrics, docs and admin routes are never held back: probes must see an
overloaded process as alive, and admins must be able to act on it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from bot.api.errors import error_response, status_for
from bot.errors import Overloaded
from bot.settings import Settings

ADMITTED_PREFIX = "/v1/"
RECENT_HOLDS = 64


class AdmissionControl:
    """At most `limit` holders at once; at most `queue` waiters, each for at most `wait_s`.

    Once `min_samples` holds have been seen, a waiter whose expected wait exceeds `wait_s`
    is refused without waiting (slots free at about `limit / mean hold` per second).
    """

    def __init__(
        self,
        limit: int,
        queue: int,
        wait_s: float,
        retry_after_s: int,
        min_samples: int = 16,
    ) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._limit = limit
        self._queue = queue
        self._wait_s = wait_s
        self._retry_after_s = retry_after_s
        self._waiting = 0
        self._holds: deque[float] = deque(maxlen=RECENT_HOLDS)
        self._min_samples = min_samples

    @classmethod
    def from_settings(cls, settings: Settings) -> AdmissionControl:
        return cls(
            settings.max_in_flight,
            settings.admission_queue,
            settings.admission_wait_s,
            settings.overload_retry_after_s,
        )

    @property
    def waiting(self) -> int:
        return self._waiting

    def expected_wait_s(self, place: int) -> float | None:
        """Seconds the `place`-th waiter should expect, or None before enough holds were seen."""
        if len(self._holds) < self._min_samples:
            return None
        mean_hold = sum(self._holds) / len(self._holds)
        return place * mean_hold / self._limit

    async def acquire(self) -> None:
        """Take a slot (pair with `release`), or raise `Overloaded` when none comes in time."""
        if self._slots.locked():
            if self._waiting >= self._queue:
                raise Overloaded(
                    "the server is at capacity and its queue is full; retry in "
                    f"{self._retry_after_s}s",
                    self._retry_after_s,
                )
            expected = self.expected_wait_s(self._waiting + 1)
            if expected is not None and expected > self._wait_s:
                raise Overloaded(
                    f"the server is at capacity: a slot is expected in {expected:.1f}s, "
                    f"longer than the {self._wait_s:g}s a request may wait; retry in "
                    f"{self._retry_after_s}s",
                    self._retry_after_s,
                )
            self._waiting += 1
            try:
                await asyncio.wait_for(self._slots.acquire(), self._wait_s)
            except TimeoutError:
                raise Overloaded(
                    f"the server is at capacity: no slot freed within {self._wait_s:g}s; "
                    f"retry in {self._retry_after_s}s",
                    self._retry_after_s,
                ) from None
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()

    def release(self, held_s: float) -> None:
        """Free the slot; `held_s` (how long it was held) feeds the expected-wait estimate."""
        self._holds.append(held_s)
        self._slots.release()


class AdmissionMiddleware:
    """Built once per app; the control is made from the app's settings at the first request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._control: AdmissionControl | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(ADMITTED_PREFIX):
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.services.settings
        if settings.max_in_flight <= 0:
            await self.app(scope, receive, send)
            return
        if self._control is None:
            self._control = AdmissionControl.from_settings(settings)
        try:
            await self._control.acquire()
        except Overloaded as exc:
            headers = {"Retry-After": str(exc.retry_after_s)}
            response = error_response(status_for(exc), exc.code, exc.message, headers)
            await response(scope, receive, send)
            return
        admitted_at = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self._control.release(time.monotonic() - admitted_at)
