"""SqliteRateLimiter: token buckets shared by the API processes of one data dir (no Redis).

The read-refill-take-write is one UPSERT ... RETURNING statement, so it is atomic across
processes without holding a transaction open. Time is the wall clock, which every process
on the machine shares. When the file cannot be written (locked past the busy timeout,
disk full) a per-process bucket decides: limits get looser, requests never fail for it.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bot.cache.rate_limit import InMemoryRateLimiter, RateDecision, RateLimit, _check_cost
from bot.cache.sqlite_state import SQLITE_FAILURES, SqliteStateFile

log = logging.getLogger(__name__)

PRUNE_EVERY = 1000
"""Delete buckets that have refilled completely (so mean nothing) once per this many hits."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rate_buckets ("
    " key TEXT PRIMARY KEY, tokens REAL NOT NULL, at REAL NOT NULL,"
    " allowed INTEGER NOT NULL, full_at REAL NOT NULL)",
)

# :now, :rate (tokens per second), :burst, :cost. A new bucket starts full, so its first
# hit is always allowed (cost <= burst is checked before). SET expressions all read the
# row as it was, so `allowed` and `tokens` see the same refilled amount. A bucket left
# alone for burst/rate seconds is full again: `full_at` marks when it can be forgotten.
_HIT = """
INSERT INTO rate_buckets (key, tokens, at, allowed, full_at)
VALUES (:key, :burst - :cost, :now, 1, :now + :burst / :rate)
ON CONFLICT (key) DO UPDATE SET
  allowed = (min(:burst, tokens + max(0.0, :now - at) * :rate) >= :cost),
  tokens = min(:burst, tokens + max(0.0, :now - at) * :rate)
           - (CASE WHEN min(:burst, tokens + max(0.0, :now - at) * :rate) >= :cost
                   THEN :cost ELSE 0.0 END),
  at = :now,
  full_at = :now + :burst / :rate
RETURNING allowed, tokens
"""


class SqliteRateLimiter:
    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        fallback: InMemoryRateLimiter | None = None,
    ) -> None:
        self._file = SqliteStateFile(path, _SCHEMA)
        self._clock = clock
        self._fallback = fallback or InMemoryRateLimiter()
        self._hits = 0

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        _check_cost(limit, cost)
        params = {
            "key": key,
            "now": self._clock(),
            "rate": limit.per_second,
            "burst": float(limit.burst),
            "cost": float(cost),
        }
        try:
            allowed, tokens = await self._file.run(lambda conn: self._hit(conn, params))
        except SQLITE_FAILURES as exc:
            log.warning("rate limits: %s unusable (%s); limiting per process", self._file.path, exc)
            local = self._fallback.hit_sync(key, limit, cost)
            return RateDecision(local.allowed, local.remaining, local.retry_after_s, degraded=True)
        retry = 0.0 if allowed else (cost - tokens) / limit.per_second
        return RateDecision(bool(allowed), math.floor(tokens), retry)

    def _hit(self, conn: sqlite3.Connection, params: dict[str, object]) -> tuple[int, float]:
        allowed, tokens = conn.execute(_HIT, params).fetchone()
        self._hits += 1
        if self._hits % PRUNE_EVERY == 0:
            conn.execute("DELETE FROM rate_buckets WHERE full_at < ?", (params["now"],))
        return int(allowed), float(tokens)

    async def close(self) -> None:
        self._file.close()
