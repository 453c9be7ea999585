"""Intercom: published Help Center articles through the Articles API, with Intercom's SDK.

`python-intercom` (Intercom's own, generated from their API definition) lists articles and
collections page by page (`page`, `per_page`; `pages.total_pages` says when to stop). Its
client accepts a base URL (regional hosts, or a local server in tests) and our httpx
client; its own retries are left off so every connector shares one retry policy.
Only `state: published` articles with a public `url` are synced (a draft, or an article of
a help center that is not live, has none); the heading path is the collection chain. The
pages are offsets into a list that edits reorder, so page 1 is read again at the end and
a listing that moved meanwhile counts as incomplete (nothing deleted). With
`locales`, each published translation in `translated_content` becomes its own document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from intercom import AsyncIntercom
from intercom.core.api_error import ApiError
from intercom.core.request_options import RequestOptions
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.errors import SourceError, SourceUnavailable
from bot.retry import RetryPolicy
from bot.sources.connectors.articles import ancestor_names, html_article, required_secret
from bot.sources.connectors.http import api_client, check_status, with_retries
from bot.sources.protocol import (
    ConnectorEnv,
    ConnectorState,
    ConnectorType,
    ListingItem,
)

VENDOR = "Intercom"
PAGE_SIZE = 50
DEFAULT_BASE_URL = "https://api.intercom.io"
_NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}

T = TypeVar("T")


class IntercomOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        DEFAULT_BASE_URL,
        description="Intercom's API host: https://api.intercom.io, or your region's "
        "(https://api.eu.intercom.io, https://api.au.intercom.io).",
    )
    locales: list[str] = Field(
        default_factory=list,
        description="Translations to sync (e.g. en, fr); each is its own document. Empty: "
        "every article in its default language.",
    )


class IntercomArticlesConnector:
    kind = "intercom"

    def __init__(
        self,
        options: IntercomOptions,
        access_token: SecretStr,
        env: ConnectorEnv,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._options = options
        self._token = access_token
        self._env = env
        self._retry = retry

    async def list_documents(self, state: ConnectorState) -> AsyncIterator[ListingItem]:
        async with api_client(self._env) as http:
            client = AsyncIntercom(
                base_url=self._options.base_url.rstrip("/"),
                token=self._token.get_secret_value(),
                headers={"User-Agent": self._env.user_agent},  # the SDK's own otherwise
                httpx_client=http,
            )
            collections = await self._collections(client)
            async for article in self._articles(client):
                parent = article.get("parent_id")
                path = tuple(ancestor_names(_str(parent), collections, "parent_id"))
                for locale, content in self._versions(article):
                    if content.get("state") != "published" or not content.get("url"):
                        continue
                    several = bool(self._options.locales)
                    key = f"{locale}/{article['id']}" if several else str(article["id"])
                    yield html_article(
                        state,
                        key=key,
                        title=content.get("title"),
                        body=content.get("body"),
                        url=content["url"],
                        heading_path=path,
                        updated_at=_unix(content.get("updated_at")),
                        locale=locale,
                    )

    def _versions(self, article: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        default_locale = article.get("default_locale") or "en"
        if not self._options.locales:
            return [(default_locale, article)]
        translated = article.get("translated_content") or {}
        return [
            (locale, translated[locale])
            for locale in self._options.locales
            if isinstance(translated.get(locale), dict)
        ]

    async def _articles(self, client: AsyncIntercom) -> AsyncIterator[dict[str, Any]]:
        """Every article, page by page. Pages are offsets into a list sorted by `updated_at`
        (newest first), so an article edited, published or deleted mid-listing shifts the
        pages and another one could be skipped, then deleted as gone: when page 1 no
        longer starts as it did, the listing is reported incomplete instead."""
        page, first = 1, None
        while True:
            pager = await self._article_page(client, page)
            if first is None:
                first = _signature(pager)
            for item in pager.items or []:
                yield item.model_dump(by_alias=True, exclude_none=True)
            if not pager.items or page >= _total_pages(pager.response.pages, page):
                break
            page += 1
        if page > 1 and _signature(await self._article_page(client, 1)) != first:
            raise SourceUnavailable(
                f"{VENDOR}'s articles changed while they were being listed, so some may have "
                "been skipped; nothing was deleted and the next sync reads them again",
                retry_after_s=60,
            )

    async def _article_page(self, client: AsyncIntercom, page: int) -> Any:
        fetch = partial(
            client.articles.list, page=page, per_page=PAGE_SIZE, request_options=_NO_SDK_RETRIES
        )
        return await self._call(fetch, "articles")

    async def _collections(self, client: AsyncIntercom) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            fetch = partial(
                client.help_centers.collections.list,
                page=page,
                per_page=PAGE_SIZE,
                request_options=_NO_SDK_RETRIES,
            )
            pager = await self._call(fetch, "collections")
            for item in pager.items or []:
                found[str(item.id)] = item.model_dump(exclude_none=True)
            pages = pager.response.pages
            if not pager.items or page >= _total_pages(pages and pages.model_dump(), page):
                return found
            page += 1

    async def _call(self, fetch: Callable[[], Awaitable[T]], what: str) -> T:
        async def translated() -> T:
            try:
                return await fetch()
            except ApiError as exc:
                check_status(exc.status_code or 0, exc.headers or {}, VENDOR, what)
                raise SourceError(
                    f"{VENDOR} answered {exc.status_code} while listing {what}"
                ) from exc

        return await with_retries(translated, self._retry, VENDOR)


def build(options: BaseModel, env: ConnectorEnv) -> IntercomArticlesConnector:
    assert isinstance(options, IntercomOptions)
    token = required_secret(
        env,
        "access_token",
        "Developer Hub > your app > Authentication; the app needs the 'Read and list "
        "articles' permission",
    )
    return IntercomArticlesConnector(options, token, env)


CONNECTOR_TYPE = ConnectorType(
    kind="intercom",
    options=IntercomOptions,
    build=build,
    secrets=("access_token",),
    summary="Intercom Help Center: published articles (Articles API, Intercom's SDK).",
)


def _signature(pager: Any) -> tuple[Any, ...]:
    """What page 1 of the article list looks like: total count, newest article and time."""
    items = pager.items or []
    newest = (items[0].id, items[0].updated_at) if items else None
    return (pager.response.total_count, newest)


def _total_pages(pages: Any, current: int) -> int:
    total = pages.get("total_pages") if isinstance(pages, dict) else None
    return int(total) if isinstance(total, int) else current + 1


def _unix(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
