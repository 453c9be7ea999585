"""KnowledgeBaseAdmin: the admin operations behind both /admin and `supportbot kb`.

Create, inspect and delete knowledge bases; give a KB its content (uploads merged into
`data_dir/uploads/<kb>/`, or a registered server folder); queue ingest, re-index and
delete jobs on whichever job runner the services were built with.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from bot.domain import KbStats
from bot.errors import Conflict, InvalidRequest, KnowledgeBaseNotFound
from bot.jobs.protocol import JobSpec, JobState
from bot.services import Services
from bot.sources.catalog import connector_type
from bot.sources.connected import ConnectedSource, SecretRef, SyncRun
from bot.sources.folders import resolve_source_folder
from bot.sources.protocol import ConnectorEnv
from bot.sources.registry import KbSource
from bot.sources.upload_checks import UploadLimits
from bot.sources.uploads import IncomingFile, StoredUpload, store_upload


@dataclass(frozen=True, slots=True)
class KbOverview:
    stats: KbStats
    source: KbSource | None
    jobs: list[JobState]
    connected: ConnectedSource | None = None
    """A Git / website / helpdesk source, synced by the engine (instead of `source`)."""
    history: list[SyncRun] = field(default_factory=list)
    """Its latest syncs, newest first."""


@dataclass(frozen=True, slots=True)
class SecretInput:
    """A credential given as a value (stored with mode 0600) or an environment variable name."""

    value: str | None = None
    env: str | None = None


class KnowledgeBaseAdmin:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._backend = services.backend
        self._sources = services.sources
        self._jobs = services.jobs
        self._connected = services.connected

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
        connected = await asyncio.to_thread(self._connected.get, kb)
        history = await asyncio.to_thread(self._connected.history, kb, 10) if connected else []
        return KbOverview(stats, source, recent, connected, history)

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
        await asyncio.to_thread(self._forget_connected, kb)
        await asyncio.to_thread(shutil.rmtree, self.upload_folder(kb), True)

    # -- content ------------------------------------------------------------------------
    async def upload(
        self, kb: str, files: Sequence[IncomingFile], base_url: str | None = None
    ) -> tuple[StoredUpload, JobState]:
        """Store the files (all or nothing) in the KB's upload folder, then queue an ingest."""
        await self._require_kb(kb)
        if await asyncio.to_thread(self._connected.get, kb) is not None:
            raise Conflict(
                f"knowledge base {kb!r} syncs from a connected source; change its source "
                "(PUT /admin/kbs/{kb}/source) or delete and re-create the KB to use uploads"
            )
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
        await asyncio.to_thread(self._forget_connected, kb)
        job = await self._jobs.submit(_ingest_spec(source)) if ingest else None
        return source, job

    async def connect_source(
        self,
        kb: str,
        kind: str,
        options: Mapping[str, object],
        secrets: Mapping[str, SecretInput],
        *,
        interval_s: int | None = None,
        ingest: bool = True,
    ) -> tuple[ConnectedSource, JobState | None]:
        """Make a Git / website / helpdesk source the KB's source (replacing a folder).

        Options are validated and the connector built before anything is stored; secret
        values go to the secret store, only their names and env-variable names to SQLite.
        Secrets not given again are kept when the source type stays the same.
        """
        await self._require_kb(kb)
        ctype = connector_type(kind)
        try:
            parsed = ctype.options.model_validate(dict(options))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidRequest(f"invalid {kind} source options: {problems}") from exc
        unknown = sorted(set(secrets) - set(ctype.secrets))
        if unknown:
            offered = ", ".join(ctype.secrets) or "none"
            raise InvalidRequest(f"{kind} sources take no secret {unknown}; offered: {offered}")
        existing = await asyncio.to_thread(self._sources.get, kb)
        if existing is not None and existing.kind == "upload":
            raise Conflict(
                f"knowledge base {kb!r} holds uploaded files; delete and re-create it to "
                "sync it from a connected source"
            )
        refs, values = await asyncio.to_thread(self._secret_refs, kb, kind, secrets)
        env = ConnectorEnv(
            secrets=dict.fromkeys(refs, "configured"),
            work_dir=self._services.settings.data_dir / "source-work" / kb,
            user_agent=self._services.settings.source_user_agent,
            timeout_s=self._services.settings.outbound_timeout_s,
        )
        ctype.build(parsed, env)  # raises InvalidRequest for options that cannot work
        await asyncio.to_thread(self._services.secrets.put, kb, values)
        source = await asyncio.to_thread(
            self._connected.put, kb, kind, parsed.model_dump(mode="json"), refs, interval_s
        )
        if existing is not None:
            await asyncio.to_thread(self._sources.remove, kb)
        job = await self._jobs.submit(JobSpec("sync", kb)) if ingest else None
        return source, job

    def _secret_refs(
        self, kb: str, kind: str, secrets: Mapping[str, SecretInput]
    ) -> tuple[dict[str, SecretRef], dict[str, str]]:
        previous = self._connected.get(kb)
        refs: dict[str, SecretRef] = {}
        values: dict[str, str] = {}
        if previous is not None and previous.kind == kind:
            stored = self._services.secrets.get(kb)
            for name, ref in previous.secrets.items():
                if "env" in ref or name in stored:
                    refs[name] = ref
                if name in stored:
                    values[name] = stored[name]
        for name, given in secrets.items():
            if given.env:
                refs[name] = {"env": given.env}
                values.pop(name, None)
            elif given.value:
                refs[name] = {"stored": "yes"}
                values[name] = given.value
            else:
                raise InvalidRequest(f"secret {name!r} needs a value or an environment variable")
        return refs, values

    def _forget_connected(self, kb: str) -> None:
        self._connected.remove(kb)
        self._services.secrets.remove(kb)

    # -- jobs ---------------------------------------------------------------------------
    async def ingest(self, kb: str, *, force: bool = False, full: bool = False) -> JobState:
        """Sync now (connected sources) or an incremental ingest (folders, uploads)."""
        await self._require_kb(kb)
        if await asyncio.to_thread(self._connected.get, kb) is not None:
            return await self._jobs.submit(JobSpec("sync", kb, force=force, full=full))
        return await self._jobs.submit(_ingest_spec(await self._require_source(kb)))

    async def reindex(self, kb: str) -> JobState:
        await self._require_kb(kb)
        if await asyncio.to_thread(self._connected.get, kb) is not None:
            # Re-reads and re-parses everything; documents whose content is unchanged
            # keep their vectors (a fresh-index rebuild of connected sources is not built).
            return await self._jobs.submit(JobSpec("sync", kb, full=True))
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
