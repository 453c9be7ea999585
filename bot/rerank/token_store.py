"""Token vectors per chunk, kept for late-interaction reranking.

The Ingestor hands each chunk's token vectors (from the same forward pass as its
sentence vector) to `store`; the reranker `load`s them by `Chunk.content_hash`, so the
rerank stage costs one query encoding plus small matrix products. The store is its own
SQLite file beside the search data and never reads the search backend, so it serves the
embedded backend and Elasticsearch alike.

Rows are keyed by (embedding model, content hash): vectors from another model are never
mixed in. A store is bound to one model, by its constructor or by the reranker using it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.cache.sqlite_state import immediate, open_wal
from bot.domain import Chunk, Vector
from bot.errors import BackendUnavailable, ConfigurationError
from bot.rerank.maxsim import normalise_rows
from bot.rerank.protocol import TokenVectorSink
from bot.rerank.token_codec import (
    PRECISIONS,
    EncodedTokens,
    TokenPrecision,
    decode_tokens,
    encode_tokens,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS token_vectors (
    model TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    precision TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    vectors BLOB NOT NULL,
    scales BLOB,
    PRIMARY KEY (model, content_hash)
)
"""
_LOOKUP_BATCH = 500
"""Content hashes per `IN (...)` lookup; well under SQLite's bound-parameter limit."""


@dataclass(frozen=True, slots=True)
class TokenStoreStats:
    chunks: int
    bytes: int
    """Bytes of vectors and scales, excluding SQLite's own overhead."""

    @property
    def bytes_per_chunk(self) -> float:
        return self.bytes / self.chunks if self.chunks else 0.0


class TokenVectorStore(TokenVectorSink, Protocol):
    model_id: str | None

    def bind(self, model_id: str) -> None:
        """Serve vectors of this embedding model; refuse if bound to another."""
        ...

    def load(self, content_hashes: Sequence[str]) -> dict[str, Vector]:
        """L2-normalised float32 token matrices of the hashes found; missing ones are absent."""
        ...


class SqliteTokenVectorStore:
    """Lazily opened SQLite file; one connection per thread, WAL so readers never wait."""

    def __init__(
        self,
        path: Path,
        *,
        model_id: str | None = None,
        precision: TokenPrecision = "int8",
        busy_timeout_s: float = 10.0,
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigurationError(
                f"token vector precision must be one of {PRECISIONS}, got {precision!r}"
            )
        self.path = Path(path)
        self.model_id = model_id
        self.precision: TokenPrecision = precision
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._watch: sqlite3.Connection | None = None

    def bind(self, model_id: str) -> None:
        if self.model_id is not None and self.model_id != model_id:
            raise ConfigurationError(
                f"token vector store {self.path} holds vectors of {self.model_id!r}, not "
                f"{model_id!r}; give each embedding model its own store file"
            )
        self.model_id = model_id

    # -- TokenVectorSink ---------------------------------------------------------
    def store(self, chunks: Sequence[Chunk], token_vectors: Sequence[Vector]) -> None:
        if len(chunks) != len(token_vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(token_vectors)} token matrices")
        model = self._bound_model()
        rows = []
        for chunk, matrix in zip(chunks, token_vectors, strict=True):
            encoded = encode_tokens(normalise_rows(matrix), self.precision)
            rows.append(
                (
                    model,
                    chunk.content_hash,
                    encoded.precision,
                    encoded.tokens,
                    encoded.dim,
                    encoded.vectors,
                    encoded.scales,
                )
            )
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO token_vectors "
                "(model, content_hash, precision, tokens, dim, vectors, scales) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    # -- reading -------------------------------------------------------------------
    def load(self, content_hashes: Sequence[str]) -> dict[str, Vector]:
        model = self._bound_model()
        wanted = list(dict.fromkeys(content_hashes))
        found: dict[str, Vector] = {}
        with self._translated():
            conn = self._connection()
            for start in range(0, len(wanted), _LOOKUP_BATCH):
                batch = wanted[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                for row in conn.execute(
                    "SELECT content_hash, precision, tokens, dim, vectors, scales "
                    f"FROM token_vectors WHERE model = ? AND content_hash IN ({marks})",
                    (model, *batch),
                ):
                    found[row[0]] = decode_tokens(EncodedTokens(*row[1:]))
        return found

    def delete(self, content_hashes: Sequence[str]) -> int:
        model = self._bound_model()
        deleted = 0
        with self._write() as conn:
            for start in range(0, len(content_hashes), _LOOKUP_BATCH):
                batch = list(content_hashes[start : start + _LOOKUP_BATCH])
                marks = ",".join("?" * len(batch))
                cursor = conn.execute(
                    f"DELETE FROM token_vectors WHERE model = ? AND content_hash IN ({marks})",
                    (model, *batch),
                )
                deleted += cursor.rowcount
        return deleted

    def data_version(self) -> int:
        """Changes whenever any connection, in any process, commits to the file (SQLite's
        `PRAGMA data_version`, read on a connection that never writes): how an in-memory
        copy of the vectors learns that a re-index elsewhere replaced rows."""
        with self._translated(), self._lock:
            if self._watch is None:
                self._watch = open_wal(self.path, (SCHEMA,), busy_timeout_s=self._busy_timeout_s)
            version: int = self._watch.execute("PRAGMA data_version").fetchone()[0]
        return version

    def stats(self) -> TokenStoreStats:
        model = self._bound_model()
        with self._translated():
            chunks, size = (
                self._connection()
                .execute(
                    "SELECT count(*), total(length(vectors) + ifnull(length(scales), 0)) "
                    "FROM token_vectors WHERE model = ?",
                    (model,),
                )
                .fetchone()
            )
        return TokenStoreStats(int(chunks), int(size))

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
            self._local = threading.local()
            if self._watch is not None:
                self._watch.close()
                self._watch = None

    # -- plumbing ------------------------------------------------------------------
    def _bound_model(self) -> str:
        if self.model_id is None:
            raise ConfigurationError(
                "token vector store is not bound to an embedding model: pass model_id= or "
                "hand it to LateInteractionReranker first"
            )
        return self.model_id

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_wal(self.path, (SCHEMA,), busy_timeout_s=self._busy_timeout_s)
            with self._lock:
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._translated(), self._write_lock, immediate(self._connection()) as conn:
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(
                f"token vector store {self.path} failed: {exc}. Check that "
                "SUPPORTBOT_DATA_DIR is writable and has free space."
            ) from exc
