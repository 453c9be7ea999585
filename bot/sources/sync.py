"""SyncEngine: one sync of a KB from its connected source, with the guarantees peers miss.

    connector.list_documents(state) ──▶ parse each SourceDocument (today's parsers)
          │ complete listing?                 │
          ▼                                   ▼
    Ingestor.apply: embed only what changed; delete what vanished — only if complete

- Incremental: `Unchanged` items and documents whose content hash matches the index
  are neither parsed (the former) nor embedded (both).
- A listing that raises is incomplete: what was fetched is written (the next run does
  not fetch or embed it again), nothing is deleted, the connector state is not saved,
  and the run is recorded as failed with its (redacted) error, which is then raised.
- A complete listing with fewer than `min_listing_ratio` × the last one is refused in
  the same way (`ListingTooSmall`) unless the admin forces it.
- Every run, successful or not, is recorded in the source's history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import (
    Conflict,
    IngestionError,
    ListingTooSmall,
    SourceError,
    SupportbotError,
)
from bot.sources.catalog import connector_type
from bot.sources.connected import ConnectedSource, ConnectedSources, SyncRun
from bot.sources.documents import parse_source_document
from bot.sources.protocol import (
    Connector,
    ConnectorEnv,
    ConnectorState,
    Failed,
    SourceDocument,
    Unchanged,
)
from bot.sources.secrets import SecretStore, redact, resolve_secrets
from ingestion.collect import Collection
from ingestion.ingest import Ingestor
from ingestion.parsing import DocumentParser
from ingestion.report import IngestProgress, IngestReport, ProgressCallback

logger = logging.getLogger(__name__)

LISTING = "listing"
MAX_RECORDED_FAILURES = 50


@dataclass(frozen=True, slots=True)
class SyncParams:
    work_root: Path
    """Each source gets `work_root/<kb>` (a Git clone, caches)."""
    user_agent: str
    timeout_s: float
    min_listing_ratio: float = 0.5


@dataclass
class _Listing:
    collection: Collection = field(default_factory=Collection)
    listed: int = 0
    error: SupportbotError | None = None


class SyncEngine:
    def __init__(
        self,
        ingestor: Ingestor,
        sources: ConnectedSources,
        secrets: SecretStore,
        params: SyncParams,
        environ: Mapping[str, str],
        parser: DocumentParser | None = None,
    ) -> None:
        """`environ`: where secrets given by variable name are looked up (the process's)."""
        self._ingestor = ingestor
        self._sources = sources
        self._secrets = secrets
        self._params = params
        self._environ = environ
        self._parser = parser or DocumentParser()

    def connector_for(self, source: ConnectedSource, secrets: Mapping[str, str]) -> Connector:
        kind = connector_type(source.kind)
        options = kind.options.model_validate(source.options)
        env = ConnectorEnv(
            secrets=dict(secrets),
            work_dir=self._params.work_root / source.kb,
            user_agent=self._params.user_agent,
            timeout_s=self._params.timeout_s,
        )
        return kind.build(options, env)

    async def sync(
        self,
        kb: str,
        *,
        force: bool = False,
        full: bool = False,
        progress: ProgressCallback | None = None,
    ) -> SyncRun:
        """Raise the run's error (after recording it) when the sync did not complete."""
        source = await asyncio.to_thread(self._sources.get, kb)
        if source is None:
            raise Conflict(f"knowledge base {kb!r} has no connected source; add one first")
        started_at, started = time.time(), time.perf_counter()
        secret_values: list[str] = []
        report: IngestReport | None = None
        listing = _Listing()
        state = ConnectorState()
        try:
            secrets = await asyncio.to_thread(
                resolve_secrets, kb, source.secrets, self._secrets, self._environ
            )
            secret_values = list(secrets.values())
            connector = self.connector_for(source, secrets)
            existing = await self._ingestor.indexed_hashes(kb)
            state = await asyncio.to_thread(self._sources.load_state, kb)
            state.indexed, state.full = frozenset(existing), full
            listing = await self._list(connector, state, existing, progress)
            if listing.error is None and not force:
                listing.error = _too_small(
                    kb, listing.listed, source, existing, self._params.min_listing_ratio
                )
            report = await self._ingestor.apply(
                kb, listing.collection, existing, progress=progress,
                delete=listing.error is None, started=started,
            )  # fmt: skip
        except SupportbotError as exc:
            listing.error = exc
        error = listing.error
        if error is not None:
            error.message = redact(error.message, secret_values)
            error.args = (error.message,)
        run = _run(kb, started_at, time.perf_counter() - started, listing, report, error,
                   secret_values, force=force, full=full)  # fmt: skip
        if error is None and report is not None:
            for key in report.failed:
                state.documents.pop(key, None)
            await asyncio.to_thread(
                self._sources.save_success, kb, state, listing.listed, started_at
            )
        else:
            await asyncio.to_thread(self._sources.mark_attempt, kb, started_at)
        run = await asyncio.to_thread(self._sources.record, run)
        if error is not None:
            logger.warning("sync of %s failed: %s: %s", kb, error.code, error.message)
            raise error
        return run

    async def _list(
        self,
        connector: Connector,
        state: ConnectorState,
        existing: Mapping[str, str],
        progress: ProgressCallback | None,
    ) -> _Listing:
        listing = _Listing()
        collection = listing.collection
        seen: set[str] = set()
        try:
            async for item in connector.list_documents(state):
                if item.key in seen:
                    continue  # the first occurrence stands
                seen.add(item.key)
                listing.listed += 1
                if isinstance(item, SourceDocument):
                    await self._parse(item, collection)
                elif isinstance(item, Unchanged):
                    if item.key in existing:
                        collection.kept.add(item.key)
                    else:
                        collection.failed[item.key] = (
                            "the source reported it unchanged but it is not indexed; "
                            "run a full sync (--full)"
                        )
                elif isinstance(item, Failed):
                    collection.failed[item.key] = item.reason
                if progress is not None:
                    progress(IngestProgress(LISTING, listing.listed, 0, item.key))
        except SourceError as exc:
            listing.error = exc
        except Exception as exc:  # a connector bug must not turn into deletes
            logger.exception("connector %s crashed while listing", connector.kind)
            listing.error = SourceError(
                f"the {connector.kind} connector failed: {type(exc).__name__}: {exc}"
            )
        return listing

    async def _parse(self, doc: SourceDocument, collection: Collection) -> None:
        try:
            parsed = await asyncio.to_thread(parse_source_document, doc, self._parser)
        except IngestionError as exc:
            collection.failed[doc.key] = exc.message
            return
        collection.documents.append(parsed)


def _too_small(
    kb: str, listed: int, source: ConnectedSource, existing: Mapping[str, str], ratio: float
) -> ListingTooSmall | None:
    baseline = source.last_listed if source.last_listed is not None else len(existing)
    if baseline and listed < ratio * baseline:
        return ListingTooSmall(
            f"the source listed {listed} documents, under {ratio:.0%} of the {baseline} of "
            f"the last sync of {kb!r}; nothing was deleted. If the source really shrank, "
            "sync again with --force (API: force=true)"
        )
    return None


def _run(
    kb: str,
    started_at: float,
    seconds: float,
    listing: _Listing,
    report: IngestReport | None,
    error: SupportbotError | None,
    secret_values: list[str],
    *,
    force: bool,
    full: bool,
) -> SyncRun:
    failures = dict(listing.collection.failed)
    if report is not None:
        failures.update(report.failed)
    counts = {
        "listed": listing.listed,
        "new": len(report.new) if report else 0,
        "updated": len(report.updated) if report else 0,
        "unchanged": len(report.unchanged) if report else 0,
        "deleted": len(report.deleted) if report else 0,
        "failed": len(failures),
        "chunks_written": report.chunks if report else 0,
    }
    return SyncRun(
        kb=kb,
        started_at=started_at,
        seconds=round(seconds, 3),
        status="succeeded" if error is None else "failed",
        counts=counts,
        failures={
            key: redact(why, secret_values)
            for key, why in sorted(failures.items())[:MAX_RECORDED_FAILURES]
        },
        error=None if error is None else f"{error.code}: {error.message}",
        forced=force,
        full=full,
    )
