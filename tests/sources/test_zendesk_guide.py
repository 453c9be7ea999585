"""Zendesk Guide connector against a local server that follows the Help Center API."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.errors import InvalidRequest, SourceAuthFailed, SourceRateLimited, SourceUnavailable
from bot.sources.connectors import zendesk_guide
from bot.sources.connectors.zendesk_guide import (
    CONNECTOR_TYPE,
    ZendeskGuideConnector,
    ZendeskOptions,
    authorization,
)
from bot.sources.protocol import ConnectorState
from tests.support.connectors import (
    FAST_RETRIES,
    USER_AGENT,
    after_sync,
    connector_env,
    documents,
    listing,
    unchanged,
)
from tests.support.helpdesk_articles import ZendeskGuideStub

EMAIL = "bot@acme.example"
TOKEN = "zd-secret-token-4f9a"
OAUTH = "zd-oauth-bearer-77c1"


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


def connector(stub: ZendeskGuideStub, token: str = TOKEN, **options: Any) -> ZendeskGuideConnector:
    chosen = ZendeskOptions(base_url=stub.url, email=EMAIL, **options)
    auth = authorization(chosen, {"api_token": token})
    return ZendeskGuideConnector(chosen, auth, connector_env(), FAST_RETRIES)


async def test_lists_published_articles_across_cursor_pages(
    zendesk: ZendeskGuideStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zendesk_guide, "PAGE_SIZE", 2)
    found = documents(await listing(connector(zendesk)))

    assert sorted(found) == ["100", "101", "102", "103", "104"]  # no draft, no restricted
    assert found["100"].heading_path == ("Billing", "Invoices", "Refunds")
    assert found["101"].heading_path == ("Billing", "Invoices")
    assert found["100"].url == "https://help.acme.example/hc/en-us/articles/100-invoice-topic-0"
    assert found["100"].body_format == "html" and "how it works" in found["100"].body
    article_pages = [p for p in zendesk.paths() if p.endswith("/articles.json")]
    assert len(article_pages) == 4  # 7 articles, 2 a page: the cursor was followed to the end
    assert {r.headers["user-agent"] for r in zendesk.requests} == {USER_AGENT}


async def test_several_locales_are_separate_documents(zendesk: ZendeskGuideStub) -> None:
    found = documents(await listing(connector(zendesk, locales=["en-us", "de"])))
    assert len(found) == 6 and {"de/100", "en-us/100"} <= set(found)
    german = found["de/100"]
    assert german.locale == "de" and german.heading_path == ("Abrechnung", "Invoices", "Refunds")
    assert german.url.startswith("https://help.acme.example/hc/de/")


async def test_restricted_articles_only_when_asked(zendesk: ZendeskGuideStub) -> None:
    found = documents(await listing(connector(zendesk, include_restricted=True)))
    assert "201" in found and "200" not in found  # drafts never


async def test_unchanged_articles_are_reported_as_such(zendesk: ZendeskGuideStub) -> None:
    state = ConnectorState()
    state = after_sync(state, await listing(connector(zendesk), state))
    zendesk.articles["en-us"][2]["updated_at"] = "2026-11-20T08:00:00Z"
    second = await listing(connector(zendesk), state)
    assert list(documents(second)) == ["102"]
    assert unchanged(second) == ["100", "101", "103", "104"]
    state.full = True
    assert len(documents(await listing(connector(zendesk), state))) == 5


async def test_oauth_bearer_token_through_the_connector_type(zendesk: ZendeskGuideStub) -> None:
    options = ZendeskOptions(base_url=zendesk.url)
    built = CONNECTOR_TYPE.build(options, connector_env({"oauth_token": OAUTH}))
    assert len(documents(await listing(built))) == 5
    with pytest.raises(InvalidRequest, match="needs credentials"):
        CONNECTOR_TYPE.build(options, connector_env({"api_token": TOKEN}))  # no email


async def test_429_waits_as_long_as_retry_after_says(zendesk: ZendeskGuideStub) -> None:
    zendesk.fail(429, 1, after=2, retry_after="1")
    started = time.monotonic()
    assert len(await listing(connector(zendesk))) == 5
    assert time.monotonic() - started >= 1.0


async def test_a_retry_after_longer_than_we_wait_fails_the_listing(
    zendesk: ZendeskGuideStub,
) -> None:
    zendesk.fail(429, 1, retry_after="3600")
    with pytest.raises(SourceRateLimited, match="wait 3600 s") as raised:
        await listing(connector(zendesk))
    assert raised.value.retry_after_s == 3600


async def test_a_500_storm_fails_the_listing(zendesk: ZendeskGuideStub) -> None:
    zendesk.fail(500, 50, after=2)  # categories and sections listed, then every page fails
    with pytest.raises(SourceUnavailable, match="HTTP 500 4 times"):
        await listing(connector(zendesk))


async def test_expired_token_is_a_clear_auth_error_without_the_secret(
    zendesk: ZendeskGuideStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = connector(zendesk, token="zd-expired-token-0000")
    with pytest.raises(SourceAuthFailed) as raised:
        await listing(source)
    assert "refused the credentials (401)" in raised.value.message
    assert len(zendesk.requests) == 1  # not retried
    options = ZendeskOptions(base_url=zendesk.url, email=EMAIL)
    exposed = authorization(options, {"api_token": "zd-expired-token-0000"})
    for text in (
        str(raised.value),
        repr(raised.value),
        repr(exposed),
        repr(vars(source)),
        caplog.text,
    ):
        assert "zd-expired-token-0000" not in text
        assert "Basic " not in text  # nor its base64 form


def test_the_helpdesk_types_are_in_the_catalog() -> None:
    from bot.sources.catalog import connector_kinds, connector_type

    assert {"zendesk", "intercom", "freshdesk"} <= set(connector_kinds())
    assert connector_type("zendesk") is CONNECTOR_TYPE
    assert connector_type("intercom").secrets == ("access_token",)
    assert connector_type("freshdesk").secrets == ("api_key",)
