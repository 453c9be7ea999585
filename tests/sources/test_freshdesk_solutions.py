"""Freshdesk connector against a local server that follows the Solutions API v2."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.sources.connectors.freshdesk_solutions import (
    FreshdeskConfig,
    FreshdeskSolutionsConnector,
)
from bot.sources.connectors.http import RetryPolicy
from bot.sources.connectors.protocol import (
    ConnectorState,
    SourceAuthError,
    SourceDocument,
    SourceUnavailable,
    Unchanged,
)
from tests.support.helpdesk_articles import FreshdeskStub

API_KEY = "fd-api-key-51be"
FAST = RetryPolicy(attempts=4, initial_wait_s=0.01, max_wait_s=2.0)


def article(id: int, folder: int, title: str, *, status: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "type": 1,
        "category_id": 1,
        "folder_id": folder,
        "title": title,
        "description": f"<p>{title}: what to do.</p>",
        "description_text": f"{title}: what to do.",
        "status": status,
        "agent_id": 9,
        "created_at": "2026-10-01T09:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z",
        **extra,
    }


def folder(id: int, name: str, *, visibility: int = 1, subfolders: int = 0) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "description": None,
        "visibility": visibility,
        "articles_count": 0,
        "sub_folders_count": subfolders,
        "created_at": "2026-10-01T09:00:00Z",
        "updated_at": "2026-10-01T09:00:00Z",
    }


@pytest.fixture
def freshdesk() -> Iterator[FreshdeskStub]:
    with FreshdeskStub(api_key=API_KEY) as stub:
        stub.categories = [{"id": 1, "name": "Accounts", "description": None}]
        stub.folders[1] = [
            folder(10, "Sign-in", subfolders=1),
            folder(12, "Internal runbooks", visibility=3),
        ]
        stub.subfolders[10] = [folder(11, "Two-factor")]
        stub.articles[10] = [article(100 + i, 10, f"Sign-in help {i}") for i in range(5)]
        stub.articles[10].append(article(150, 10, "Half-written", status=1))
        stub.articles[11] = [article(300, 11, "Reset 2FA")]
        stub.articles[12] = [article(400, 12, "Escalation ladder")]
        yield stub


def connector(
    stub: FreshdeskStub, key: str = API_KEY, **overrides: Any
) -> FreshdeskSolutionsConnector:
    config = FreshdeskConfig(
        base_url=stub.url,
        api_key=SecretStr(key),
        portal_url="https://support.acme.example",
        **overrides,
    )
    return FreshdeskSolutionsConnector(config, httpx.AsyncClient(timeout=5), FAST)


async def listing(
    source: FreshdeskSolutionsConnector, state: ConnectorState | None = None
) -> list[SourceDocument | Unchanged]:
    return [item async for item in source.list_documents(state or ConnectorState())]


async def test_walks_categories_folders_and_link_pages(freshdesk: FreshdeskStub) -> None:
    import bot.sources.connectors.freshdesk_solutions as module

    saved, module.PAGE_SIZE = module.PAGE_SIZE, 2
    try:
        documents = await listing(connector(freshdesk))
    finally:
        module.PAGE_SIZE = saved

    by_key = {d.key: d for d in documents if isinstance(d, SourceDocument)}
    assert sorted(by_key) == ["100", "101", "102", "103", "104", "300"]
    assert by_key["101"].heading_path == ("Accounts", "Sign-in")
    assert by_key["300"].heading_path == ("Accounts", "Sign-in", "Two-factor")
    assert by_key["300"].url == "https://support.acme.example/support/solutions/articles/300"
    assert "what to do" in by_key["300"].body
    pages = [p for p in freshdesk.paths() if p == "/api/v2/solutions/folders/10/articles"]
    assert len(pages) == 3  # 6 articles, 2 a page, through Link: rel="next"
    assert not any("/folders/12/" in p for p in freshdesk.paths())  # agents-only folder


async def test_translated_listing(freshdesk: FreshdeskStub) -> None:
    freshdesk.translated_articles["fr"] = {10: [article(100, 10, "Aide connexion")]}
    documents = await listing(connector(freshdesk, locales=("fr",)))
    keys = {d.key: d for d in documents if isinstance(d, SourceDocument)}
    assert set(keys) == {"fr/100"}
    assert keys["fr/100"].url == "https://support.acme.example/fr/support/solutions/articles/100"


async def test_unchanged_articles_are_reported_as_such(freshdesk: FreshdeskStub) -> None:
    first = [d for d in await listing(connector(freshdesk)) if isinstance(d, SourceDocument)]
    state = ConnectorState({d.key: d.updated_at for d in first if d.updated_at})
    freshdesk.articles[11][0]["updated_at"] = "2026-11-22T09:00:00Z"
    second = await listing(connector(freshdesk), state)
    assert [d.key for d in second if isinstance(d, SourceDocument)] == ["300"]
    assert len([d for d in second if isinstance(d, Unchanged)]) == 5


async def test_429_waits_as_long_as_retry_after_says(freshdesk: FreshdeskStub) -> None:
    freshdesk.fail(429, 1, after=2, retry_after="1")
    started = time.monotonic()
    assert len(await listing(connector(freshdesk))) == 6
    assert time.monotonic() - started >= 1.0


async def test_a_500_storm_fails_the_listing(freshdesk: FreshdeskStub) -> None:
    freshdesk.fail(502, 50, after=3)
    with pytest.raises(SourceUnavailable, match="HTTP 502 4 times"):
        await listing(connector(freshdesk))


async def test_wrong_api_key_is_a_clear_auth_error_without_the_secret(
    freshdesk: FreshdeskStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceAuthError) as raised:
        await listing(connector(freshdesk, key="fd-stale-key-2222"))
    assert "Freshdesk refused the credentials (401)" in raised.value.message
    assert len(freshdesk.requests) == 1
    for text in (str(raised.value), repr(raised.value), caplog.text):
        assert "fd-stale-key-2222" not in text
