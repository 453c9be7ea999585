"""Local servers that play the help-center side of Zendesk Guide, Intercom and Freshdesk.

Each follows its vendor's documented list endpoints (paths, JSON shapes, pagination,
authentication, error bodies) over content a test builds in the vendor's own JSON shape
and may edit between syncs. Common to all: requests are recorded, wrong credentials get
the vendor's 401, and failures can be scripted (`fail(...)`: the next requests answer a
status, optionally after some succeed, e.g. a 500 storm mid-listing or a 429 with
`Retry-After`).

- Zendesk: `GET /api/v2/help_center/{locale}/{categories|sections|articles}.json`, cursor
  pagination (`page[size]`, `page[after]`; `meta.has_more`, `meta.after_cursor`,
  `links.next`), Basic `{email}/token:{token}` or `Bearer {oauth}`.
- Intercom: `GET /articles` and `GET /help_center/collections`, `page`/`per_page` with
  `pages.total_pages`, `Bearer {token}`.
- Freshdesk: `GET /api/v2/solutions/categories[/{lang}]`, `.../categories/{id}/folders`,
  `.../folders/{id}/subfolders`, `.../folders/{id}/articles`, `page`/`per_page` with a
  `Link: <...>; rel="next"` header, Basic `{api_key}:X`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.threaded_http import ThreadedHttpServer


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class ArticlesApiStub(ThreadedHttpServer):
    """Base: serving thread, request log, scripted failures; vendors implement `route`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.on_request: Callable[[Request], None] | None = None
        """Called before each request is answered: content edited mid-listing."""
        self._script: list[tuple[int, dict[str, str]]] = []
        self._let_through = 0
        self._lock = threading.Lock()

    def fail(
        self, status: int, times: int, *, after: int = 0, retry_after: str | None = None
    ) -> None:
        """Answer `status` to `times` requests, once `after` more requests have succeeded."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._let_through = after
            self._script = [(status, headers)] * times

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def _serve(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                if self._let_through > 0:
                    self._let_through -= 1
                else:
                    status, headers = self._script.pop(0)
                    return Reply(status, {"error": "scripted failure"}, headers)
        if self.on_request is not None:
            self.on_request(request)
        if not self.authorized(request.headers.get("authorization", "")):
            return self.unauthorized()
        return self.route(request)

    # --- vendors ---------------------------------------------------------------------
    def authorized(self, authorization: str) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> Reply:
        raise NotImplementedError

    def route(self, request: Request) -> Reply:
        raise NotImplementedError


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _page(items: list[Any], number: int, size: int) -> list[Any]:
    return items[(number - 1) * size : number * size]


class ZendeskGuideStub(ArticlesApiStub):
    """`categories`, `sections` and `articles` hold Help Center JSON objects per locale."""

    _LIST = re.compile(
        r"^/api/v2/help_center/([a-z]{2}(?:-[a-z]{2})?)/(categories|sections|articles)\.json$"
    )

    def __init__(self, *, email: str = "", token: str = "", oauth_token: str = "") -> None:
        super().__init__()
        self.credentials = {_basic(f"{email}/token", token)} if token else set()
        if oauth_token:
            self.credentials.add(f"Bearer {oauth_token}")
        self.categories: dict[str, list[dict[str, Any]]] = {}
        self.sections: dict[str, list[dict[str, Any]]] = {}
        self.articles: dict[str, list[dict[str, Any]]] = {}

    def authorized(self, authorization: str) -> bool:
        return authorization in self.credentials

    def unauthorized(self) -> Reply:
        return Reply(401, {"error": "Couldn't authenticate you"}, {})

    def route(self, request: Request) -> Reply:
        match = self._LIST.match(request.path)
        if match is None:
            return Reply(404, {"error": "InvalidEndpoint", "description": "Not found"}, {})
        locale, collection = match.groups()
        table = getattr(self, collection)
        if locale not in table:
            return Reply(404, {"error": "RecordNotFound", "description": "Not found"}, {})
        items = sorted(table[locale], key=lambda item: item["id"])
        size = min(int(request.query.get("page[size]", "30")), 100)
        after = request.query.get("page[after]")
        start = 0 if after is None else int(base64.b64decode(after)) + 1
        chunk = items[start : start + size]
        more = start + size < len(items)
        cursor = base64.b64encode(str(start + len(chunk) - 1).encode()).decode()
        base = f"{self.url}{request.path}"
        body = {
            collection: chunk,
            "meta": {
                "has_more": more,
                "after_cursor": cursor if more else None,
                "before_cursor": None,
            },
            "links": {
                "first": f"{base}?{urlencode({'page[size]': size})}",
                "last": None,
                "next": f"{base}?{urlencode({'page[size]': size, 'page[after]': cursor})}"
                if more
                else None,
                "prev": None,
            },
        }
        return Reply(200, body, {})


class IntercomStub(ArticlesApiStub):
    """`articles` and `collections` hold Intercom Article and Collection objects."""

    def __init__(self, *, token: str) -> None:
        super().__init__()
        self.token = token
        self.articles: list[dict[str, Any]] = []
        self.collections: list[dict[str, Any]] = []

    def authorized(self, authorization: str) -> bool:
        return authorization == f"Bearer {self.token}"

    def unauthorized(self) -> Reply:
        errors = [{"code": "unauthorized", "message": "Access Token Invalid"}]
        return Reply(401, {"type": "error.list", "request_id": "req-1", "errors": errors}, {})

    def route(self, request: Request) -> Reply:
        items = {"/articles": self.articles, "/help_center/collections": self.collections}.get(
            request.path
        )
        if items is None:
            errors = [{"code": "not_found", "message": "Resource Not Found"}]
            return Reply(404, {"type": "error.list", "errors": errors}, {})
        number = int(request.query.get("page", "1"))
        size = int(request.query.get("per_page", "15"))
        ordered = sorted(items, key=lambda item: -item.get("updated_at", 0))
        total_pages = max(1, -(-len(ordered) // size))
        pages = {"type": "pages", "page": number, "per_page": size, "total_pages": total_pages}
        body = {
            "type": "list",
            "pages": pages,
            "total_count": len(ordered),
            "data": _page(ordered, number, size),
        }
        return Reply(200, body, {})


class FreshdeskStub(ArticlesApiStub):
    """`categories`, `folders` (by category id, or by parent folder id for sub-folders) and
    `articles` (by folder id) hold Solutions API objects; per locale when `translations`."""

    _ROUTES = re.compile(
        r"^/api/v2/solutions/(?:(categories)|categories/(\d+)/(folders)|folders/(\d+)/(subfolders|articles))"
        r"(?:/([a-z]{2}(?:-[A-Za-z]{2})?))?$"
    )

    def __init__(self, *, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.categories: list[dict[str, Any]] = []
        self.folders: dict[int, list[dict[str, Any]]] = {}
        self.subfolders: dict[int, list[dict[str, Any]]] = {}
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self.translated_articles: dict[str, dict[int, list[dict[str, Any]]]] = {}

    def authorized(self, authorization: str) -> bool:
        return authorization == _basic(self.api_key, "X")

    def unauthorized(self) -> Reply:
        return Reply(
            401,
            {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            },
            {},
        )

    def route(self, request: Request) -> Reply:
        match = self._ROUTES.match(request.path)
        if match is None:
            return Reply(404, {"code": "not_found"}, {})
        categories, category_id, _, folder_id, kind, locale = match.groups()
        if categories:
            items = self.categories
        elif category_id:
            items = self.folders.get(int(category_id), [])
        elif kind == "subfolders":
            items = self.subfolders.get(int(folder_id), [])
        else:
            table = self.translated_articles.get(locale, {}) if locale else self.articles
            items = table.get(int(folder_id), [])
        number = int(request.query.get("page", "1"))
        size = min(int(request.query.get("per_page", "30")), 100)
        headers = {}
        if number * size < len(items):
            query = urlencode({"page": number + 1, "per_page": size})
            headers["Link"] = f'<{self.url}{request.path}?{query}>; rel="next"'
        return Reply(200, _page(items, number, size), headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        stub: ArticlesApiStub = self.server.stub  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        headers = {key.lower(): value for key, value in self.headers.items()}
        reply = stub._serve(Request(parts.path, query, headers))
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


ArticlesApiStub.handler = _Handler
