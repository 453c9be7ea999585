"""BodySizeLimitMiddleware: refuse oversized request bodies before anything parses them.

JSON and form bodies are capped at `max_body_bytes`; uploads (multipart, zip, octet-stream)
at `upload_max_bytes`, which the upload endpoints check in more detail. A declared
Content-Length over the cap is refused at once; a chunked JSON body is read here (it is
small) and refused as soon as it passes the cap; a chunked upload is counted as it streams.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.errors import error_response
from bot.errors import PayloadTooLarge

UPLOAD_TYPES = ("multipart/form-data", "application/zip", "application/octet-stream")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server enforces Content-Length framing
            return
        if _is_upload(scope):
            await self.app(scope, _counting(receive, limit), send)
            return
        # A chunked JSON body is small: read it here, so an oversized one gets a clean 413.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self.app(scope, replay(b"".join(chunks), receive), send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app a body already read, then defers to the real one."""
    sent = False

    async def replaying_receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying_receive


def _counting(receive: Receive, limit: int) -> Receive:
    """Uploads stream through; past the limit, reading the body raises PayloadTooLarge."""
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(_message(limit))
        return message

    return counting_receive


def _is_upload(scope: Scope) -> bool:
    return (_header(scope, b"content-type") or "").lower().startswith(UPLOAD_TYPES)


def _limit_for(scope: Scope) -> int:
    settings = scope["app"].state.services.settings
    if _is_upload(scope):
        return int(getattr(settings, "upload_max_bytes", settings.max_body_bytes))
    return int(settings.max_body_bytes)


def _message(limit: int) -> str:
    return f"the request body is over the {limit // 1024} KiB limit; send less"


def _too_large(limit: int) -> JSONResponse:
    return error_response(413, PayloadTooLarge.code, _message(limit))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
