"""Statements on the embedded backend's tables, run inside a caller's transaction.

Synchronous and connection-scoped so that EmbeddedSearch can compose several of them
into one atomic transaction (replace a document; swap a rebuilt index in).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain import Chunk, DocumentChunks, IndexInfo
from bot.errors import EmbeddingModelMismatch, KnowledgeBaseNotFound
from bot.retrieval.embedded.vector_matrix import vector_to_blob

FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
_CHUNK_COLUMNS = (
    "c.chunk_row, c.source_id, c.ordinal, c.title, c.heading_path, c.text, c.url, c.doc_hash"
)
_INDEX_COLUMNS = (
    "index_id, kb, state, embedding_model, dimension, schema_version, generation, last_indexed"
)


@dataclass(frozen=True, slots=True)
class IndexRow:
    index_id: int
    kb: str
    state: str
    info: IndexInfo
    generation: int
    last_indexed: str | None

    @property
    def fts(self) -> str:
        return fts_table(self.index_id)


def fts_table(index_id: int) -> str:
    """Name of an index's FTS5 table; built from an integer, so safe to splice into SQL."""
    return f"fts_{int(index_id)}"


_IndexColumns = tuple[int, str, str, str, int, int, int, str | None]
_ChunkColumns = tuple[int, str, int, str, str, str, str | None, str]


def _index_row(row: _IndexColumns) -> IndexRow:
    index_id, kb, state, model, dimension, schema_version, generation, last_indexed = row
    info = IndexInfo(model, dimension, schema_version)
    return IndexRow(index_id, kb, state, info, generation, last_indexed)


def live_index(conn: sqlite3.Connection, kb: str) -> IndexRow | None:
    sql = f"SELECT {_INDEX_COLUMNS} FROM indexes WHERE kb = ? AND state = 'live'"
    row = conn.execute(sql, (kb,)).fetchone()
    return None if row is None else _index_row(row)


def require_live(conn: sqlite3.Connection, kb: str) -> IndexRow:
    live = live_index(conn, kb)
    if live is None:
        raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist; ingest it first")
    return live


def check_model(kb: str, indexed: IndexInfo, requested: IndexInfo) -> None:
    """Refuse to mix vectors of two embedding models (or dimensions, or schemas)."""
    if indexed != requested:
        raise EmbeddingModelMismatch(
            f"KB {kb!r} was indexed with {indexed.embedding_model!r} (dimension "
            f"{indexed.dimension}, schema {indexed.schema_version}) but "
            f"{requested.embedding_model!r} (dimension {requested.dimension}, schema "
            f"{requested.schema_version}) was asked for; rebuild the KB with the new model "
            "or set SUPPORTBOT_EMBEDDING_MODEL back"
        )


def index_by_id(conn: sqlite3.Connection, index_id: int) -> IndexRow | None:
    row = conn.execute(
        f"SELECT {_INDEX_COLUMNS} FROM indexes WHERE index_id = ?", (index_id,)
    ).fetchone()
    return None if row is None else _index_row(row)


def create_index(conn: sqlite3.Connection, kb: str, info: IndexInfo, state: str) -> IndexRow:
    cursor = conn.execute(
        "INSERT INTO indexes (kb, state, embedding_model, dimension, schema_version, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (kb, state, info.embedding_model, info.dimension, info.schema_version, time.time()),
    )
    index_id = int(cursor.lastrowid or 0)
    conn.execute(
        f"CREATE VIRTUAL TABLE {fts_table(index_id)} USING fts5"
        f"(title, headings, body, tokenize = '{FTS_TOKENIZER}')"
    )
    return IndexRow(index_id, kb, state, info, 0, None)


def drop_index(conn: sqlite3.Connection, index_id: int) -> None:
    conn.execute("DELETE FROM chunks WHERE index_id = ?", (index_id,))
    conn.execute("DELETE FROM documents WHERE index_id = ?", (index_id,))
    conn.execute(f"DROP TABLE IF EXISTS {fts_table(index_id)}")
    conn.execute("DELETE FROM indexes WHERE index_id = ?", (index_id,))


def staging_ids(conn: sqlite3.Connection, kb: str | None = None, idle_s: float = 0.0) -> list[int]:
    """Staging indexes (of `kb`, or all) untouched for `idle_s` seconds."""
    sql = "SELECT index_id FROM indexes WHERE state = 'staging' AND updated_at <= ?"
    params: tuple[object, ...] = (time.time() - idle_s,)
    if kb is not None:
        sql += " AND kb = ?"
        params += (kb,)
    return [int(index_id) for (index_id,) in conn.execute(sql, params)]


def orphan_fts_tables(conn: sqlite3.Connection) -> list[str]:
    """FTS tables whose index row is gone (left by an older crash); safe to drop."""
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'fts_[0-9]*'"
        " AND name NOT GLOB 'fts_*_*'"
    ).fetchall()
    known = {fts_table(i) for (i,) in conn.execute("SELECT index_id FROM indexes")}
    return [name for (name,) in names if name not in known]


def mark_written(conn: sqlite3.Connection, index_id: int) -> None:
    """Bump the generation (invalidates cached matrices everywhere) and the index time."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    conn.execute(
        "UPDATE indexes SET generation = generation + 1, last_indexed = ?, updated_at = ?"
        " WHERE index_id = ?",
        (now, time.time(), index_id),
    )


def replace_document(conn: sqlite3.Connection, index: IndexRow, document: DocumentChunks) -> None:
    delete_documents(conn, index, [document.source_id])
    conn.execute(
        "INSERT INTO documents (index_id, source_id, doc_hash) VALUES (?, ?, ?)",
        (index.index_id, document.source_id, document.doc_hash),
    )
    for embedded in document.chunks:
        chunk = embedded.chunk
        cursor = conn.execute(
            "INSERT INTO chunks (index_id, source_id, ordinal, title, heading_path, text, url,"
            " doc_hash, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                index.index_id,
                chunk.source_id,
                chunk.ordinal,
                chunk.title,
                json.dumps(list(chunk.heading_path), ensure_ascii=False),
                chunk.text,
                chunk.url,
                chunk.doc_hash,
                vector_to_blob(embedded.vector),
            ),
        )
        conn.execute(
            f"INSERT INTO {index.fts} (rowid, title, headings, body) VALUES (?, ?, ?, ?)",
            (cursor.lastrowid, chunk.title, " ".join(chunk.heading_path), chunk.text),
        )


def delete_documents(conn: sqlite3.Connection, index: IndexRow, source_ids: Sequence[str]) -> int:
    """Delete documents and their chunks; returns how many documents existed."""
    deleted = 0
    for source_id in source_ids:
        key = (index.index_id, source_id)
        conn.execute(
            f"DELETE FROM {index.fts} WHERE rowid IN"
            " (SELECT chunk_row FROM chunks WHERE index_id = ? AND source_id = ?)",
            key,
        )
        conn.execute("DELETE FROM chunks WHERE index_id = ? AND source_id = ?", key)
        cursor = conn.execute("DELETE FROM documents WHERE index_id = ? AND source_id = ?", key)
        deleted += cursor.rowcount
    return deleted


def counts(conn: sqlite3.Connection, index_id: int) -> tuple[int, int]:
    """(documents, chunks) in an index."""
    (documents,) = conn.execute(
        "SELECT count(*) FROM documents WHERE index_id = ?", (index_id,)
    ).fetchone()
    (chunks,) = conn.execute(
        "SELECT count(*) FROM chunks WHERE index_id = ?", (index_id,)
    ).fetchone()
    return int(documents), int(chunks)


def _chunk(kb: str, row: _ChunkColumns) -> Chunk:
    _, source_id, ordinal, title, heading_path, text, url, doc_hash = row
    return Chunk(
        kb=kb,
        source_id=source_id,
        ordinal=ordinal,
        title=title,
        heading_path=tuple(json.loads(heading_path)),
        text=text,
        url=url,
        doc_hash=doc_hash,
    )


def bm25_rows(
    conn: sqlite3.Connection,
    index: IndexRow,
    expression: str,
    weights: tuple[float, float, float],
    top_n: int,
) -> list[tuple[int, float]]:
    """Best `top_n` chunk rows for an FTS5 expression with their BM25 score (higher is
    better), best first, ties by row. Only ids: the chunks come from `ChunkCache`."""
    sql = (
        f"SELECT rowid, bm25({index.fts}, ?, ?, ?) AS score FROM {index.fts}"
        f" WHERE {index.fts} MATCH ? ORDER BY score, rowid LIMIT ?"
    )
    rows = conn.execute(sql, (*weights, expression, top_n)).fetchall()
    # FTS5's bm25() is negated so that ascending order is best first; flip it back.
    return [(int(row), -float(score)) for row, score in rows]


def chunks_by_row(conn: sqlite3.Connection, kb: str, rows: Sequence[int]) -> dict[int, Chunk]:
    if not rows:
        return {}
    marks = ",".join("?" * len(rows))
    sql = f"SELECT {_CHUNK_COLUMNS} FROM chunks AS c WHERE c.chunk_row IN ({marks})"
    return {int(row[0]): _chunk(kb, row) for row in conn.execute(sql, tuple(rows))}


def vector_blobs(conn: sqlite3.Connection, index_id: int) -> list[tuple[int, bytes]]:
    sql = "SELECT chunk_row, vector FROM chunks WHERE index_id = ? ORDER BY chunk_row"
    return [(int(row), bytes(blob)) for row, blob in conn.execute(sql, (index_id,))]
