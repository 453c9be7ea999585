"""The website source through the real sync engine: the local help-center site (sitemap
index, robots.txt, redirects, duplicates, broken pages, chrome around every article), the
real EmbeddedSearch and the packaged MiniLM, embedder calls counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import SourceUnavailable
from bot.retrieval.embedded.search import EmbeddedSearch
from bot.sources.connected import ConnectedSources
from bot.sources.protocol import JsonValue
from bot.sources.secrets import SecretStore
from bot.sources.sync import SyncEngine, SyncParams
from tests.ingestion.test_ingest import CountingEmbedder, backend, counting, make_ingestor
from tests.support.website import BOILERPLATE_PHRASES, HelpSite, help_center, served

__all__ = ["backend", "counting"]  # fixtures re-used from the ingest tests

KB = "lumen"
AGENT = "supportbot-sync-test/1.0 (+https://example.com/bot)"
ARTICLES = [
    "/help/billing-invoices",
    "/help/export-data",
    "/help/mute-a-topic",
    "/help/print-messages",
    "/help/reset-password",
    "/help/retired-feature",
]


@pytest.fixture
def site() -> Iterator[HelpSite]:
    with served(help_center()) as running:
        yield running


def make_engine(
    tmp_path: Path, backend: EmbeddedSearch, embedder: CountingEmbedder, site: HelpSite
) -> tuple[SyncEngine, ConnectedSources]:
    sources = ConnectedSources(tmp_path / "data" / "sources.sqlite")
    params = SyncParams(tmp_path / "work", AGENT, 10.0)
    ingestor = make_ingestor(backend, embedder)  # type: ignore[arg-type]
    engine = SyncEngine(ingestor, sources, SecretStore(tmp_path / "secrets"), params, {})
    options: dict[str, JsonValue] = {
        "url": site.url("/sitemap.xml"),
        "requests_per_second": 100,
        "retries": 1,
    }
    sources.put(KB, "sitemap", options, {}, None)
    return engine, sources


async def chunk_texts(backend: EmbeddedSearch, query: str) -> list[str]:
    return [hit.chunk.text for hit in await backend.bm25(KB, query, 50)]


async def test_two_syncs_index_the_articles_cleanly_then_only_what_changed(
    tmp_path: Path, site: HelpSite, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting, site)

    first = await engine.sync(KB)
    assert first.status == "succeeded"
    assert {k: first.counts[k] for k in ("new", "updated", "deleted", "failed")} == {
        "new": 6, "updated": 0, "deleted": 0, "failed": 1,
    }  # fmt: skip
    assert sorted(await backend.document_hashes(KB)) == [site.url(path) for path in ARTICLES]
    assert list(first.failures) == [site.url("/help/broken")]
    for phrase in BOILERPLATE_PHRASES:  # chrome words are nowhere in the index
        assert not [t for t in await chunk_texts(backend, phrase) if phrase.lower() in t.lower()]
    limits = (await backend.bm25(KB, "muted topics per plan business unlimited", 1))[0].chunk
    assert limits.title == "Mute a topic"
    assert limits.heading_path == ("With the API", "Limits per plan")
    assert limits.url == site.url("/help/mute-a-topic")  # the canonical URL is the citation
    printing = (await backend.bm25(KB, "print conversation meeting minutes", 1))[0].chunk
    assert printing.url == site.url("/help/print-messages")  # not the ?from= duplicate
    assert {entry.user_agent for entry in site.log} == {AGENT}
    assert not site.requests_for("/help/internal/runbook")  # robots.txt: disallowed
    first_calls = sum(counting.calls)
    assert first_calls == first.counts["chunks_written"] > 0

    site.edit("/help/mute-a-topic", "Muted topics also stop sending email notifications.")
    site.edit("/help/reset-password", "Reset links now expire after two hours.", "2026-12-02")
    del site.pages["/help/retired-feature"]
    site.log.clear()
    counting.calls.clear()
    second = await engine.sync(KB)

    assert {k: second.counts[k] for k in ("new", "updated", "unchanged", "deleted")} == {
        "new": 0, "updated": 2, "unchanged": 3, "deleted": 1,
    }  # fmt: skip
    assert 2 <= sum(counting.calls) == second.counts["chunks_written"] < first_calls
    assert site.statuses_seen(304) == 5  # conditional requests answered "not modified"
    assert not site.requests_for("/help/print-messages")  # its sitemap lastmod held
    gone = await backend.bm25(KB, "classic themes palette redesign", 5)
    assert all(hit.chunk.url != site.url("/help/retired-feature") for hit in gone)
    edited = (await backend.bm25(KB, "stop sending email notifications", 1))[0].chunk
    assert edited.url == site.url("/help/mute-a-topic")
    assert [run.status for run in sources.history(KB)] == ["succeeded", "succeeded"]


async def test_a_500_storm_deletes_nothing_and_the_next_sync_completes(
    tmp_path: Path, site: HelpSite, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting, site)
    await engine.sync(KB)
    indexed = await backend.document_hashes(KB)
    del site.pages["/help/retired-feature"]
    site.storm = True

    with pytest.raises(SourceUnavailable, match="could not be fetched"):
        await engine.sync(KB)
    assert await backend.document_hashes(KB) == indexed
    assert sources.history(KB)[0].status == "failed"

    site.storm = False
    done = await engine.sync(KB)
    assert done.status == "succeeded" and done.counts["deleted"] == 1
    assert sorted(await backend.document_hashes(KB)) == [
        site.url(path) for path in ARTICLES if path != "/help/retired-feature"
    ]
