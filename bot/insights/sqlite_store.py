"""SqliteInsightsStore: question events in `<data_dir>/insights.sqlite` (the default)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from bot.insights.protocol import QuestionEvent

PRUNE_EVERY = 200
"""Delete expired rows once every this many writes (and on every read, by filtering)."""


class SqliteInsightsStore:
    name = "sqlite"

    def __init__(self, path: Path, *, retention_s: int) -> None:
        self._path = path
        self._retention_s = retention_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._writes = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS question_events ("
                " id TEXT PRIMARY KEY, kb TEXT NOT NULL, at REAL NOT NULL, body TEXT NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS events_by_kb ON question_events (kb, at)")
            self._conn = conn
        return self._conn

    async def record(self, event: QuestionEvent) -> None:
        await asyncio.to_thread(self._insert, event)

    def _insert(self, event: QuestionEvent) -> None:
        with self._lock:
            db = self._db()
            db.execute(
                "INSERT OR REPLACE INTO question_events (id, kb, at, body) VALUES (?, ?, ?, ?)",
                (event.id, event.kb, event.at, event.to_json()),
            )
            self._writes += 1
            if self._writes % PRUNE_EVERY == 1:
                cutoff = time.time() - self._retention_s
                db.execute("DELETE FROM question_events WHERE at < ?", (cutoff,))

    async def events(self, kb: str, since: float) -> list[QuestionEvent]:
        return await asyncio.to_thread(self._select, kb, since)

    def _select(self, kb: str, since: float) -> list[QuestionEvent]:
        since = max(since, time.time() - self._retention_s)
        with self._lock:
            rows = self._db().execute(
                "SELECT body FROM question_events WHERE kb = ? AND at >= ? ORDER BY at",
                (kb, since),
            )
            return [QuestionEvent.from_json(body) for (body,) in rows.fetchall()]

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
