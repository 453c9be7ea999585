"""The widget's static files, read from this package on first use and kept in memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str


@cache
def load_asset(name: str) -> Asset:
    """`widget.js` or `demo.html`; the ETag is a hash of the content."""
    body = resources.files("bot.widget").joinpath(name).read_bytes()
    return Asset(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def render_demo(kb: str, widget_key: str | None) -> bytes:
    """The demo page with its script tag pointed at `kb` (and the public key, if any)."""
    page = load_asset("demo.html").body.decode("utf-8")
    key_attribute = f' data-key="{_attr(widget_key)}"' if widget_key else ""
    return page.replace("{{KB}}", _attr(kb)).replace("{{KEY_ATTRIBUTE}}", key_attribute).encode()


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )
