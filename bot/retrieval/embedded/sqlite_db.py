"""The embedded backend's SQLite file: schema, one connection per thread, transactions.

WAL mode lets readers keep reading the last committed state while a writer works, in
this process or another (API and worker share the file). Writes take `BEGIN IMMEDIATE`
behind a process-wide lock so our own threads queue instead of spinning on SQLITE_BUSY.
SQLite errors are translated here, at the edge, into the project's hierarchy.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.errors import BackendUnavailable, ConfigurationError, RetrievalError

DB_FILENAME = "search.sqlite3"
STORE_SCHEMA_VERSION = 1
"""Layout of the tables below; bump with a migration when it changes."""

# A KB exists while it has a `live` index. A rebuild fills a `staging` index that
# `commit` flips to live in one transaction. Each index has its own FTS5 table,
# `fts_<index_id>`, so BM25 statistics never mix KBs or a KB with its own rebuild.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS indexes (
    index_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kb TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('live', 'staging')),
    embedding_model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    last_indexed TEXT,
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_live_index_per_kb ON indexes (kb) WHERE state = 'live';
CREATE TABLE IF NOT EXISTS documents (
    index_id INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    doc_hash TEXT NOT NULL,
    PRIMARY KEY (index_id, source_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    chunk_row INTEGER PRIMARY KEY,
    index_id INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    title TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    url TEXT,
    doc_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (index_id, source_id);
"""


class SqliteDatabase:
    """Lazily opened; safe to share between threads (each gets its own connection)."""

    def __init__(
        self,
        path: Path,
        *,
        on_first_open: Callable[[sqlite3.Connection], None] | None = None,
        busy_timeout_s: float = 10.0,
    ) -> None:
        """`on_first_open` runs on the first connection, in a write transaction."""
        self.path = path
        self._on_first_open = on_first_open
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._registry_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._schema_ready = False
        self._closed = False

    def connection(self) -> sqlite3.Connection:
        if self._closed:
            raise BackendUnavailable("the embedded search backend was closed", retry_after_s=0)
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._registry_lock:
            conn = self._open()
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # only `close()` touches another thread's connection
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._cannot_open(exc) from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(
                "PRAGMA synchronous = NORMAL"
            )  # WAL: durable at checkpoints, never corrupt
            if not self._schema_ready:
                self._create_schema(conn)
                self._schema_ready = True
        except sqlite3.Error as exc:
            conn.close()
            raise self._cannot_open(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _cannot_open(self, exc: Exception) -> BackendUnavailable:
        return BackendUnavailable(
            f"cannot open the embedded search database {self.path}: {exc}. "
            "Check that SUPPORTBOT_DATA_DIR is writable and has free space."
        )

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_schema', ?)",
                    (str(STORE_SCHEMA_VERSION),),
                )
                (found,) = conn.execute(
                    "SELECT value FROM meta WHERE key = 'store_schema'"
                ).fetchone()
                if found == str(STORE_SCHEMA_VERSION) and self._on_first_open is not None:
                    self._on_first_open(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if found != str(STORE_SCHEMA_VERSION):
            raise ConfigurationError(
                f"{self.path} has store schema {found}, this version reads "
                f"{STORE_SCHEMA_VERSION}; re-ingest into a fresh SUPPORTBOT_DATA_DIR"
            )

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several statements."""
        conn = self.connection()
        with _translated_errors(self.path):
            _begin(conn, "BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: committed when the block ends, rolled back if it raises."""
        conn = self.connection()
        with self._write_lock, _translated_errors(self.path):
            _begin(conn, "BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def ping(self) -> bool:
        try:
            with self.read() as conn:
                conn.execute("SELECT count(*) FROM indexes").fetchone()
        except (BackendUnavailable, RetrievalError, ConfigurationError):
            return False
        return True

    def close(self) -> None:
        with self._registry_lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _begin(conn: sqlite3.Connection, statement: str) -> None:
    # A COMMIT that failed (disk full, busy) leaves its transaction open on this thread's
    # connection: roll it back instead of failing every later call "within a transaction".
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.execute(statement)


DISK_FULL_RETRY_AFTER_S = 60
"""Space is freed by a person or a cleanup job, not in seconds."""


@contextmanager
def _translated_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorname == "SQLITE_FULL":
            raise BackendUnavailable(
                f"the disk holding the embedded search database {path} is full ({exc}): free "
                "space there or move SUPPORTBOT_DATA_DIR, then run the ingest again; the "
                "transaction was rolled back and the index serves as it was",
                retry_after_s=DISK_FULL_RETRY_AFTER_S,
            ) from exc
        raise BackendUnavailable(
            f"the embedded search database {path} is busy or unreadable: {exc}"
        ) from exc
    except sqlite3.Error as exc:
        raise RetrievalError(f"the embedded search database {path} failed: {exc}") from exc
