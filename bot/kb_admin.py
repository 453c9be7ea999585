"""KnowledgeBaseAdmin: the admin operations behind both /admin and `supportbot kb`.

Create, inspect and delete knowledge bases; give a KB its content (uploads merged into
`data_dir/uploads/<kb>/`, or a registered server folder); queue ingest, re-index and
delete jobs on whichever job runner the services were built with.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.domain import KbStats
from bot.errors import Conflict, InvalidRequest, KnowledgeBaseNotFound
from bot.jobs.protocol import JobSpec, JobState
from bot.services import Services
from bot.sources.folders import resolve_source_folder
from bot.sources.registry import KbSource
from bot.sources.upload_checks import UploadLimits
from bot.sources.uploads import IncomingFile, StoredUpload, store_upload


@dataclass(frozen=True, slots=True)
class KbOverview:
    stats: KbStats
    source: KbSource | None
    jobs: list[JobState]


class KnowledgeBaseAdmin:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._backend = services.backend
        self._sources = services.sources
        self._jobs = services.jobs

    # -- knowledge bases ----------------------------------------------------------------
    async def create(self, kb: str) -> KbOverview:
        if kb in await self._backend.list_kbs():
            raise Conflict(f"knowledge base {kb!r} already exists")
        info = await asyncio.to_thread(self._services.embedder.index_info)
        await self._backend.ensure_kb(kb, info)
        return await self.overview(kb)

    async def overview(self, kb: str, *, jobs: int = 5) -> KbOverview:
        stats = await self._backend.stats(kb)
        source = await asyncio.to_thread(self._sources.get, kb)
        recent = await self._jobs.list(kb=kb, limit=jobs) if jobs else []
        return KbOverview(stats, source, recent)

    async def list(self) -> list[KbOverview]:
        return [await self.overview(kb, jobs=0) for kb in await self._backend.list_kbs()]

    async def documents(self, kb: str) -> dict[str, str]:
        return await self._backend.document_hashes(kb)

    async def delete(self, kb: str) -> None:
        """Cancel its jobs, drop its index, forget its source, remove its uploaded files."""
        source = await asyncio.to_thread(self._sources.get, kb)
        if kb not in await self._backend.list_kbs() and source is None:
            raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist")
        for job in await self._jobs.list(kb=kb, limit=100):
            if not job.finished:
                await self._jobs.cancel(job.id)
        await self._backend.delete_kb(kb)
        await asyncio.to_thread(self._sources.remove, kb)
        await asyncio.to_thread(shutil.rmtree, self.upload_folder(kb), True)

    # -- content ------------------------------------------------------------------------
    async def upload(
        self, kb: str, files: Sequence[IncomingFile], base_url: str | None = None
    ) -> tuple[StoredUpload, JobState]:
        """Store the files (all or nothing) in the KB's upload folder, then queue an ingest."""
        await self._require_kb(kb)
        source = await asyncio.to_thread(self._sources.get, kb)
        if source is not None and source.kind == "folder":
            raise Conflict(
                f"knowledge base {kb!r} mirrors the server folder {source.path}; add files "
                "there (it is re-synced), or delete and re-create the KB to use uploads"
            )
        folder = self.upload_folder(kb)
        limits = UploadLimits.from_settings(self._services.settings)
        stored = await asyncio.to_thread(store_upload, files, folder, limits)
        base_url = base_url or (source.base_url if source else None)
        await asyncio.to_thread(self._sources.register, kb, "upload", folder, base_url=base_url)
        job = await self._jobs.submit(JobSpec("ingest", kb, path=str(folder), base_url=base_url))
        return stored, job

    async def register_folder(
        self,
        kb: str,
        path: str,
        *,
        base_url: str | None = None,
        resync: bool = True,
        ingest: bool = True,
        anywhere: bool = False,
    ) -> tuple[KbSource, JobState | None]:
        """`anywhere` skips the SOURCES_ROOT fence (the CLI, run by the operator)."""
        await self._require_kb(kb)
        if anywhere:
            folder = Path(path).resolve()
            if not folder.is_dir():
                raise InvalidRequest(f"{path!r} is not a folder")
        else:
            folder = resolve_source_folder(path, self._services.settings.sources_root)
        existing = await asyncio.to_thread(self._sources.get, kb)
        if existing is not None and existing.kind == "upload":
            raise Conflict(
                f"knowledge base {kb!r} holds uploaded files; delete and re-create it to "
                "switch to a server folder"
            )
        source = await asyncio.to_thread(
            self._sources.register, kb, "folder", folder, base_url=base_url, resync=resync
        )
        job = await self._jobs.submit(_ingest_spec(source)) if ingest else None
        return source, job

    # -- jobs ---------------------------------------------------------------------------
    async def ingest(self, kb: str) -> JobState:
        return await self._jobs.submit(_ingest_spec(await self._require_source(kb)))

    async def reindex(self, kb: str) -> JobState:
        await self._require_source(kb)
        return await self._jobs.submit(JobSpec("reindex", kb))

    async def delete_documents(self, kb: str, source_ids: Sequence[str]) -> JobState:
        await self._require_kb(kb)
        return await self._jobs.submit(
            JobSpec("delete_documents", kb, source_ids=tuple(source_ids))
        )

    # -- helpers ------------------------------------------------------------------------
    def upload_folder(self, kb: str) -> Path:
        return self._services.settings.data_dir / "uploads" / kb

    async def _require_kb(self, kb: str) -> None:
        if kb not in await self._backend.list_kbs():
            raise KnowledgeBaseNotFound(
                f"knowledge base {kb!r} does not exist; create it first "
                "(POST /admin/kbs or `supportbot kb create`)"
            )

    async def _require_source(self, kb: str) -> KbSource:
        await self._require_kb(kb)
        source = await asyncio.to_thread(self._sources.get, kb)
        if source is None:
            raise Conflict(
                f"knowledge base {kb!r} has no registered source to read from; upload files "
                "or register a server folder first"
            )
        return source


def _ingest_spec(source: KbSource) -> JobSpec:
    return JobSpec("ingest", source.kb, path=str(source.path), base_url=source.base_url)
