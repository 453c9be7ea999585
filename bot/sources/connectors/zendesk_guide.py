"""Zendesk Guide: published Help Center articles, one listing per locale.

Uses the Help Center API (`/api/v2/help_center/{locale}/articles.json`, categories and
sections likewise) with cursor pagination: `page[size]` on the first request, then
`links.next` while `meta.has_more`. Drafts are left out (`draft: true` is the translation's
draft flag); archived articles are not in the listing; attachments are not fetched.
Articles restricted to a user segment (signed-in users, agents) are left out unless
`include_restricted`: the bot answers anonymous visitors. The heading path is category >
parent sections > section; the citation is the article's `html_url`.

Why not `zenpy`: it builds every URL as `https://{subdomain}.{domain}` and can only be
pointed elsewhere through process-wide environment variables (`ZENPY_FORCE_NETLOC`), it is
synchronous (`requests`), and it sleeps through 429s in its own loop; this API is three
paginated GETs, so plain `httpx` with our shared retry policy is the smaller dependency.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.errors import InvalidRequest, SourceError
from bot.retry import RetryPolicy
from bot.sources.connectors.articles import (
    ancestor_names,
    html_article,
    parse_timestamp,
)
from bot.sources.connectors.http import api_client, get_json, same_origin
from bot.sources.protocol import (
    ConnectorEnv,
    ConnectorState,
    ConnectorType,
    ListingItem,
)

VENDOR = "Zendesk"
PAGE_SIZE = 100


class ZendeskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        description="Your Zendesk, https://<subdomain>.zendesk.com (the API host, not a "
        "custom help-center domain)."
    )
    locales: list[str] = Field(
        default_factory=lambda: ["en-us"],
        description="Help Center locales to sync (e.g. en-us, de); each translation is its "
        "own document.",
    )
    email: str | None = Field(
        None, description="Agent email the API token belongs to (API-token auth)."
    )
    include_restricted: bool = Field(
        False,
        description="Also sync articles visible only to a user segment (signed-in users, "
        "agents); off because the bot answers anonymous visitors.",
    )


class ZendeskGuideConnector:
    kind = "zendesk"

    def __init__(
        self,
        options: ZendeskOptions,
        authorization: SecretStr,
        env: ConnectorEnv,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._options = options
        self._authorization = authorization
        self._env = env
        self._retry = retry
        self._base = options.base_url.rstrip("/")

    async def list_documents(self, state: ConnectorState) -> AsyncIterator[ListingItem]:
        several = len(self._options.locales) > 1
        async with api_client(self._env) as http:
            for locale in self._options.locales:
                categories = {
                    item["id"]: item["name"]
                    async for item in self._pages(http, locale, "categories")
                }
                sections = {
                    item["id"]: item async for item in self._pages(http, locale, "sections")
                }
                async for article in self._pages(http, locale, "articles"):
                    if article.get("draft") or article.get("archived"):
                        continue
                    restricted = article.get("user_segment_id") is not None
                    if restricted and not self._options.include_restricted:
                        continue
                    key = f"{locale}/{article['id']}" if several else str(article["id"])
                    yield html_article(
                        state,
                        key=key,
                        title=article.get("title"),
                        body=article.get("body"),
                        url=article["html_url"],
                        heading_path=_heading_path(article.get("section_id"), sections, categories),
                        updated_at=parse_timestamp(article.get("updated_at")),
                        locale=article.get("locale") or locale,
                    )

    async def _pages(
        self, http: httpx.AsyncClient, locale: str, collection: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a Help Center list, following cursor pagination to the end."""
        url: str | None = f"{self._base}/api/v2/help_center/{locale}/{collection}.json"
        params: dict[str, str | int] | None = {"page[size]": PAGE_SIZE}
        headers = {"Authorization": self._authorization.get_secret_value()}
        what = f"{collection} ({locale})"
        while url is not None:
            page, _ = await get_json(
                http,
                url,
                vendor=VENDOR,
                what=what,
                policy=self._retry,
                params=params,
                headers=headers,
            )
            items = page.get(collection)
            if not isinstance(items, list):
                raise SourceError(f"{VENDOR} sent a page of {what} without a `{collection}` list")
            for item in items:
                yield item
            more = bool((page.get("meta") or {}).get("has_more"))
            url = (page.get("links") or {}).get("next") if more else None
            if more and not url:
                raise SourceError(f"{VENDOR} said more {what} follow but gave no next link")
            if url is not None and not same_origin(url, self._base):
                raise SourceError(f"{VENDOR}'s next page of {what} points to another host")
            params = None


def authorization(options: ZendeskOptions, secrets: Mapping[str, str]) -> SecretStr:
    """The Authorization header value: OAuth bearer token, else `{email}/token` basic auth."""
    if secrets.get("oauth_token"):
        return SecretStr(f"Bearer {secrets['oauth_token']}")
    if secrets.get("api_token") and options.email:
        pair = f"{options.email}/token:{secrets['api_token']}"
        return SecretStr("Basic " + base64.b64encode(pair.encode()).decode())
    raise InvalidRequest(
        "a Zendesk source needs credentials: --email with the api_token secret (Admin Center "
        "> Apps and integrations > Zendesk API), or an oauth_token secret with hc:read scope"
    )


def build(options: BaseModel, env: ConnectorEnv) -> ZendeskGuideConnector:
    assert isinstance(options, ZendeskOptions)
    if not options.locales:
        raise InvalidRequest("a Zendesk source needs at least one locale (e.g. en-us)")
    return ZendeskGuideConnector(options, authorization(options, env.secrets), env)


CONNECTOR_TYPE = ConnectorType(
    kind="zendesk",
    options=ZendeskOptions,
    build=build,
    secrets=("api_token", "oauth_token"),
    summary="Zendesk Guide help center: published articles per locale (Help Center API).",
)


def _heading_path(
    section_id: int | None, sections: dict[int, dict[str, Any]], categories: dict[int, str]
) -> tuple[str, ...]:
    section = sections.get(section_id) if section_id is not None else None
    if section is None:
        return ()
    category = categories.get(section.get("category_id", -1))
    names = ancestor_names(section_id, sections, "parent_section_id")
    return tuple(([category] if category else []) + names)
