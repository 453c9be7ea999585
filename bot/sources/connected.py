"""ConnectedSources: KBs that mirror a remote source (Git, website, helpdesk), with history.

Stored next to the file-source registry (`sources.sqlite` in the data directory), in
tables of their own: `kb_connectors` holds each KB's source type, its non-secret
options, how its secrets are found (never the values: see `bot.sources.secrets`), its
schedule and the connector state saved after the last successful sync; `sync_runs` holds
one row per sync with its counts, duration and (redacted) error.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from bot.sources.protocol import ConnectorState, JsonValue
from bot.sources.sqlite_file import SqliteFile

SecretRef = dict[str, str]
"""{"env": "VARIABLE"} or {"stored": "yes"} (the value sits in the secret store)."""
RunStatus = Literal["succeeded", "failed"]
HISTORY_KEPT = 200
"""Runs kept per source; older ones are dropped."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kb_connectors (
        kb TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        options TEXT NOT NULL,
        secrets TEXT NOT NULL,
        interval_s INTEGER,
        state TEXT NOT NULL DEFAULT '{}',
        last_listed INTEGER,
        created_at REAL NOT NULL,
        last_synced_at REAL,
        last_attempt_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS sync_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kb TEXT NOT NULL,
        started_at REAL NOT NULL,
        seconds REAL NOT NULL,
        status TEXT NOT NULL,
        counts TEXT NOT NULL,
        failures TEXT NOT NULL,
        error TEXT,
        forced INTEGER NOT NULL,
        full_sync INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sync_runs_kb ON sync_runs (kb, id)",
)


@dataclass(frozen=True, slots=True)
class ConnectedSource:
    kb: str
    kind: str
    options: dict[str, JsonValue]
    secrets: dict[str, SecretRef]
    interval_s: int | None
    """Synced every this many seconds (beat or the in-process scheduler); None = on demand."""
    created_at: float
    last_listed: int | None = None
    """Documents in the last complete listing: the yardstick for `ListingTooSmall`."""
    last_synced_at: float | None = None
    last_attempt_at: float | None = None

    def due(self, now: float) -> bool:
        if not self.interval_s:
            return False
        return self.last_attempt_at is None or now - self.last_attempt_at >= self.interval_s


@dataclass(frozen=True, slots=True)
class SyncRun:
    kb: str
    started_at: float
    seconds: float
    status: RunStatus
    counts: dict[str, int]
    """new, updated, unchanged, deleted, failed, listed, chunks_written."""
    failures: dict[str, str] = field(default_factory=dict)
    """Per-document reasons (the first few)."""
    error: str | None = None
    forced: bool = False
    full: bool = False
    id: int | None = None


class ConnectedSources:
    def __init__(self, db_path: Path) -> None:
        """Cheap: the file is created on first use."""
        self._db = SqliteFile(db_path, _SCHEMA)

    # -- sources ------------------------------------------------------------------------
    def get(self, kb: str) -> ConnectedSource | None:
        with self._db.connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM kb_connectors WHERE kb = ?", (kb,))
            found = row.fetchone()
        return None if found is None else _source(found)

    def list(self) -> list[ConnectedSource]:
        with self._db.connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM kb_connectors ORDER BY kb").fetchall()
        return [_source(row) for row in rows]

    def put(
        self,
        kb: str,
        kind: str,
        options: Mapping[str, JsonValue],
        secrets: Mapping[str, SecretRef],
        interval_s: int | None,
    ) -> ConnectedSource:
        """Set the KB's source; its sync state is kept when the type stays the same."""
        previous = self.get(kb)
        keep_state = previous is not None and previous.kind == kind
        with self._db.connect() as conn:
            conn.execute(
                "INSERT INTO kb_connectors (kb, kind, options, secrets, interval_s, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kb) DO UPDATE SET kind = excluded.kind,"
                " options = excluded.options, secrets = excluded.secrets,"
                " interval_s = excluded.interval_s"
                + ("" if keep_state else ", state = '{}', last_listed = NULL"),
                (kb, kind, json.dumps(dict(options)), json.dumps(dict(secrets)), interval_s,
                 time.time()),
            )  # fmt: skip
        source = self.get(kb)
        assert source is not None
        return source

    def remove(self, kb: str) -> bool:
        with self._db.connect() as conn:
            conn.execute("DELETE FROM sync_runs WHERE kb = ?", (kb,))
            return conn.execute("DELETE FROM kb_connectors WHERE kb = ?", (kb,)).rowcount > 0

    # -- state --------------------------------------------------------------------------
    def load_state(self, kb: str) -> ConnectorState:
        with self._db.connect() as conn:
            row = conn.execute("SELECT state FROM kb_connectors WHERE kb = ?", (kb,)).fetchone()
        data = json.loads(row[0]) if row else {}
        return ConnectorState(cursor=data.get("cursor", {}), documents=data.get("documents", {}))

    def save_success(self, kb: str, state: ConnectorState, listed: int, at: float) -> None:
        blob = json.dumps({"cursor": state.cursor, "documents": state.documents})
        with self._db.connect() as conn:
            conn.execute(
                "UPDATE kb_connectors SET state = ?, last_listed = ?, last_synced_at = ?,"
                " last_attempt_at = ? WHERE kb = ?",
                (blob, listed, at, at, kb),
            )

    def mark_attempt(self, kb: str, at: float) -> None:
        with self._db.connect() as conn:
            conn.execute("UPDATE kb_connectors SET last_attempt_at = ? WHERE kb = ?", (at, kb))

    # -- history ------------------------------------------------------------------------
    def record(self, run: SyncRun) -> SyncRun:
        with self._db.connect() as conn:
            cursor = conn.execute(
                "INSERT INTO sync_runs (kb, started_at, seconds, status, counts, failures, error,"
                " forced, full_sync) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.kb, run.started_at, run.seconds, run.status, json.dumps(run.counts),
                 json.dumps(run.failures), run.error, int(run.forced), int(run.full)),
            )  # fmt: skip
            conn.execute(
                "DELETE FROM sync_runs WHERE kb = ? AND id NOT IN (SELECT id FROM sync_runs"
                " WHERE kb = ? ORDER BY id DESC LIMIT ?)",
                (run.kb, run.kb, HISTORY_KEPT),
            )
            run_id = cursor.lastrowid
        return replace(run, id=run_id)

    def history(self, kb: str, limit: int = 20) -> builtins.list[SyncRun]:
        """Newest first."""
        with self._db.connect() as conn:
            rows = conn.execute(
                "SELECT id, kb, started_at, seconds, status, counts, failures, error, forced,"
                " full_sync FROM sync_runs WHERE kb = ? ORDER BY id DESC LIMIT ?",
                (kb, limit),
            ).fetchall()
        return [_run(row) for row in rows]


_COLUMNS = (
    "kb, kind, options, secrets, interval_s, created_at, last_listed, last_synced_at,"
    " last_attempt_at"
)


def _source(row: tuple[object, ...]) -> ConnectedSource:
    kb, kind, options, secrets, interval_s, created_at, listed, synced, attempted = row
    return ConnectedSource(
        kb=str(kb),
        kind=str(kind),
        options=json.loads(str(options)),
        secrets=json.loads(str(secrets)),
        interval_s=None if interval_s is None else int(str(interval_s)),
        created_at=float(str(created_at)),
        last_listed=None if listed is None else int(str(listed)),
        last_synced_at=None if synced is None else float(str(synced)),
        last_attempt_at=None if attempted is None else float(str(attempted)),
    )


def _run(row: tuple[object, ...]) -> SyncRun:
    run_id, kb, started_at, seconds, status, counts, failures, error, forced, full = row
    return SyncRun(
        id=int(str(run_id)),
        kb=str(kb),
        started_at=float(str(started_at)),
        seconds=float(str(seconds)),
        status="succeeded" if status == "succeeded" else "failed",
        counts=json.loads(str(counts)),
        failures=json.loads(str(failures)),
        error=None if error is None else str(error),
        forced=bool(forced),
        full=bool(full),
    )
