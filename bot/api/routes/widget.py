"""GET /widget.js (the embeddable chat widget) and GET / (a demo help-center page)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from bot.api.edge_deps import SettingsDep
from bot.widget.assets import load_asset, render_demo

router = APIRouter(tags=["widget"])


@router.get(
    "/widget.js",
    response_class=Response,
    responses={
        200: {"content": {"application/javascript": {}}},
        304: {"description": "Not modified (`If-None-Match` matched the ETag)."},
    },
    summary='The chat widget: `<script src=".../widget.js" data-kb="acme" async>`',
)
async def widget_js(request: Request) -> Response:
    asset = load_asset("widget.js")
    headers = {"ETag": asset.etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type="application/javascript; charset=utf-8", headers=headers)


@router.get("/", response_class=HTMLResponse, summary="Demo help-center page with the widget")
async def demo_page(settings: SettingsDep) -> HTMLResponse:
    return HTMLResponse(render_demo(settings.demo_kb, settings.demo_widget_key))
