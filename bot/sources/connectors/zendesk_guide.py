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
synchronous (`requests`), and it sleeps through 429s in its own loop; this API is four
GETs, so plain `httpx` with our shared retry policy is the smaller dependency.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from bot.sources.connectors.articles import ancestor_names, parse_timestamp
from bot.sources.connectors.http import RetryPolicy, get_json, same_origin
from bot.sources.connectors.protocol import (
    ConnectorState,
    SourceConfigError,
    SourceDocument,
    SourceError,
    Unchanged,
)

VENDOR = "Zendesk"
PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class ZendeskGuideConfig:
    base_url: str
    """https://<subdomain>.zendesk.com (or the help center's host mapped to it)."""
    locales: tuple[str, ...] = ("en-us",)
    email: str | None = None
    """With `api_token`: basic auth as `{email}/token`."""
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    """A bearer token (OAuth client with `hc:read` scope); used instead of email/api_token."""
    include_restricted: bool = False


def zendesk_auth(config: ZendeskGuideConfig) -> dict[str, str]:
    """Authorization header for the configured credentials (kept out of every message)."""
    if config.oauth_token is not None:
        return {"Authorization": f"Bearer {config.oauth_token.get_secret_value()}"}
    if config.api_token is not None and config.email:
        pair = f"{config.email}/token:{config.api_token.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    raise SourceConfigError(
        "the Zendesk source needs credentials: an email and API token, or an OAuth token"
    )


class ZendeskGuideConnector:
    kind = "zendesk"

    def __init__(
        self, config: ZendeskGuideConfig, http: httpx.AsyncClient, retry: RetryPolicy
    ) -> None:
        self._config = config
        self._http = http
        self._retry = retry
        self._base = config.base_url.rstrip("/")

    async def list_documents(
        self, state: ConnectorState
    ) -> AsyncIterator[SourceDocument | Unchanged]:
        several = len(self._config.locales) > 1
        for locale in self._config.locales:
            categories = {
                item["id"]: item["name"] async for item in self._pages(locale, "categories")
            }
            sections = {item["id"]: item async for item in self._pages(locale, "sections")}
            async for article in self._pages(locale, "articles"):
                if article.get("draft") or article.get("archived"):
                    continue
                if (
                    article.get("user_segment_id") is not None
                    and not self._config.include_restricted
                ):
                    continue
                key = f"{locale}/{article['id']}" if several else str(article["id"])
                updated_at = parse_timestamp(article.get("updated_at"))
                if state.is_unchanged(key, updated_at):
                    yield Unchanged(key)
                    continue
                yield SourceDocument(
                    key=key,
                    title=article.get("title") or "",
                    body=article.get("body") or "",
                    body_format="html",
                    url=article["html_url"],
                    heading_path=_heading_path(article.get("section_id"), sections, categories),
                    updated_at=updated_at,
                    locale=article.get("locale") or locale,
                )

    async def _pages(self, locale: str, collection: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a Help Center list, following cursor pagination to the end."""
        url: str | None = f"{self._base}/api/v2/help_center/{locale}/{collection}.json"
        params: dict[str, str | int] | None = {"page[size]": PAGE_SIZE}
        headers = zendesk_auth(self._config)
        what = f"{collection} ({locale})"
        while url is not None:
            page, _ = await get_json(
                self._http,
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


def _heading_path(
    section_id: int | None, sections: dict[int, dict[str, Any]], categories: dict[int, str]
) -> tuple[str, ...]:
    section = sections.get(section_id) if section_id is not None else None
    if section is None:
        return ()
    category = categories.get(section.get("category_id"))  # type: ignore[arg-type]
    names = ancestor_names(section_id, sections, "parent_section_id")
    return tuple(([category] if category else []) + names)
