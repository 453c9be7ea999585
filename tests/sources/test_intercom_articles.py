"""Intercom connector (through Intercom's SDK) against a local server that follows the
Articles and Help Center Collections APIs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.errors import InvalidRequest, SourceAuthFailed, SourceUnavailable
from bot.sources.connectors import intercom_articles
from bot.sources.connectors.intercom_articles import (
    CONNECTOR_TYPE,
    IntercomArticlesConnector,
    IntercomOptions,
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
from tests.support.helpdesk_articles import IntercomStub, Request

TOKEN = "ic-access-token-9d2e"


def article(id: int, collection: str, title: str, *, state: str = "published") -> dict[str, Any]:
    slug = title.lower().replace(" ", "-")
    url = f"https://intercom.help/acme/en/articles/{id}-{slug}" if state == "published" else None
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
        "url": url,
        "parent_id": int(collection),
        "parent_ids": [int(collection)],
        "parent_type": "collection",
        "default_locale": "en",
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
        first = stub.articles[0]
        french = {
            "type": "article_content",
            "title": "Étape",
            "body": "<p>Étape</p>",
            "state": "published",
            "updated_at": 1_790_000_100,
            "url": "https://intercom.help/acme/fr/articles/1-etape",
        }
        english = {k: first[k] for k in ("title", "body", "state", "updated_at", "url")}
        first["translated_content"] = {
            "type": "article_translated_content",
            "en": {"type": "article_content", **english},
            "fr": french,
        }
        yield stub


def connector(stub: IntercomStub, token: str = TOKEN, **options: Any) -> IntercomArticlesConnector:
    chosen = IntercomOptions(base_url=stub.url, **options)
    return IntercomArticlesConnector(chosen, SecretStr(token), connector_env(), FAST_RETRIES)


async def test_lists_published_articles_across_pages(
    intercom: IntercomStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intercom_articles, "PAGE_SIZE", 3)
    found = documents(await listing(connector(intercom)))

    assert sorted(found, key=int) == [str(i) for i in range(1, 8)]  # the draft is left out
    assert found["3"].heading_path == ("Getting started", "Mobile app")
    assert found["2"].heading_path == ("Getting started",)
    assert found["3"].url == "https://intercom.help/acme/en/articles/3-setup-step-3"
    assert found["3"].body_format == "html" and "step by step" in found["3"].body
    # 8 articles, 3 a page, then page 1 again to check nothing moved while listing
    assert len([p for p in intercom.paths() if p == "/articles"]) == 4
    assert {r.headers["user-agent"] for r in intercom.requests} == {USER_AGENT}


async def test_translations_when_locales_are_asked(intercom: IntercomStub) -> None:
    found = documents(await listing(connector(intercom, locales=["en", "fr"])))
    assert set(found) == {"en/1", "fr/1"}  # only article 1 has translated_content here
    assert found["fr/1"].title == "Étape" and found["fr/1"].locale == "fr"
    assert found["fr/1"].url == "https://intercom.help/acme/fr/articles/1-etape"


async def test_unchanged_articles_are_reported_as_such(intercom: IntercomStub) -> None:
    state = ConnectorState()
    state = after_sync(state, await listing(connector(intercom), state))
    intercom.articles[4]["updated_at"] += 500
    intercom.articles[4]["body"] = "<p>Rewritten.</p>"
    second = await listing(connector(intercom), state)
    assert list(documents(second)) == ["5"]
    assert len(unchanged(second)) == 6


async def test_built_from_the_connector_type(intercom: IntercomStub) -> None:
    options = IntercomOptions(base_url=intercom.url)
    built = CONNECTOR_TYPE.build(options, connector_env({"access_token": TOKEN}))
    assert len(documents(await listing(built))) == 7
    with pytest.raises(InvalidRequest, match="access_token"):
        CONNECTOR_TYPE.build(options, connector_env())


async def test_revoked_token_is_a_clear_auth_error_without_the_secret(
    intercom: IntercomStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = connector(intercom, token="ic-revoked-token-1111")
    with pytest.raises(SourceAuthFailed) as raised:
        await listing(source)
    assert "Intercom refused the credentials (401)" in raised.value.message
    assert len(intercom.requests) == 1
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    for text in [*map(str, chain), *map(repr, chain), repr(vars(source)), caplog.text]:
        assert "ic-revoked-token-1111" not in text


async def test_articles_edited_mid_listing_make_it_incomplete(
    intercom: IntercomStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offset pages over a list sorted by updated_at: an edit moves an article to page 1
    and shifts the others, so one would be skipped (then deleted as gone) unnoticed."""
    monkeypatch.setattr(intercom_articles, "PAGE_SIZE", 3)

    def edit_after_first_page(request: Request) -> None:
        if request.path == "/articles" and request.query.get("page") == "2":
            intercom.articles[0]["updated_at"] += 10_000  # the oldest becomes the newest

    intercom.on_request = edit_after_first_page
    with pytest.raises(SourceUnavailable, match="changed while they were being listed"):
        await listing(connector(intercom))
    intercom.on_request = None
    assert len(documents(await listing(connector(intercom)))) == 7  # a quiet listing completes
