"""Zendesk Guide connector against a local server that follows the Help Center API."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.sources.connectors.http import RetryPolicy
from bot.sources.connectors.protocol import (
    ConnectorState,
    SourceAuthError,
    SourceDocument,
    SourceUnavailable,
    Unchanged,
)
from bot.sources.connectors.zendesk_guide import ZendeskGuideConfig, ZendeskGuideConnector
from tests.support.helpdesk_articles import ZendeskGuideStub

EMAIL = "bot@acme.example"
TOKEN = "zd-secret-token-4f9a"
OAUTH = "zd-oauth-bearer-77c1"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.01, max_wait_s=2.0)


def article(
    id: int, section: int, title: str, *, locale: str = "en-us", **extra: Any
) -> dict[str, Any]:
    slug = title.lower().replace(" ", "-")
    return {
        "id": id,
        "url": f"https://acme.zendesk.com/api/v2/help_center/{locale}/articles/{id}.json",
        "html_url": f"https://help.acme.example/hc/{locale}/articles/{id}-{slug}",
        "title": title,
        "body": f"<p>{title}: how it works.</p>",
        "locale": locale,
        "source_locale": "en-us",
        "section_id": section,
        "draft": False,
        "user_segment_id": None,
        "updated_at": "2026-11-01T10:00:00Z",
        "created_at": "2026-10-01T10:00:00Z",
        **extra,
    }


@pytest.fixture
def zendesk() -> Iterator[ZendeskGuideStub]:
    with ZendeskGuideStub(email=EMAIL, token=TOKEN, oauth_token=OAUTH) as stub:
        for locale, billing in (("en-us", "Billing"), ("de", "Abrechnung")):
            stub.categories[locale] = [{"id": 1, "name": billing, "locale": locale}]
            stub.sections[locale] = [
                {"id": 10, "name": "Invoices", "category_id": 1, "parent_section_id": None},
                {"id": 11, "name": "Refunds", "category_id": 1, "parent_section_id": 10},
            ]
        stub.articles["en-us"] = [
            article(100 + i, 10 if i % 2 else 11, f"Invoice topic {i}") for i in range(5)
        ] + [
            article(200, 10, "Unreleased pricing", draft=True),
            article(201, 10, "Agent macros", user_segment_id=42),
        ]
        stub.articles["de"] = [article(100, 11, "Rechnung", locale="de")]
        yield stub


def connector(stub: ZendeskGuideStub, **overrides: Any) -> ZendeskGuideConnector:
    config = ZendeskGuideConfig(
        base_url=stub.url, email=EMAIL, api_token=SecretStr(TOKEN), **overrides
    )
    return ZendeskGuideConnector(config, httpx.AsyncClient(timeout=5), FAST)


async def listing(
    source: ZendeskGuideConnector, state: ConnectorState | None = None
) -> list[SourceDocument | Unchanged]:
    return [item async for item in source.list_documents(state or ConnectorState())]


async def test_lists_published_articles_across_cursor_pages(zendesk: ZendeskGuideStub) -> None:
    import bot.sources.connectors.zendesk_guide as module

    module_page_size, module.PAGE_SIZE = module.PAGE_SIZE, 2
    try:
        documents = await listing(connector(zendesk))
    finally:
        module.PAGE_SIZE = module_page_size

    assert [d.key for d in documents if isinstance(d, SourceDocument)] == [
        "100",
        "101",
        "102",
        "103",
        "104",
    ]
    first = documents[0]
    assert isinstance(first, SourceDocument)
    assert first.heading_path == ("Billing", "Invoices", "Refunds")
    assert first.url == "https://help.acme.example/hc/en-us/articles/100-invoice-topic-0"
    assert first.body_format == "html" and "how it works" in first.body
    second = documents[1]
    assert isinstance(second, SourceDocument) and second.heading_path == ("Billing", "Invoices")
    article_pages = [p for p in zendesk.paths() if p.endswith("/articles.json")]
    assert len(article_pages) == 4  # 7 articles, 2 a page: the cursor was followed to the end


async def test_several_locales_are_separate_documents(zendesk: ZendeskGuideStub) -> None:
    documents = await listing(connector(zendesk, locales=("en-us", "de")))
    keys = {d.key: d for d in documents if isinstance(d, SourceDocument)}
    assert "de/100" in keys and "en-us/100" in keys and len(keys) == 6
    german = keys["de/100"]
    assert german.locale == "de" and german.heading_path == ("Abrechnung", "Invoices", "Refunds")
    assert german.url.startswith("https://help.acme.example/hc/de/")


async def test_restricted_articles_only_when_asked(zendesk: ZendeskGuideStub) -> None:
    documents = await listing(connector(zendesk, include_restricted=True))
    assert "201" in {d.key for d in documents}
    assert "200" not in {d.key for d in documents}  # drafts never


async def test_unchanged_articles_are_reported_as_such(zendesk: ZendeskGuideStub) -> None:
    first = [d for d in await listing(connector(zendesk)) if isinstance(d, SourceDocument)]
    state = ConnectorState({d.key: d.updated_at for d in first if d.updated_at})
    zendesk.articles["en-us"][2]["updated_at"] = "2026-11-20T08:00:00Z"
    second = await listing(connector(zendesk), state)
    changed = [d.key for d in second if isinstance(d, SourceDocument)]
    assert changed == ["102"]
    assert sorted(d.key for d in second if isinstance(d, Unchanged)) == ["100", "101", "103", "104"]


async def test_oauth_bearer_token(zendesk: ZendeskGuideStub) -> None:
    config = ZendeskGuideConfig(base_url=zendesk.url, oauth_token=SecretStr(OAUTH))
    source = ZendeskGuideConnector(config, httpx.AsyncClient(timeout=5), FAST)
    assert len(await listing(source)) == 5


async def test_429_waits_as_long_as_retry_after_says(zendesk: ZendeskGuideStub) -> None:
    zendesk.fail(429, 1, after=2, retry_after="1")
    started = time.monotonic()
    documents = await listing(connector(zendesk))
    assert time.monotonic() - started >= 1.0
    assert len(documents) == 5


async def test_a_retry_after_longer_than_we_wait_fails_the_listing(
    zendesk: ZendeskGuideStub,
) -> None:
    zendesk.fail(429, 1, retry_after="3600")
    with pytest.raises(SourceUnavailable, match="wait 3600 s"):
        await listing(connector(zendesk))


async def test_a_500_storm_fails_the_listing(zendesk: ZendeskGuideStub) -> None:
    zendesk.fail(500, 50, after=2)  # categories and sections listed, then every page fails
    with pytest.raises(SourceUnavailable, match="HTTP 500 4 times"):
        await listing(connector(zendesk))


async def test_expired_token_is_a_clear_auth_error_without_the_secret(
    zendesk: ZendeskGuideStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = ZendeskGuideConfig(
        base_url=zendesk.url, email=EMAIL, api_token=SecretStr("zd-expired-token-0000")
    )
    source = ZendeskGuideConnector(config, httpx.AsyncClient(timeout=5), FAST)
    with pytest.raises(SourceAuthError) as raised:
        await listing(source)
    assert "refused the credentials (401)" in raised.value.message
    assert len(zendesk.requests) == 1  # not retried
    for text in (str(raised.value), repr(config), caplog.text):
        assert "zd-expired-token-0000" not in text
