"""Intercom connector (through Intercom's SDK) against a local server that follows the
Articles and Help Center Collections APIs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.sources.connectors.http import RetryPolicy
from bot.sources.connectors.intercom_articles import IntercomArticlesConnector, IntercomConfig
from bot.sources.connectors.protocol import (
    ConnectorState,
    SourceAuthError,
    SourceDocument,
    SourceUnavailable,
    Unchanged,
)
from tests.support.helpdesk_articles import IntercomStub

TOKEN = "ic-access-token-9d2e"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.01, max_wait_s=2.0)


def article(
    id: int, collection: str, title: str, *, state: str = "published", **extra: Any
) -> dict[str, Any]:
    slug = title.lower().replace(" ", "-")
    return {
        "type": "article",
        "id": str(id),
        "workspace_id": "ws1",
        "title": title,
        "description": "",
        "body": f"<p>{title}: step by step.</p>",
        "author_id": 7,
        "state": state,
        "created_at": 1_790_000_000,
        "updated_at": 1_790_000_000 + id,
        "url": f"https://intercom.help/acme/en/articles/{id}-{slug}"
        if state == "published"
        else None,
        "parent_id": int(collection),
        "parent_ids": [int(collection)],
        "parent_type": "collection",
        "default_locale": "en",
        **extra,
    }


@pytest.fixture
def intercom() -> Iterator[IntercomStub]:
    with IntercomStub(token=TOKEN) as stub:
        stub.collections = [
            {"id": "1", "workspace_id": "ws1", "name": "Getting started", "parent_id": None},
            {"id": "2", "workspace_id": "ws1", "name": "Mobile app", "parent_id": "1"},
        ]
        stub.articles = [article(i, "2" if i % 2 else "1", f"Setup step {i}") for i in range(1, 8)]
        stub.articles.append(article(50, "1", "Draft roadmap", state="draft"))
        fr = {
            "title": "Étape",
            "body": "<p>Étape</p>",
            "state": "published",
            "updated_at": 1_790_000_100,
            "url": "https://intercom.help/acme/fr/articles/1-etape",
        }
        stub.articles[0]["translated_content"] = {
            "type": "article_translated_content",
            "fr": fr,
            "en": {k: stub.articles[0][k] for k in ("title", "body", "state", "updated_at", "url")},
        }
        yield stub


def connector(
    stub: IntercomStub, token: str = TOKEN, **overrides: Any
) -> IntercomArticlesConnector:
    config = IntercomConfig(access_token=SecretStr(token), base_url=stub.url, **overrides)
    return IntercomArticlesConnector(config, httpx.AsyncClient(timeout=5), FAST)


async def listing(
    source: IntercomArticlesConnector, state: ConnectorState | None = None
) -> list[SourceDocument | Unchanged]:
    return [item async for item in source.list_documents(state or ConnectorState())]


async def test_lists_published_articles_across_pages(intercom: IntercomStub) -> None:
    import bot.sources.connectors.intercom_articles as module

    saved, module.PAGE_SIZE = module.PAGE_SIZE, 3
    try:
        documents = await listing(connector(intercom))
    finally:
        module.PAGE_SIZE = saved

    by_key = {d.key: d for d in documents if isinstance(d, SourceDocument)}
    assert sorted(by_key, key=int) == [str(i) for i in range(1, 8)]  # the draft is left out
    assert by_key["3"].heading_path == ("Getting started", "Mobile app")
    assert by_key["2"].heading_path == ("Getting started",)
    assert by_key["3"].url == "https://intercom.help/acme/en/articles/3-setup-step-3"
    assert by_key["3"].body_format == "html" and "step by step" in by_key["3"].body
    assert len([p for p in intercom.paths() if p == "/articles"]) == 3  # 8 articles, 3 a page


async def test_translations_when_locales_are_asked(intercom: IntercomStub) -> None:
    documents = await listing(connector(intercom, locales=("en", "fr")))
    keys = {d.key: d for d in documents if isinstance(d, SourceDocument)}
    assert keys["fr/1"].title == "Étape" and keys["fr/1"].locale == "fr"
    assert keys["fr/1"].url == "https://intercom.help/acme/fr/articles/1-etape"
    assert set(keys) == {"en/1", "fr/1"}  # only article 1 has translated_content here


async def test_unchanged_articles_are_reported_as_such(intercom: IntercomStub) -> None:
    first = [d for d in await listing(connector(intercom)) if isinstance(d, SourceDocument)]
    state = ConnectorState({d.key: d.updated_at for d in first if d.updated_at})
    intercom.articles[4]["updated_at"] += 500
    intercom.articles[4]["body"] = "<p>Rewritten.</p>"
    second = await listing(connector(intercom), state)
    assert [d.key for d in second if isinstance(d, SourceDocument)] == ["5"]
    assert len([d for d in second if isinstance(d, Unchanged)]) == 6


async def test_429_waits_as_long_as_retry_after_says(intercom: IntercomStub) -> None:
    intercom.fail(429, 1, after=1, retry_after="1")
    started = time.monotonic()
    assert len(await listing(connector(intercom))) == 7
    assert time.monotonic() - started >= 1.0


async def test_a_500_storm_fails_the_listing(intercom: IntercomStub) -> None:
    intercom.fail(503, 50, after=1)
    with pytest.raises(SourceUnavailable, match="HTTP 503 4 times"):
        await listing(connector(intercom))


async def test_revoked_token_is_a_clear_auth_error_without_the_secret(
    intercom: IntercomStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceAuthError) as raised:
        await listing(connector(intercom, token="ic-revoked-token-1111"))
    assert "Intercom refused the credentials (401)" in raised.value.message
    assert len(intercom.requests) == 1
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    for text in [*map(str, chain), *map(repr, chain), caplog.text]:
        assert "ic-revoked-token-1111" not in text
