"""Translate the elasticsearch client's errors into supportbot's, at the adapter's edge.

connection refused / reset, TLS, timeouts      → BackendUnavailable (API: 503 + Retry-After)
HTTP 429, 502, 503, 504 (overload, no shards)  → BackendUnavailable
a write block (disk past flood stage, ...)     → IndexReadOnly (a BackendUnavailable)
HTTP 404 on a KB's alias                       → KnowledgeBaseNotFound
any other refusal (400 bad mapping, ...)       → RetrievalError
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from elasticsearch import ApiError, ConnectionTimeout, TransportError

from bot.errors import (
    BackendBlocked,
    BackendUnavailable,
    KnowledgeBaseNotFound,
    RetrievalError,
)

UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})
RETRY_AFTER_DOWN_S = 5
RETRY_AFTER_BUSY_S = 2
RETRY_AFTER_READ_ONLY_S = 30
"""Freeing disk takes an operator minutes, not seconds."""


class IndexMappingOutdated(RetrievalError):
    """The KB's index was built with another mapping version; it serves, but takes no writes."""

    code = "index_mapping_outdated"


class IndexReadOnly(BackendBlocked):
    """The index takes no writes (a cluster block); searches are still answered."""

    code = "index_read_only"


class WritesBlocked(Exception):
    """A bulk item refused by a cluster block; `translated` turns it into `IndexReadOnly`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


BLOCK_TYPE = "cluster_block_exception"
FLOOD_STAGE_HINT = "flood-stage"


def index_read_only(url: str, action: str, reason: str) -> IndexReadOnly:
    """The write block explained, with what the operator does about it."""
    if FLOOD_STAGE_HINT in reason:
        cause = (
            "the disk of an Elasticsearch data node is past its flood-stage watermark, so "
            "Elasticsearch made the index read-only. Free disk space on the Elasticsearch "
            "nodes (delete unused indices, grow the volume) or add nodes; Elasticsearch lifts "
            "the block itself once disk use falls below the high watermark"
        )
    else:
        cause = (
            "the index carries a write block. Remove it once its cause is dealt with "
            "(PUT /<index>/_settings with the index.blocks.* setting named above set to null)"
        )
    return IndexReadOnly(
        f"Elasticsearch at {url} refused {action}: {reason}. {cause}; then run the job "
        "again. Searches are still answered from the index as it is",
        retry_after_s=RETRY_AFTER_READ_ONLY_S,
    )


def error_reason(exc: ApiError) -> str:
    """`type: reason` of an Elasticsearch error body, however it is nested."""
    body: Any = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            root = (error.get("root_cause") or [error])[0]
            return f"{root.get('type', 'error')}: {root.get('reason', '')}".strip()
        if error:
            return str(error)
    return str(exc.message)


def error_type(exc: ApiError) -> str:
    body: Any = exc.body
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


@asynccontextmanager
async def translated(url: str, action: str, *, kb: str | None = None) -> AsyncIterator[None]:
    """Run one Elasticsearch call; re-raise its failure as our own error with a way out."""
    try:
        yield
    except WritesBlocked as exc:
        raise index_read_only(url, action, exc.reason) from exc
    except ConnectionTimeout as exc:
        raise BackendUnavailable(
            f"Elasticsearch at {url} did not answer {action} in time; it is overloaded or "
            "stuck. Retry shortly, or raise SUPPORTBOT_ELASTICSEARCH_TIMEOUT_S",
            retry_after_s=RETRY_AFTER_BUSY_S,
        ) from exc
    except ApiError as exc:
        raise api_error(url, action, exc, kb=kb) from exc
    except TransportError as exc:
        raise BackendUnavailable(
            f"Elasticsearch at {url} is unreachable ({exc.message}) during {action}; start it"
            " (make elasticsearch) or check SUPPORTBOT_ELASTICSEARCH_URL",
            retry_after_s=RETRY_AFTER_DOWN_S,
        ) from exc


def api_error(url: str, action: str, exc: ApiError, *, kb: str | None) -> Exception:
    status = exc.status_code
    if error_type(exc) == BLOCK_TYPE:
        return index_read_only(url, action, error_reason(exc))
    if status in UNAVAILABLE_STATUSES:
        return BackendUnavailable(
            f"Elasticsearch at {url} cannot serve {action} right now (HTTP {status}, "
            f"{error_reason(exc)}); retry shortly",
            retry_after_s=RETRY_AFTER_BUSY_S if status == 429 else RETRY_AFTER_DOWN_S,
        )
    if status == 404 and kb is not None and error_type(exc) == "index_not_found_exception":
        return KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist; ingest it first")
    return RetrievalError(f"Elasticsearch refused {action} (HTTP {status}): {error_reason(exc)}")
