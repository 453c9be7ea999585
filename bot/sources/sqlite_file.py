"""SqliteFile: a small SQLite file in the data directory, its schema made on first use.

Shared by the file-source registry and the connected sources (same `sources.sqlite`):
WAL so API processes and Celery workers read while one writes, a connection per call
(threads), and a transaction per `connect()` block.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class SqliteFile:
    def __init__(self, path: Path, schema: Sequence[str]) -> None:
        """Cheap: the file and its tables are created on first use."""
        self._path = path
        self._schema = tuple(schema)
        self._lock = threading.Lock()
        self._ready = False

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=10.0)
        try:
            with self._lock:
                if not self._ready:
                    conn.execute("PRAGMA journal_mode=WAL")
                    for statement in self._schema:
                        conn.execute(statement)
                    self._ready = True
            with conn:
                yield conn
        finally:
            conn.close()
