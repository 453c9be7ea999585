"""Full rebuilds of an embedded KB: a staging index, a verified swap, abort, crash cleanup.

Readers keep the live index until `commit` flips the staging one to live and drops the
old one, all in one transaction. Only one rebuild per KB is staged at a time: beginning
a new one drops an earlier unfinished one (typically left by a crashed worker).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence

from bot.domain import DocumentChunks, IndexInfo, KbStats, WriteReport
from bot.errors import IngestionError, InvalidRequest
from bot.retrieval.embedded import index as ix
from bot.retrieval.embedded.sqlite_db import SqliteDatabase
from bot.retrieval.embedded.writes import write_documents, write_target

logger = logging.getLogger(__name__)


def begin_rebuild(db: SqliteDatabase, kb: str, info: IndexInfo) -> int:
    """Create the KB if needed and a fresh staging index for it; returns the staging id."""
    if not kb:
        raise InvalidRequest("a knowledge base needs a non-empty name")
    with db.write() as conn:
        if ix.live_index(conn, kb) is None:
            ix.create_index(conn, kb, info, "live")
        for earlier in ix.staging_ids(conn, kb):
            logger.warning("dropping unfinished rebuild %d of KB %s", earlier, kb)
            ix.drop_index(conn, earlier)
        return ix.create_index(conn, kb, info, "staging").index_id


def commit_rebuild(
    db: SqliteDatabase, kb: str, staging_id: int, expected_documents: int
) -> KbStats:
    """Swap the staging index in if it holds exactly the documents this build wrote."""
    with db.write() as conn:
        staging = write_target(conn, kb, staging_id)
        documents, chunks = ix.counts(conn, staging_id)
        if documents == 0:
            raise IngestionError(
                f"the rebuild of KB {kb!r} holds no documents; refusing to replace the served "
                "index with an empty one. Abort it, or use delete_kb to empty the KB"
            )
        if documents != expected_documents:
            raise IngestionError(
                f"the rebuild of KB {kb!r} holds {documents} documents but {expected_documents}"
                " were written; the previous index keeps serving. Abort and rebuild again"
            )
        live = ix.live_index(conn, kb)
        if live is not None:
            ix.drop_index(conn, live.index_id)
        conn.execute("UPDATE indexes SET state = 'live' WHERE index_id = ?", (staging_id,))
        ix.mark_written(conn, staging_id)
        swapped = ix.require_live(conn, kb)
    logger.info("rebuilt KB %s: %d documents, %d chunks", kb, documents, chunks)
    return KbStats(kb, documents, chunks, staging.info, swapped.last_indexed)


def abort_rebuild(db: SqliteDatabase, staging_id: int) -> None:
    with db.write() as conn:
        staging = ix.index_by_id(conn, staging_id)
        if staging is not None and staging.state == "staging":
            ix.drop_index(conn, staging_id)


def drop_abandoned(conn: sqlite3.Connection, idle_s: float) -> None:
    """Drop staging idle for `idle_s` (its process died) and FTS tables left without an index."""
    for index_id in ix.staging_ids(conn, idle_s=idle_s):
        logger.warning("dropping abandoned rebuild %d", index_id)
        ix.drop_index(conn, index_id)
    for table in ix.orphan_fts_tables(conn):
        conn.execute(f"DROP TABLE IF EXISTS {table}")


class EmbeddedIndexBuild:
    """One rebuild of one KB (the `IndexBuild` protocol); readers see the old index until commit."""

    def __init__(self, db: SqliteDatabase, kb: str, staging_id: int) -> None:
        self._db = db
        self._kb = kb
        self._staging_id = staging_id
        self._written: set[str] = set()
        self._finished: str | None = None

    async def write(self, documents: Sequence[DocumentChunks]) -> WriteReport:
        self._check_open()
        report = await asyncio.to_thread(
            write_documents, self._db, self._kb, documents, self._staging_id
        )
        self._written.update(report.written)
        return report

    async def commit(self) -> KbStats:
        self._check_open()
        stats = await asyncio.to_thread(
            commit_rebuild, self._db, self._kb, self._staging_id, len(self._written)
        )
        self._finished = "committed"
        return stats

    async def abort(self) -> None:
        """Drop the staging index; a no-op once committed or aborted."""
        if self._finished is None:
            await asyncio.to_thread(abort_rebuild, self._db, self._staging_id)
            self._finished = "aborted"

    def _check_open(self) -> None:
        if self._finished is not None:
            raise IngestionError(f"this rebuild of KB {self._kb!r} was already {self._finished}")
