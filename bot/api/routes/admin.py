"""/admin/kbs: create, inspect and delete knowledge bases; add content; queue re-indexes.

Content reaches a KB from one source (see `bot.sources.registry`): uploads, merged into
the KB's upload folder, or a registered server folder. Adding content queues an ingest
job; `reindex` queues a zero-downtime rebuild. Both answer 202 with the job to follow at
GET /admin/jobs/{id}. The work itself is `bot.kb_admin.KnowledgeBaseAdmin`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.datastructures import UploadFile

from bot.api.admin_auth import require_admin_key
from bot.api.admin_schemas import (
    ConnectedSourceOut,
    CreateKbRequest,
    DeleteDocumentsRequest,
    DocumentList,
    DocumentOut,
    JobAccepted,
    JobOut,
    KbDetail,
    RegisterFolderRequest,
    SourceOut,
    SourceRegistered,
    SourceRequest,
    UploadAccepted,
)
from bot.api.deps import get_services
from bot.api.responses import ADMIN, BODY, errors
from bot.api.routes import admin_insights, admin_jobs
from bot.api.schemas import KB_PATTERN
from bot.errors import InvalidRequest, PayloadTooLarge
from bot.kb_admin import KnowledgeBaseAdmin, SecretInput
from bot.sources.upload_checks import ACCEPTED, MB, UploadLimits
from bot.sources.uploads import IncomingFile

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin_key)],
    responses={**ADMIN, **errors(422, 503)},
)
router.include_router(admin_jobs.router)
router.include_router(admin_insights.router)


def get_admin(request: Request) -> KnowledgeBaseAdmin:
    return KnowledgeBaseAdmin(get_services(request))


AdminOps = Annotated[KnowledgeBaseAdmin, Depends(get_admin)]
KbPath = Annotated[str, Path(pattern=KB_PATTERN, description="Knowledge base name.")]
MULTIPART_OVERHEAD_BYTES = 1 * MB
"""Room for boundaries and part headers on top of the files themselves."""
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "binary"},
                            "description": f"Articles ({ACCEPTED}) or .zip archives of them, "
                            "each named by its path in the help center.",
                        },
                        "base_url": {"type": "string", "description": "Article URL prefix."},
                    },
                },
                "encoding": {
                    "files": {
                        "contentType": "text/markdown, text/html, text/plain, application/zip"
                    }
                },
            }
        },
    }
}
"""Read by hand (streamed, size-checked before parsing), so documented here."""
NOT_FOUND = errors(404)
CONFLICT = errors(404, 409)


@router.post(
    "/kbs",
    status_code=201,
    response_model=KbDetail,
    responses={**CONFLICT, **BODY},
    summary="Create a KB",
)
async def create_kb(body: CreateKbRequest, admin: AdminOps) -> KbDetail:
    return KbDetail.from_overview(await admin.create(body.kb))


@router.get("/kbs", response_model=list[KbDetail], summary="List knowledge bases")
async def list_kbs(admin: AdminOps) -> list[KbDetail]:
    return [KbDetail.from_overview(overview) for overview in await admin.list()]


@router.get(
    "/kbs/{kb}",
    response_model=KbDetail,
    responses=NOT_FOUND,
    summary="Documents, chunks, last indexed, index version, source and latest jobs",
)
async def inspect_kb(kb: KbPath, admin: AdminOps) -> KbDetail:
    return KbDetail.from_overview(await admin.overview(kb))


@router.get(
    "/kbs/{kb}/documents", response_model=DocumentList, responses=NOT_FOUND, summary="Documents"
)
async def list_documents(
    kb: KbPath,
    admin: AdminOps,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DocumentList:
    hashes = await admin.documents(kb)
    page = sorted(hashes.items())[offset : offset + limit]
    documents = [DocumentOut(source_id=s, doc_hash=h) for s, h in page]
    return DocumentList(kb=kb, total=len(hashes), documents=documents)


@router.delete(
    "/kbs/{kb}", status_code=204, responses=NOT_FOUND, summary="Delete a KB and its content"
)
async def delete_kb(kb: KbPath, admin: AdminOps) -> Response:
    await admin.delete(kb)
    return Response(status_code=204)


@router.post(
    "/kbs/{kb}/uploads",
    status_code=202,
    response_model=UploadAccepted,
    summary="Upload articles or a .zip, then ingest them",
    description=f"multipart/form-data with one or more `files` ({ACCEPTED}) and an optional "
    "`base_url`. Files are merged into the KB's upload folder (same path = replaced); "
    "nothing is stored unless every file passes the checks.",
    responses={**CONFLICT, **BODY, **errors(415)},
    openapi_extra=UPLOAD_BODY,
)
async def upload(kb: KbPath, request: Request, admin: AdminOps) -> UploadAccepted:
    limits = UploadLimits.from_settings(get_services(request).settings)
    _check_declared_length(request, limits)
    form = await request.form(max_files=limits.max_files, max_fields=20)
    try:
        parts = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        incoming = [IncomingFile(p.filename or "", p.content_type, p.file) for p in parts]
        base_url = form.get("base_url")
        stored, job = await admin.upload(
            kb, incoming, base_url.strip() or None if isinstance(base_url, str) else None
        )
    finally:
        await form.close()
    return UploadAccepted(stored=stored.stored, skipped=stored.skipped, job=JobOut.from_state(job))


@router.put(
    "/kbs/{kb}/source",
    status_code=202,
    response_model=SourceRegistered,
    responses={**CONFLICT, **BODY},
    summary="Set the KB's source: a server folder or a connected source (git, website, ...)",
    description='A folder: `{"path": ...}` (under SOURCES_ROOT). A connected source: '
    '`{"type": "git", "options": {...}, "secrets": {"token": {"env": '
    '"DOCS_TOKEN"}}, "interval_s": 3600}`; secret values are stored outside the index '
    "(mode 0600) and never returned.",
)
async def set_source(kb: KbPath, body: SourceRequest, admin: AdminOps) -> SourceRegistered:
    if isinstance(body, RegisterFolderRequest):
        source, job = await admin.register_folder(
            kb, body.path, base_url=body.base_url, resync=body.resync, ingest=body.ingest
        )
        shown: SourceOut | ConnectedSourceOut = SourceOut.from_source(source)
    else:
        secrets = {
            name: SecretInput(
                value=given.value.get_secret_value() if given.value else None, env=given.env
            )
            for name, given in body.secrets.items()
        }
        connected, job = await admin.connect_source(
            kb, body.type, body.options, secrets, interval_s=body.interval_s, ingest=body.ingest
        )
        shown = ConnectedSourceOut.from_source(connected)
    return SourceRegistered(source=shown, job=JobOut.from_state(job) if job else None)


@router.post(
    "/kbs/{kb}/ingest",
    status_code=202,
    response_model=JobAccepted,
    responses=CONFLICT,
    summary="Sync now: queue an incremental ingest of the KB's source",
)
async def ingest(
    kb: KbPath,
    admin: AdminOps,
    force: Annotated[bool, Query(description="Accept a listing far smaller than the last.")] = (
        False
    ),
    full: Annotated[bool, Query(description="Ignore cursors and ETags; fetch everything.")] = (
        False
    ),
) -> JobAccepted:
    return JobAccepted(job=JobOut.from_state(await admin.ingest(kb, force=force, full=full)))


@router.post(
    "/kbs/{kb}/reindex",
    status_code=202,
    response_model=JobAccepted,
    responses=CONFLICT,
    summary="Queue a zero-downtime re-index (the old index serves until the swap)",
)
async def reindex(kb: KbPath, admin: AdminOps) -> JobAccepted:
    return JobAccepted(job=JobOut.from_state(await admin.reindex(kb)))


@router.post(
    "/kbs/{kb}/documents/delete",
    status_code=202,
    response_model=JobAccepted,
    responses={**NOT_FOUND, **BODY},
    summary="Queue the removal of documents (and of their uploaded files)",
)
async def delete_documents(
    kb: KbPath, body: DeleteDocumentsRequest, admin: AdminOps
) -> JobAccepted:
    return JobAccepted(job=JobOut.from_state(await admin.delete_documents(kb, body.source_ids)))


def _check_declared_length(request: Request, limits: UploadLimits) -> None:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest(
            f"send the files as multipart/form-data ({ACCEPTED}), not {content_type!r}"
        )
    declared = request.headers.get("content-length")
    too_big = limits.max_bytes + MULTIPART_OVERHEAD_BYTES
    if declared is not None and declared.isdigit() and int(declared) > too_big:
        raise PayloadTooLarge(
            f"the upload is {int(declared) // MB} MB; the limit is {limits.max_bytes // MB} MB"
        )
