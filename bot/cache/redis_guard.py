"""RedisGuard: how every Redis-backed store degrades when Redis is down or slow.

A failed call is counted, logged at most once per `log_interval_s`, and opens a short
cooldown during which callers skip Redis entirely: a dead server then costs one timeout
per cooldown instead of one per request. The stores fall back to "cache miss",
"no history" or "allow", so requests keep succeeding.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


@functools.cache
def redis_failures() -> tuple[type[BaseException], ...]:
    """What a Redis call raises when the server is unreachable, slow or refuses a command.

    A function, so that importing the stores does not import redis (a cost every CLI
    command and API process would pay without Redis configured)."""
    import redis.exceptions

    return (redis.exceptions.RedisError, ConnectionError, TimeoutError, OSError)


class RedisGuard:
    def __init__(
        self,
        name: str,
        *,
        cooldown_s: float = 5.0,
        log_interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._cooldown_s = cooldown_s
        self._log_interval_s = log_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._skip_until = 0.0
        self._last_logged: float | None = None
        self._unlogged = 0
        self.failures = 0
        self.bypassed = 0
        self.last_error: str | None = None

    def available(self) -> bool:
        """False during the cooldown after a failure; the caller then skips Redis."""
        with self._lock:
            if self._clock() < self._skip_until:
                self.bypassed += 1
                return False
            return True

    def failed(self, operation: str, exc: BaseException) -> None:
        now = self._clock()
        with self._lock:
            self.failures += 1
            self._unlogged += 1
            self._skip_until = now + self._cooldown_s
            self.last_error = f"{operation}: {type(exc).__name__}: {exc}"
            due = self._last_logged is None or now - self._last_logged >= self._log_interval_s
            if not due:
                return
            self._last_logged, count = now, self._unlogged
            self._unlogged = 0
        logger.warning(
            "redis %s unavailable (%d failures since last report; last: %s); "
            "bypassing it for %.1fs at a time, requests continue without it",
            self.name,
            count,
            self.last_error,
            self._cooldown_s,
        )

    def healthy(self) -> bool:
        with self._lock:
            return self._clock() >= self._skip_until

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {
                "failures": self.failures,
                "bypassed": self.bypassed,
                "last_error": self.last_error,
            }
