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
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.errors import SourceError
from bot.retry import RetryPolicy
from bot.sources.connectors.articles import html_article, parse_timestamp, required_secret
from bot.sources.connectors.http import api_client, get_json, same_origin
from bot.sources.protocol import (
    ConnectorEnv,
    ConnectorState,
    ConnectorType,
    ListingItem,
)

VENDOR = "Freshdesk"
PAGE_SIZE = 100
PUBLISHED = 2
VISIBLE_TO_ALL = 1


class FreshdeskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="Your Freshdesk, https://<domain>.freshdesk.com.")
    portal_url: str | None = Field(
        None,
        description="Public support portal the citations link to (e.g. a custom domain, "
        "https://support.example.com); unset: base_url.",
    )
    locales: list[str] = Field(
        default_factory=list,
        description="Translations to sync (e.g. fr, pt-BR); each is its own document. Empty: "
        "the primary language.",
    )
    include_restricted: bool = Field(
        False,
        description="Also sync folders not visible to all users (logged-in users, agents, "
        "selected companies); off because the bot answers anonymous visitors.",
    )


@dataclass(frozen=True, slots=True)
class _Folder:
    id: int
    path: tuple[str, ...]


class FreshdeskSolutionsConnector:
    kind = "freshdesk"

    def __init__(
        self,
        options: FreshdeskOptions,
        api_key: SecretStr,
        env: ConnectorEnv,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._options = options
        self._api_key = api_key
        self._env = env
        self._retry = retry
        self._base = options.base_url.rstrip("/")
        self._portal = (options.portal_url or options.base_url).rstrip("/")

    async def list_documents(self, state: ConnectorState) -> AsyncIterator[ListingItem]:
        async with api_client(self._env) as http:
            listing = _Listing(http, self._base, self._api_key, self._retry)
            locales: list[str | None] = [*self._options.locales] or [None]
            for locale in locales:
                async for item in self._locale(listing, state, locale):
                    yield item

    async def _locale(
        self, listing: _Listing, state: ConnectorState, locale: str | None
    ) -> AsyncIterator[ListingItem]:
        suffix = f"/{locale}" if locale else ""
        async for folder in self._folders(listing, suffix):
            path = f"/api/v2/solutions/folders/{folder.id}/articles{suffix}"
            async for article in listing.items(path, f"articles of folder {folder.id}"):
                if article.get("status") != PUBLISHED:
                    continue
                key = f"{locale}/{article['id']}" if locale else str(article["id"])
                yield html_article(
                    state,
                    key=key,
                    title=article.get("title"),
                    body=article.get("description"),
                    url=f"{self._portal}{suffix}/support/solutions/articles/{article['id']}",
                    heading_path=folder.path,
                    updated_at=parse_timestamp(article.get("updated_at")),
                    locale=locale,
                )

    async def _folders(self, listing: _Listing, suffix: str) -> AsyncIterator[_Folder]:
        """Every folder customers can see, with its category > folder > sub-folder path."""
        async for category in listing.items(f"/api/v2/solutions/categories{suffix}", "categories"):
            folders_path = f"/api/v2/solutions/categories/{category['id']}/folders{suffix}"
            pending: list[tuple[dict[str, Any], tuple[str, ...]]] = [
                (folder, (category.get("name") or "",))
                async for folder in listing.items(folders_path, f"folders of {category['id']}")
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
                        [(sub, path) async for sub in listing.items(sub_path, "sub-folders")]
                    )

    def _visible(self, folder: dict[str, Any]) -> bool:
        return self._options.include_restricted or folder.get("visibility") == VISIBLE_TO_ALL


class _Listing:
    """Paged GETs against one Freshdesk with its API key."""

    def __init__(
        self, http: httpx.AsyncClient, base: str, api_key: SecretStr, retry: RetryPolicy | None
    ) -> None:
        self._http = http
        self._base = base
        self._retry = retry
        pair = f"{api_key.get_secret_value()}:X"
        self._headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    async def items(self, path: str, what: str) -> AsyncIterator[dict[str, Any]]:
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


def build(options: BaseModel, env: ConnectorEnv) -> FreshdeskSolutionsConnector:
    assert isinstance(options, FreshdeskOptions)
    api_key = required_secret(env, "api_key", "Freshdesk: Profile settings > View API key")
    return FreshdeskSolutionsConnector(options, api_key, env)


CONNECTOR_TYPE = ConnectorType(
    kind="freshdesk",
    options=FreshdeskOptions,
    build=build,
    secrets=("api_key",),
    summary="Freshdesk knowledge base: published solution articles (Solutions API).",
)
