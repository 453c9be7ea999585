"""A small circuit breaker: stop calling a reranker that keeps failing, then probe it.

closed ──N consecutive failures──▶ open ──cool-down elapsed──▶ half-open (one trial call)
  ▲                                  ▲                              │
  └──────────── trial succeeds ──────┴──────── trial fails ─────────┘

While open, callers skip the reranker at once instead of each waiting out its
timeout, so one dead backend costs the first few requests, not every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_after_s <= 0:
            raise ValueError("reset_after_s must be positive")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._trial_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state == "open" and self._cool_down_over():
                return "half_open"
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    def allow(self) -> bool:
        """May the caller use the protected backend now? In half-open, only one trial may."""
        with self._lock:
            if self._state == "closed":
                return True
            now = self._clock()
            if self._state == "open":
                if not self._cool_down_over():
                    return False
                self._state = "half_open"
                self._trial_started_at = now
                return True
            # half-open: a trial is in flight. If it never reported back (its caller
            # was cancelled), let a new trial through after another cool-down.
            started = self._trial_started_at
            if started is None or now - started >= self.reset_after_s:
                self._trial_started_at = now
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._state = "closed"
            self._consecutive_failures = 0
            self._trial_started_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive_failures += 1
            if self._state == "half_open" or self._consecutive_failures >= self.failure_threshold:
                self._state = "open"
                self._opened_at = self._clock()
                self._trial_started_at = None

    def _cool_down_over(self) -> bool:
        return self._clock() - self._opened_at >= self.reset_after_s
