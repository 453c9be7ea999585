"""SqliteIdempotencyStore: webhook deliveries seen, shared by the API processes of one
data dir when there is no Redis. `claim` is one UPSERT that succeeds only for a new key
or an expired one, so two processes given the same event at once cannot both own it.
An unusable file falls back to a per-process store, as the Redis store does."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bot.cache.sqlite_state import SQLITE_FAILURES, SqliteStateFile
from bot.helpdesk.idempotency import IN_PROGRESS_TTL_S, InMemoryIdempotencyStore

log = logging.getLogger(__name__)

PRUNE_EVERY = 500
"""Delete expired keys once per this many claims."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS idempotency_keys ( key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
)
_CLAIM = (
    "INSERT INTO idempotency_keys (key, expires_at) VALUES (:key, :until)"
    " ON CONFLICT (key) DO UPDATE SET expires_at = :until WHERE expires_at <= :now"
    " RETURNING key"
)


class SqliteIdempotencyStore:
    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        fallback: InMemoryIdempotencyStore | None = None,
    ) -> None:
        self._file = SqliteStateFile(path, _SCHEMA)
        self._clock = clock
        self._fallback = fallback or InMemoryIdempotencyStore()
        self._claims = 0

    async def claim(self, key: str) -> bool:
        now = self._clock()
        try:
            return await self._file.run(lambda conn: self._claim(conn, key, now))
        except SQLITE_FAILURES as exc:
            log.warning("idempotency: %s unusable (%s); per process", self._file.path, exc)
            return await self._fallback.claim(key)

    def _claim(self, conn: sqlite3.Connection, key: str, now: float) -> bool:
        params = {"key": key, "until": now + IN_PROGRESS_TTL_S, "now": now}
        owned = conn.execute(_CLAIM, params).fetchone() is not None
        self._claims += 1
        if self._claims % PRUNE_EVERY == 0:
            conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (now,))
        return owned

    async def complete(self, key: str, ttl_s: int) -> None:
        await self._fallback.complete(key, ttl_s)
        await self._write(
            "INSERT INTO idempotency_keys (key, expires_at) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at",
            (key, self._clock() + ttl_s),
        )

    async def release(self, key: str) -> None:
        await self._fallback.release(key)
        await self._write("DELETE FROM idempotency_keys WHERE key = ?", (key,))

    async def _write(self, sql: str, params: tuple[object, ...]) -> None:
        try:
            await self._file.run(lambda conn: conn.execute(sql, params))
        except SQLITE_FAILURES as exc:
            log.warning("idempotency: %s unusable (%s); per process", self._file.path, exc)

    async def close(self) -> None:
        self._file.close()
