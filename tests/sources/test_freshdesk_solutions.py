"""Freshdesk connector against a local server that follows the Solutions API v2."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.errors import InvalidRequest, SourceAuthFailed
from bot.sources.connectors import freshdesk_solutions
from bot.sources.connectors.freshdesk_solutions import (
    CONNECTOR_TYPE,
    FreshdeskOptions,
    FreshdeskSolutionsConnector,
)
from bot.sources.protocol import ConnectorState
from tests.support.connectors import (
    FAST_RETRIES,
    after_sync,
    connector_env,
    documents,
    listing,
    unchanged,
)
from tests.support.helpdesk_articles import FreshdeskStub

API_KEY = "fd-api-key-51be"
PORTAL = "https://support.acme.example"


def article(id: int, folder: int, title: str, *, status: int = 2) -> dict[str, Any]:
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
            folder(12, "Internal runbooks", visibility=3),  # agents only
        ]
        stub.subfolders[10] = [folder(11, "Two-factor")]
        stub.articles[10] = [article(100 + i, 10, f"Sign-in help {i}") for i in range(5)]
        stub.articles[10].append(article(150, 10, "Half-written", status=1))  # draft
        stub.articles[11] = [article(300, 11, "Reset 2FA")]
        stub.articles[12] = [article(400, 12, "Escalation ladder")]
        yield stub


def connector(
    stub: FreshdeskStub, key: str = API_KEY, **options: Any
) -> FreshdeskSolutionsConnector:
    chosen = FreshdeskOptions(base_url=stub.url, portal_url=PORTAL, **options)
    return FreshdeskSolutionsConnector(chosen, SecretStr(key), connector_env(), FAST_RETRIES)


async def test_walks_categories_folders_and_link_pages(
    freshdesk: FreshdeskStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(freshdesk_solutions, "PAGE_SIZE", 2)
    found = documents(await listing(connector(freshdesk)))

    assert sorted(found) == ["100", "101", "102", "103", "104", "300"]
    assert found["101"].heading_path == ("Accounts", "Sign-in")
    assert found["300"].heading_path == ("Accounts", "Sign-in", "Two-factor")
    assert found["300"].url == f"{PORTAL}/support/solutions/articles/300"
    assert "what to do" in found["300"].body
    pages = [p for p in freshdesk.paths() if p == "/api/v2/solutions/folders/10/articles"]
    assert len(pages) == 3  # 6 articles, 2 a page, through Link: rel="next"
    assert not any("/folders/12/" in p for p in freshdesk.paths())  # agents-only folder


async def test_restricted_folders_only_when_asked(freshdesk: FreshdeskStub) -> None:
    found = documents(await listing(connector(freshdesk, include_restricted=True)))
    assert "400" in found and "150" not in found  # drafts never


async def test_translated_listing(freshdesk: FreshdeskStub) -> None:
    freshdesk.translated_articles["fr"] = {10: [article(100, 10, "Aide connexion")]}
    found = documents(await listing(connector(freshdesk, locales=["fr"])))
    assert set(found) == {"fr/100"}
    assert found["fr/100"].url == f"{PORTAL}/fr/support/solutions/articles/100"


async def test_unchanged_articles_are_reported_as_such(freshdesk: FreshdeskStub) -> None:
    state = ConnectorState()
    state = after_sync(state, await listing(connector(freshdesk), state))
    freshdesk.articles[11][0]["updated_at"] = "2026-11-22T09:00:00Z"
    second = await listing(connector(freshdesk), state)
    assert list(documents(second)) == ["300"]
    assert len(unchanged(second)) == 5


async def test_built_from_the_connector_type(freshdesk: FreshdeskStub) -> None:
    options = FreshdeskOptions(base_url=freshdesk.url)
    built = CONNECTOR_TYPE.build(options, connector_env({"api_key": API_KEY}))
    found = documents(await listing(built))
    assert found["300"].url == f"{freshdesk.url}/support/solutions/articles/300"
    with pytest.raises(InvalidRequest, match="api_key"):
        CONNECTOR_TYPE.build(options, connector_env())


async def test_wrong_api_key_is_a_clear_auth_error_without_the_secret(
    freshdesk: FreshdeskStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = connector(freshdesk, key="fd-stale-key-2222")
    with pytest.raises(SourceAuthFailed) as raised:
        await listing(source)
    assert "Freshdesk refused the credentials (401)" in raised.value.message
    assert len(freshdesk.requests) == 1
    for text in (str(raised.value), repr(raised.value), repr(vars(source)), caplog.text):
        assert "fd-stale-key-2222" not in text
