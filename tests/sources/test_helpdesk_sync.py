"""Zendesk Guide, Intercom and Freshdesk through the real sync engine: each against a local
server following its documented API, the real EmbeddedSearch and the packaged MiniLM
(embedder calls counted). Every test runs once per helpdesk."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import SourceAuthFailed, SourceUnavailable
from bot.retrieval.embedded.search import EmbeddedSearch
from bot.sources.connected import ConnectedSources
from bot.sources.connectors import freshdesk_solutions, http, intercom_articles, zendesk_guide
from bot.sources.secrets import SecretStore
from bot.sources.sync import SyncEngine, SyncParams
from tests.ingestion.test_ingest import CountingEmbedder, backend, counting, make_ingestor
from tests.support.connectors import FAST_RETRIES
from tests.support.help_centers import ARTICLES, HELP_CENTERS, PLACES, HelpCenter

__all__ = ["backend", "counting"]  # fixtures re-used from the ingest tests

KB = "helpdesk"
TOKEN_VARIABLE = "HELPDESK_TOKEN"
PUBLISHED = [a for a in ARTICLES if a.published]


@pytest.fixture(params=sorted(HELP_CENTERS))
def help_center(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HelpCenter]:
    """A started stub serving the shared articles, listed two to a page."""
    for module in (zendesk_guide, intercom_articles, freshdesk_solutions):
        monkeypatch.setattr(module, "PAGE_SIZE", 2)
    monkeypatch.setattr(http, "DEFAULT_RETRY", FAST_RETRIES)
    center = HELP_CENTERS[request.param]()
    with center.stub:
        center.publish(*ARTICLES)
        yield center


def make_engine(
    tmp_path: Path, backend: EmbeddedSearch, embedder: CountingEmbedder, center: HelpCenter
) -> tuple[SyncEngine, ConnectedSources]:
    sources = ConnectedSources(tmp_path / "data" / "sources.sqlite")
    params = SyncParams(tmp_path / "work", "supportbot-test", 10.0)
    ingestor = make_ingestor(backend, embedder)  # type: ignore[arg-type]
    environ = {TOKEN_VARIABLE: center.secret_value}
    engine = SyncEngine(ingestor, sources, SecretStore(tmp_path / "secrets"), params, environ)
    secrets = {center.secret_name: {"env": TOKEN_VARIABLE}}
    sources.put(KB, center.kind, center.options(), secrets, None)
    return engine, sources


def counts(run: object) -> dict[str, int]:
    found = run.counts  # type: ignore[attr-defined]
    return {k: found[k] for k in ("new", "updated", "unchanged", "deleted", "failed")}


async def test_first_sync_indexes_the_published_articles_with_paths_and_public_links(
    tmp_path: Path, help_center: HelpCenter, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, _ = make_engine(tmp_path, backend, counting, help_center)
    run = await engine.sync(KB)

    assert counts(run) == {"new": 5, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0}
    assert sorted(await backend.document_hashes(KB)) == sorted(
        help_center.key(a.id) for a in PUBLISHED
    )
    for article in PUBLISHED:
        hits = await backend.bm25(KB, article.text, 1)
        chunk = hits[0].chunk
        assert chunk.source_id == help_center.key(article.id)
        assert chunk.title == article.title
        assert chunk.url == help_center.citation(article.id)
        assert chunk.heading_path[: len(PLACES[article.place])] == PLACES[article.place]
    draft = await backend.bm25(KB, "confidential tariff ninety-nine dollars", 5)
    assert all(hit.chunk.source_id != help_center.key(190) for hit in draft)


async def test_a_second_sync_embeds_only_what_changed_and_deletes_what_was_removed(
    tmp_path: Path, help_center: HelpCenter, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting, help_center)
    first = await engine.sync(KB)
    first_calls = sum(counting.calls)

    help_center.edit(104, "Invoices now arrive by email on the first working day of the month.")
    help_center.remove(105)
    counting.calls.clear()
    second = await engine.sync(KB)

    assert counts(second) == {"new": 0, "updated": 1, "unchanged": 3, "deleted": 1, "failed": 0}
    assert 1 <= sum(counting.calls) == second.counts["chunks_written"] < first_calls
    refunds = await backend.bm25(KB, "refunds card ten business days", 5)
    assert all(hit.chunk.source_id != help_center.key(105) for hit in refunds)
    invoices = await backend.bm25(KB, "invoices email first working day", 1)
    assert invoices[0].chunk.source_id == help_center.key(104)
    assert [r.status for r in sources.history(KB)] == ["succeeded", "succeeded"]
    assert sources.history(KB)[1].counts == first.counts

    counting.calls.clear()
    third = await engine.sync(KB)
    assert (third.counts["unchanged"], counting.calls) == (4, [])


async def test_a_500_storm_mid_sync_deletes_nothing_and_the_next_sync_completes(
    tmp_path: Path, help_center: HelpCenter, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting, help_center)
    await engine.sync(KB)
    before = await backend.document_hashes(KB)

    help_center.remove(101)
    help_center.edit(103, "Open Settings, Security, then scan the QR code again.")
    served = len(help_center.stub.requests)
    help_center.stub.fail(500, 100, after=3)  # some pages answer, then every request fails
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        await engine.sync(KB)
    assert len(help_center.stub.requests) > served + 3  # it did retry
    assert await backend.document_hashes(KB) == before  # nothing deleted, nothing half-done
    failed = sources.history(KB)[0]
    assert failed.status == "failed" and failed.error and "source_unavailable" in failed.error

    help_center.stub.fail(500, 0)
    done = await engine.sync(KB)
    assert done.status == "succeeded"
    assert (done.counts["deleted"], done.counts["updated"]) == (1, 1)
    assert help_center.key(101) not in await backend.document_hashes(KB)


async def test_a_429_is_waited_out_as_retry_after_says(
    tmp_path: Path, help_center: HelpCenter, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, _ = make_engine(tmp_path, backend, counting, help_center)
    help_center.stub.fail(429, 1, after=2, retry_after="1")
    started = time.monotonic()
    run = await engine.sync(KB)
    assert time.monotonic() - started >= 1.0
    assert run.counts["new"] == 5


async def test_expired_credentials_fail_clearly_delete_nothing_and_never_show_the_secret(
    tmp_path: Path,
    help_center: HelpCenter,
    backend: EmbeddedSearch,
    counting: CountingEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine, sources = make_engine(tmp_path, backend, counting, help_center)
    await engine.sync(KB)
    before = await backend.document_hashes(KB)

    help_center.refuse_credentials()
    with pytest.raises(SourceAuthFailed, match=r"refused the credentials \(401\)") as failure:
        await engine.sync(KB)
    assert await backend.document_hashes(KB) == before
    run = sources.history(KB)[0]
    assert run.status == "failed" and run.error and "source_auth_failed" in run.error
    secret = help_center.secret_value
    shown = [failure.value.message, str(failure.value), repr(failure.value), run.error, caplog.text]
    assert all(secret not in text for text in shown)
    stored = (tmp_path / "data" / "sources.sqlite").read_bytes().decode("latin-1")
    assert secret not in stored
