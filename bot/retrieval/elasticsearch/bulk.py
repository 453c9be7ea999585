"""Bulk writes and sorted scans against one index, with per-document outcomes.

Writes go through `helpers.async_streaming_bulk`: requests of at most `chunk_size`
actions, items rejected with 429/502/503/504 retried with exponential backoff, every
other item error reported against the document it belongs to. Two failures are not the
documents' and raise instead, for the caller's `translated` block to explain: a lost
connection (the `TransportError` itself) and an index that takes no writes (a cluster
block, e.g. a disk past the flood-stage watermark: `WritesBlocked`). Writes always name an
alias with `require_alias`, so a deleted KB is never silently re-created by a write.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk

from bot.domain import DocumentChunks, WriteReport
from bot.retrieval.elasticsearch.errors import BLOCK_TYPE, WritesBlocked
from bot.retrieval.elasticsearch.mapping import chunk_doc_id, chunk_source
from bot.retrieval.vectors import vector_problem

logger = logging.getLogger(__name__)

RETRY_STATUSES = (429, 502, 503, 504)
SCAN_PAGE = 5_000


@dataclass
class BulkOutcome:
    """Which action ids succeeded, why the others failed."""

    ok: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BulkSettings:
    chunk_size: int = 500
    max_chunk_bytes: int = 20 * 1024 * 1024
    max_retries: int = 4
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 8.0


async def bulk_apply(
    client: AsyncElasticsearch,
    actions: Sequence[dict[str, Any]],
    settings: BulkSettings,
) -> BulkOutcome:
    """Run the actions and report each one's outcome.

    Raises the client's `TransportError` when the connection is lost (which documents
    landed is then unknown, and a rebuild must not be swapped in without them), and
    `WritesBlocked` when the index refuses writes (every further item would fail alike).
    """
    outcome = BulkOutcome()
    if not actions:
        return outcome
    async for ok, result in async_streaming_bulk(
        client,
        actions,
        chunk_size=settings.chunk_size,
        max_chunk_bytes=settings.max_chunk_bytes,
        max_retries=settings.max_retries,
        initial_backoff=settings.initial_backoff_s,
        max_backoff=settings.max_backoff_s,
        retry_on_status=RETRY_STATUSES,
        raise_on_error=False,
        raise_on_exception=False,  # a refused request: per-item errors (connection loss raises)
        require_alias=True,
    ):
        op_type, item = next(iter(result.items()))
        doc_id = str(item.get("_id"))
        if ok or (op_type == "delete" and item.get("status") == 404):
            outcome.ok.add(doc_id)
            continue
        error = item.get("error")
        if isinstance(error, dict) and error.get("type") == BLOCK_TYPE:
            raise WritesBlocked(_item_error(item))
        outcome.errors[doc_id] = _item_error(item)
    return outcome


@dataclass
class DocumentsWritten:
    report: WriteReport
    chunk_ids: dict[str, dict[str, str]]
    """source_id → {chunk id: doc_hash} of every document written completely."""


async def write_documents(
    client: AsyncElasticsearch,
    target: str,
    kb: str,
    documents: Sequence[DocumentChunks],
    *,
    dimension: int,
    previous: dict[str, dict[str, str]],
    settings: BulkSettings,
) -> DocumentsWritten:
    """Replace each document's chunks in `target`; a document that fails keeps its old version.

    `previous` holds the chunk ids (and their doc_hash) already in `target` for these
    documents. New chunks are written first; only a document whose chunks all landed
    then loses its older chunks. A failed document loses the chunks of its new version
    again, so what serves is the old version, whole.
    """
    failed: dict[str, str] = {}
    valid: list[DocumentChunks] = []
    for document in documents:
        problem = document_problem(kb, document, dimension)
        if problem is None:
            valid.append(document)
        else:
            failed[document.source_id] = problem
    written = await bulk_apply(client, index_actions(target, valid), settings)
    complete: dict[str, dict[str, str]] = {}
    stale: dict[str, str] = {}  # chunk id → the document whose replace it belongs to
    for document in valid:
        ids = [chunk_doc_id(item.chunk) for item in document.chunks]
        errors = [written.errors[i] for i in ids if i in written.errors]
        before = previous.get(document.source_id, {})
        if errors:
            more = f" (and {len(errors) - 1} more chunks)" if len(errors) > 1 else ""
            failed[document.source_id] = errors[0] + more
            if document.doc_hash not in before.values():
                stale.update((i, document.source_id) for i in ids if i in written.ok)
        else:
            complete[document.source_id] = dict.fromkeys(ids, document.doc_hash)
            stale.update(
                (i, document.source_id) for i in before if i not in complete[document.source_id]
            )
    removed = await bulk_apply(client, delete_actions(target, stale), settings)
    for chunk_id, reason in removed.errors.items():
        source_id = stale[chunk_id]
        if complete.pop(source_id, None) is not None:
            failed[source_id] = f"old chunks could not be removed: {reason}"
    if failed:
        logger.warning("%d of %d documents not indexed in KB %s", len(failed), len(documents), kb)
    order = [document.source_id for document in documents if document.source_id in complete]
    return DocumentsWritten(WriteReport(written=tuple(order), failed=failed), complete)


def document_problem(kb: str, document: DocumentChunks, dimension: int) -> str | None:
    """Why `document` cannot be indexed into `kb`, or None: checked before anything is sent."""
    if not document.source_id:
        return "document has an empty source_id"
    ordinals: set[int] = set()
    for item in document.chunks:
        chunk, where = item.chunk, f"chunk #{item.chunk.ordinal}"
        if chunk.kb != kb or chunk.source_id != document.source_id:
            return f"{where} belongs to {chunk.kb!r}/{chunk.source_id!r}, not this document"
        if chunk.doc_hash != document.doc_hash:
            return (
                f"{where} has doc_hash {chunk.doc_hash[:12]}, the document {document.doc_hash[:12]}"
            )
        if chunk.ordinal in ordinals:
            return f"{where} appears twice"
        ordinals.add(chunk.ordinal)
        problem = vector_problem(item.vector, dimension)
        if problem is not None:
            return f"{where}: {problem}"
    return None


def index_actions(target: str, documents: Iterable[DocumentChunks]) -> list[dict[str, Any]]:
    indexed_at = datetime.now(UTC).isoformat()
    return [
        {
            "_op_type": "index",
            "_index": target,
            "_id": chunk_doc_id(item.chunk),
            "_source": chunk_source(item.chunk, item.vector, indexed_at),
        }
        for document in documents
        for item in document.chunks
    ]


def delete_actions(target: str, doc_ids: Iterable[str]) -> list[dict[str, Any]]:
    return [{"_op_type": "delete", "_index": target, "_id": doc_id} for doc_id in doc_ids]


async def scan_sorted(
    client: AsyncElasticsearch, index: str, query: dict[str, Any], fields: Sequence[str]
) -> AsyncIterator[dict[str, Any]]:
    """Every matching chunk's `_id` and `fields`, paged with search_after on a unique sort.

    (source_id, doc_hash, ordinal) identifies a chunk, so pages neither skip nor repeat.
    """
    after: list[Any] | None = None
    while True:
        response = await client.search(
            index=index,
            query=query,
            source_includes=list(fields),
            sort=[{"source_id": "asc"}, {"doc_hash": "asc"}, {"ordinal": "asc"}],
            size=SCAN_PAGE,
            search_after=after,
            track_total_hits=False,
        )
        hits = response["hits"]["hits"]
        for hit in hits:
            yield {"_id": hit["_id"], **hit["_source"]}
        if len(hits) < SCAN_PAGE:
            return
        after = hits[-1]["sort"]


async def hash_pairs(client: AsyncElasticsearch, index: str) -> AsyncIterator[tuple[str, str]]:
    """Every distinct (source_id, doc_hash) in the index, paged by a composite aggregation."""
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {
            "size": 1000,
            "sources": [
                {"source_id": {"terms": {"field": "source_id"}}},
                {"doc_hash": {"terms": {"field": "doc_hash"}}},
            ],
        }
        if after is not None:
            composite["after"] = after
        response = await client.search(
            index=index, size=0, aggs={"pairs": {"composite": composite}}
        )
        pairs = response["aggregations"]["pairs"]
        for bucket in pairs["buckets"]:
            yield bucket["key"]["source_id"], bucket["key"]["doc_hash"]
        after = pairs.get("after_key")
        if not pairs["buckets"] or after is None:
            return


def _item_error(item: dict[str, Any]) -> str:
    error = item.get("error")
    if isinstance(error, dict):
        reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            reason += f" ({cause['reason']})"
        return reason
    return f"HTTP {item.get('status')}: {error or 'rejected'}"
