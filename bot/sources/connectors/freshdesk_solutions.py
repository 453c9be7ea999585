"""Freshdesk: published solution articles, walked category → folder (→ sub-folder) → article.

Solutions API v2 (`/api/v2/solutions/categories`, `.../categories/{id}/folders`,
`.../folders/{id}/subfolders`, `.../folders/{id}/articles`), pages of `per_page` items
followed through the `Link: <...>; rel="next"` header. Only `status: 2` (published)
articles are synced; folders visible to fewer than all users (logged-in users, agents,
selected companies) are left out unless `include_restricted`. A locale appends
`/{language}` to each path (Freshdesk's translated listings). The API has no public URL
field, so the citation is the portal's article page, `{portal_url}/support/solutions/articles/{id}`.

Why not `python-freshdesk`: its client only accepts `*.freshdesk.com` over https, reads
a single page of a folder's articles, and its last release is from 2022.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from bot.sources.connectors.articles import parse_timestamp
from bot.sources.connectors.http import RetryPolicy, get_json, same_origin
from bot.sources.connectors.protocol import (
    ConnectorState,
    SourceDocument,
    SourceError,
    Unchanged,
)

VENDOR = "Freshdesk"
PAGE_SIZE = 100
PUBLISHED = 2
VISIBLE_TO_ALL = 1


@dataclass(frozen=True, slots=True)
class FreshdeskConfig:
    base_url: str
    """https://<domain>.freshdesk.com"""
    api_key: SecretStr
    portal_url: str | None = None
    """Public support portal for citations (a custom domain); unset: `base_url`."""
    locales: tuple[str, ...] = ()
    """Empty: the primary language. Otherwise these translations (e.g. `fr`, `pt-BR`)."""
    include_restricted: bool = False


@dataclass(frozen=True, slots=True)
class _Folder:
    id: int
    path: tuple[str, ...]


class FreshdeskSolutionsConnector:
    kind = "freshdesk"

    def __init__(
        self, config: FreshdeskConfig, http: httpx.AsyncClient, retry: RetryPolicy
    ) -> None:
        self._config = config
        self._http = http
        self._retry = retry
        self._base = config.base_url.rstrip("/")
        self._portal = (config.portal_url or config.base_url).rstrip("/")
        pair = f"{config.api_key.get_secret_value()}:X"
        self._headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    async def list_documents(
        self, state: ConnectorState
    ) -> AsyncIterator[SourceDocument | Unchanged]:
        for locale in self._config.locales or (None,):
            suffix = f"/{locale}" if locale else ""
            async for folder in self._folders(suffix):
                path = f"/api/v2/solutions/folders/{folder.id}/articles{suffix}"
                async for article in self._list(path, f"articles of folder {folder.id}"):
                    if article.get("status") != PUBLISHED:
                        continue
                    key = f"{locale}/{article['id']}" if locale else str(article["id"])
                    updated_at = parse_timestamp(article.get("updated_at"))
                    if state.is_unchanged(key, updated_at):
                        yield Unchanged(key)
                        continue
                    prefix = f"/{locale}" if locale else ""
                    yield SourceDocument(
                        key=key,
                        title=article.get("title") or "",
                        body=article.get("description") or "",
                        body_format="html",
                        url=f"{self._portal}{prefix}/support/solutions/articles/{article['id']}",
                        heading_path=folder.path,
                        updated_at=updated_at,
                        locale=locale,
                    )

    async def _folders(self, suffix: str) -> AsyncIterator[_Folder]:
        """Every folder customers can see, depth first, with its category > folder path."""
        async for category in self._list(f"/api/v2/solutions/categories{suffix}", "categories"):
            folders_path = f"/api/v2/solutions/categories/{category['id']}/folders{suffix}"
            pending: list[tuple[dict[str, Any], tuple[str, ...]]] = [
                (folder, (category.get("name") or "",))
                async for folder in self._list(folders_path, f"folders of {category['id']}")
            ]
            while pending:
                folder, parents = pending.pop(0)
                if not self._visible(folder):
                    continue
                path = tuple(n for n in (*parents, folder.get("name") or "") if n)
                yield _Folder(int(folder["id"]), path)
                if folder.get("sub_folders_count"):
                    sub_path = f"/api/v2/solutions/folders/{folder['id']}/subfolders{suffix}"
                    pending.extend(
                        [(sub, path) async for sub in self._list(sub_path, "sub-folders")]
                    )

    def _visible(self, folder: dict[str, Any]) -> bool:
        return self._config.include_restricted or folder.get("visibility") == VISIBLE_TO_ALL

    async def _list(self, path: str, what: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list endpoint, following `Link: rel="next"` to the last page."""
        url: str | None = f"{self._base}{path}"
        params: dict[str, str | int] | None = {"per_page": PAGE_SIZE}
        while url is not None:
            page, response = await get_json(
                self._http,
                url,
                vendor=VENDOR,
                what=what,
                policy=self._retry,
                params=params,
                headers=self._headers,
            )
            if not isinstance(page, list):
                raise SourceError(f"{VENDOR} sent {what} that is not a list")
            for item in page:
                yield item
            url = response.links.get("next", {}).get("url")
            if url is not None and not same_origin(url, self._base):
                raise SourceError(f"{VENDOR}'s next page of {what} points to another host")
            params = None
