"""SourceRegistry: which content each knowledge base mirrors, so it can be re-indexed.

A re-index reads the source again, so the source has to be known: either a folder on the
server (registered by an admin, under `sources_root`) or the KB's upload folder
(`data_dir/uploads/<kb>/`, where every upload is merged). One source per KB: an ingest
makes the KB mirror that tree, deleting documents that are no longer in it.

Stored in a small SQLite file in the data directory. API processes and Celery workers
must therefore share the data directory (same host or volume), as they already must for
uploaded files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.sources.sqlite_file import SqliteFile

SourceKind = Literal["folder", "upload"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_sources (
    kb TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('folder', 'upload')),
    path TEXT NOT NULL,
    base_url TEXT,
    resync INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_synced_at REAL
)
"""


@dataclass(frozen=True, slots=True)
class KbSource:
    kb: str
    kind: SourceKind
    path: Path
    base_url: str | None
    resync: bool
    """Re-ingested by the periodic re-sync (folders that change outside supportbot)."""
    created_at: float
    last_synced_at: float | None = None


class SourceRegistry:
    def __init__(self, db_path: Path) -> None:
        """Cheap: the file is created on first use."""
        self._db = SqliteFile(db_path, (_SCHEMA,))

    def get(self, kb: str) -> KbSource | None:
        with self._db.connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM kb_sources WHERE kb = ?", (kb,)).fetchone()
        return None if row is None else _source(row)

    def list(self, *, resync_only: bool = False) -> list[KbSource]:
        where = "WHERE resync = 1" if resync_only else ""
        with self._db.connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM kb_sources {where} ORDER BY kb")
            return [_source(row) for row in rows.fetchall()]

    def register(
        self,
        kb: str,
        kind: SourceKind,
        path: Path,
        *,
        base_url: str | None = None,
        resync: bool = False,
    ) -> KbSource:
        """Set the KB's source, replacing any earlier one (its sync time is kept if unchanged)."""
        with self._db.connect() as conn:
            conn.execute(
                "INSERT INTO kb_sources (kb, kind, path, base_url, resync, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kb) DO UPDATE SET kind = excluded.kind,"
                " path = excluded.path, base_url = excluded.base_url, resync = excluded.resync",
                (kb, kind, str(path), base_url, int(resync), time.time()),
            )
        source = self.get(kb)
        assert source is not None
        return source

    def mark_synced(self, kb: str, at: float | None = None) -> None:
        with self._db.connect() as conn:
            conn.execute(
                "UPDATE kb_sources SET last_synced_at = ? WHERE kb = ?", (at or time.time(), kb)
            )

    def remove(self, kb: str) -> bool:
        with self._db.connect() as conn:
            return conn.execute("DELETE FROM kb_sources WHERE kb = ?", (kb,)).rowcount > 0


_COLUMNS = "kb, kind, path, base_url, resync, created_at, last_synced_at"


def _source(row: tuple[str, str, str, str | None, int, float, float | None]) -> KbSource:
    kb, kind, path, base_url, resync, created_at, last_synced_at = row
    return KbSource(
        kb=kb,
        kind="folder" if kind == "folder" else "upload",
        path=Path(path),
        base_url=base_url,
        resync=bool(resync),
        created_at=created_at,
        last_synced_at=last_synced_at,
    )
