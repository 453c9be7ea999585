"""The only place that maps supportbot errors to HTTP status codes.

Every error body is `{"error": {"code", "message"}}`; no stack traces leave the process.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from bot.errors import (
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidRequest,
    JobNotFound,
    KnowledgeBaseNotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    RetrievalError,
    SupportbotError,
    Unauthorized,
    UnsupportedUpload,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[SupportbotError], int]] = [
    (KnowledgeBaseNotFound, 404),
    (JobNotFound, 404),
    (Conflict, 409),
    (UnsupportedUpload, 415),
    (InvalidRequest, 400),
    (BackendUnavailable, 503),
    (Overloaded, 503),
    (RetrievalError, 409),
    (ConfigurationError, 500),
    (Unauthorized, 401),
    (Forbidden, 403),
    (RateLimited, 429),
    (PayloadTooLarge, 413),
]


HTTP_ERROR_CODES = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}
"""Starlette's own errors: FastAPI answers 400 for a body it cannot decode (not UTF-8)."""


ROUTABLE_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Starlette's 405 names only the first route that matched the path, and FastAPI has one
    route per method, so `Allow` would miss the others (GET /admin/kbs next to POST).
    """
    routes = request.app.router.routes
    return [
        method
        for method in ROUTABLE_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def status_for(exc: SupportbotError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SupportbotError)
    async def _supportbot(request: Request, exc: SupportbotError) -> JSONResponse:
        status = status_for(exc)
        headers = None
        if isinstance(exc, BackendUnavailable | RateLimited | Overloaded):
            headers = {"Retry-After": str(exc.retry_after_s)}
        if status >= 500:
            log.warning("request failed: %s: %s", exc.code, exc.message)
        metrics = request.app.state.services.metrics
        if metrics is not None and isinstance(exc, BackendUnavailable | RetrievalError):
            metrics.backend_error(exc.code)
        return error_response(status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}"
            for err in exc.errors()
        )
        return error_response(422, "validation_error", f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "unexpected server error; see server logs")
