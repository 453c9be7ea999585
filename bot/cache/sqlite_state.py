"""SqliteStateFile: the state API worker processes share when there is no Redis.

Rate limits, conversations and webhook idempotency records live in one small SQLite file
in the data dir (`shared_state.sqlite`), so every process serving from that dir agrees.
WAL lets readers and one writer work at once; each store keeps one autocommit connection
(statements are atomic on their own; `immediate()` groups several) and runs its SQL in a
worker thread so the event loop never waits on another process's write lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

STATE_FILENAME = "shared_state.sqlite"

SQLITE_FAILURES = (sqlite3.OperationalError, sqlite3.DatabaseError)
"""Locked past the busy timeout, disk full, unreadable file: the store degrades."""


class SqliteStateFile:
    def __init__(self, path: Path, schema: Sequence[str], *, busy_timeout_s: float = 2.0) -> None:
        """Cheap: the file and its tables are made on first use."""
        self.path = path
        self._schema = tuple(schema)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` in a worker thread, one at a time per store."""
        return await asyncio.to_thread(self.run_sync, work)

    def run_sync(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return work(self._connection())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_wal(self.path, self._schema, busy_timeout_s=self._busy_timeout_s)
        return self._conn


def open_wal(path: Path, schema: Sequence[str], *, busy_timeout_s: float) -> sqlite3.Connection:
    """An autocommit WAL connection any thread may use, with `schema` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: never corrupt, fast commits
        for statement in schema:
            conn.execute(statement)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, holding the write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
