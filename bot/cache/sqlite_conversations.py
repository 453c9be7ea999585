"""SqliteConversationStore: conversation history shared by the API processes of one data
dir when there is no Redis; the same contract as the Redis list (last `max_turns` turns,
forgotten `ttl_s` after the last one). Unusable file: `load` is None, `append` is False,
and chat answers without the history, as with Redis down."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.cache.sqlite_state import SQLITE_FAILURES, SqliteStateFile, immediate
from bot.generation.protocol import Turn

log = logging.getLogger(__name__)

PRUNE_EVERY = 500
"""Delete expired conversations once per this many appends (reads filter them anyway)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS conversation_turns ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, kb TEXT NOT NULL, conversation TEXT NOT NULL,"
    " role TEXT NOT NULL, content TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS turns_by_conversation"
    " ON conversation_turns (kb, conversation, seq)",
    "CREATE INDEX IF NOT EXISTS turns_by_expiry ON conversation_turns (expires_at)",
)


class SqliteConversationStore:
    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        max_turns: int = 20,
        ttl_s: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_turns < 1 or ttl_s <= 0:
            raise ValueError("max_turns must be at least 1 and ttl_s positive")
        self._file = SqliteStateFile(path, _SCHEMA)
        self._max_turns = max_turns
        self._ttl_s = ttl_s
        self._clock = clock
        self._appends = 0

    async def load(self, kb: str, conversation_id: str) -> list[Turn] | None:
        try:
            rows = await self._file.run(
                lambda conn: conn.execute(
                    "SELECT role, content FROM conversation_turns WHERE kb = ? AND"
                    " conversation = ? AND expires_at > ? ORDER BY seq",
                    (kb, conversation_id, self._clock()),
                ).fetchall()
            )
        except SQLITE_FAILURES as exc:
            log.warning("conversations: %s unusable (%s)", self._file.path, exc)
            return None
        return [Turn(role=role, content=content) for role, content in rows]

    async def append(self, kb: str, conversation_id: str, turns: Sequence[Turn]) -> bool:
        if not turns:
            return True
        try:
            await self._file.run(lambda conn: self._append(conn, kb, conversation_id, turns))
        except SQLITE_FAILURES as exc:
            log.warning("conversations: %s unusable (%s)", self._file.path, exc)
            return False
        return True

    def _append(
        self, conn: sqlite3.Connection, kb: str, conversation_id: str, turns: Sequence[Turn]
    ) -> None:
        now = self._clock()
        key = (kb, conversation_id)
        with immediate(conn):
            # An expired conversation starts afresh, as in Redis once its key expired.
            conn.execute(
                "DELETE FROM conversation_turns WHERE kb = ? AND conversation = ?"
                " AND expires_at <= ?",
                (*key, now),
            )
            conn.executemany(
                "INSERT INTO conversation_turns (kb, conversation, role, content, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(*key, turn.role, turn.content, now + self._ttl_s) for turn in turns],
            )
            conn.execute(
                "DELETE FROM conversation_turns WHERE kb = ? AND conversation = ? AND seq NOT IN"
                " (SELECT seq FROM conversation_turns WHERE kb = ? AND conversation = ?"
                "  ORDER BY seq DESC LIMIT ?)",
                (*key, *key, self._max_turns),
            )
            conn.execute(
                "UPDATE conversation_turns SET expires_at = ? WHERE kb = ? AND conversation = ?",
                (now + self._ttl_s, *key),
            )
            self._appends += 1
            if self._appends % PRUNE_EVERY == 0:
                conn.execute("DELETE FROM conversation_turns WHERE expires_at <= ?", (now,))

    async def close(self) -> None:
        self._file.close()
