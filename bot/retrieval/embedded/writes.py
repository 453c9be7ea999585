"""Writing documents into an embedded index (live or a rebuild's staging), one at a time.

Each document is validated and replaced in its own transaction, so one bad document
(a vector of the wrong dimension, a chunk of another KB) fails alone and leaves its
previously indexed version untouched.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from bot.domain import DocumentChunks, WriteReport
from bot.errors import BackendUnavailable, IngestionError, RetrievalError
from bot.retrieval.embedded import index as ix
from bot.retrieval.embedded.sqlite_db import SqliteDatabase
from bot.retrieval.vectors import vector_problem

logger = logging.getLogger(__name__)


class _Rejected(Exception):
    """A document failed validation; its transaction is rolled back."""


def document_problem(kb: str, document: DocumentChunks, dimension: int) -> str | None:
    """Why `document` cannot be indexed into `kb`, or None when it can."""
    if not document.source_id:
        return "document has an empty source_id"
    ordinals: set[int] = set()
    for embedded in document.chunks:
        chunk = embedded.chunk
        where = f"chunk #{chunk.ordinal}"
        if chunk.kb != kb:
            return f"{where} belongs to KB {chunk.kb!r}, not {kb!r}"
        if chunk.source_id != document.source_id:
            return f"{where} belongs to document {chunk.source_id!r}"
        if chunk.ordinal in ordinals:
            return f"{where} appears twice"
        ordinals.add(chunk.ordinal)
        problem = vector_problem(embedded.vector, dimension)
        if problem is not None:
            return f"{where}: {problem}"
    return None


def write_documents(
    db: SqliteDatabase, kb: str, documents: Sequence[DocumentChunks], staging_id: int | None
) -> WriteReport:
    """Replace each document in its own transaction, in the live or a staging index."""
    written: list[str] = []
    failed: dict[str, str] = {}
    for position, document in enumerate(documents):
        try:
            with db.write() as conn:
                index = write_target(conn, kb, staging_id)
                problem = document_problem(kb, document, index.info.dimension)
                if problem is not None:
                    raise _Rejected(problem)
                ix.replace_document(conn, index, document)
                ix.mark_written(conn, index.index_id)
        except _Rejected as exc:
            failed[document.source_id] = str(exc)
        except BackendUnavailable as exc:
            # The database is down or locked: the rest would wait and fail the same way.
            for rest in documents[position:]:
                failed[rest.source_id] = exc.message
            break
        except RetrievalError as exc:
            failed[document.source_id] = exc.message
        else:
            written.append(document.source_id)
    if failed:
        logger.warning("%d of %d documents not indexed in KB %s", len(failed), len(documents), kb)
    return WriteReport(written=tuple(written), failed=failed)


def write_target(conn: sqlite3.Connection, kb: str, staging_id: int | None) -> ix.IndexRow:
    """The KB's live index, or the staging index of a rebuild that is still open."""
    if staging_id is None:
        return ix.require_live(conn, kb)
    staging = ix.index_by_id(conn, staging_id)
    if staging is None or staging.state != "staging":
        raise IngestionError(
            f"the rebuild of KB {kb!r} is no longer staged (a newer rebuild replaced it, "
            "or it was aborted or committed); start a new rebuild"
        )
    return staging


def delete_documents(db: SqliteDatabase, kb: str, source_ids: Sequence[str]) -> int:
    with db.write() as conn:
        live = ix.require_live(conn, kb)
        deleted = ix.delete_documents(conn, live, source_ids)
        if deleted:
            ix.mark_written(conn, live.index_id)
        return deleted
