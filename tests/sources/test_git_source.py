"""The Git source through the real sync engine: a local bare repository with commits
between syncs, the real EmbeddedSearch and the packaged MiniLM (embedder calls counted)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bot.errors import ListingTooSmall, SourceAuthFailed, SourceUnavailable
from bot.jobs.inprocess import InProcessJobRunner
from bot.jobs.protocol import JobState
from bot.jobs.work import JobContext, run_job
from bot.retrieval.embedded.search import EmbeddedSearch
from bot.sources.connected import ConnectedSources
from bot.sources.registry import SourceRegistry
from bot.sources.scheduler import InProcessSyncScheduler
from bot.sources.secrets import SecretStore
from bot.sources.sync import SyncEngine, SyncParams
from tests.ingestion.test_ingest import CountingEmbedder, backend, counting, make_ingestor
from tests.support.git_repo import GitRemote

__all__ = ["backend", "counting"]  # fixtures re-used from the ingest tests

KB = "docs"
TEMPLATE = "https://example.com/help/{path_without_ext}"
HELP = {
    "README.md": "# Contributing\n\nHow to edit these docs.\n",
    "help/.supportbotignore": "drafts/\n",
    "help/mute-a-topic.md": "# Mute a topic\n\n{!mute-intro.md!}\n\n## How\n\nPress Shift + M.\n",
    "help/include/mute-intro.md": "Muting a topic hides its unread counts from the sidebar.\n",
    "help/billing/refunds.md": "---\ntitle: Refunds\n---\nRefunds reach your card in ten days.\n",
    "help/billing/index.md": "# Billing\n\nInvoices are sent on the first of the month.\n",
    "help/reset-password.html": "<title>Reset your password</title><h1>Reset your password</h1>"
    "<p>Use the forgot password link on the login page.</p>",
    "help/drafts/new-pricing.md": "# New pricing\n\nNot announced yet.\n",
    "help/logo.png": "not a document",
}
ARTICLES = ["billing/index.md", "billing/refunds.md", "mute-a-topic.md", "reset-password.html"]


@pytest.fixture
def remote(tmp_path: Path) -> GitRemote:
    repo = GitRemote(tmp_path / "git")
    repo.commit(dict(HELP))
    return repo


def make_engine(
    tmp_path: Path, backend: EmbeddedSearch, embedder: CountingEmbedder, **environ: str
) -> tuple[SyncEngine, ConnectedSources]:
    sources = ConnectedSources(tmp_path / "data" / "sources.sqlite")
    params = SyncParams(tmp_path / "work", "supportbot-test", 10.0)
    ingestor = make_ingestor(backend, embedder)  # type: ignore[arg-type]
    engine = SyncEngine(ingestor, sources, SecretStore(tmp_path / "secrets"), params, environ)
    return engine, sources


def git_options(remote: GitRemote, **extra: object) -> dict[str, object]:
    return {"url": str(remote.bare), "folder": "help", "url_template": TEMPLATE, **extra}


async def test_two_syncs_index_the_folder_then_only_what_changed(
    tmp_path: Path, remote: GitRemote, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting)
    sources.put(KB, "git", git_options(remote), {}, None)

    first = await engine.sync(KB)
    assert first.status == "succeeded"
    assert first.counts | {"chunks_written": 0} == {
        "listed": 4, "new": 4, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0,
        "chunks_written": 0,
    }  # fmt: skip
    assert sorted(await backend.document_hashes(KB)) == ARTICLES  # no README, draft, fragment
    hits = await backend.bm25(KB, "unread counts sidebar", 3)
    assert hits[0].chunk.source_id == "mute-a-topic.md"  # include expanded into its article
    assert hits[0].chunk.url == "https://example.com/help/mute-a-topic"
    refunds = await backend.bm25(KB, "refunds card", 1)
    assert (refunds[0].chunk.title, refunds[0].chunk.url) == (
        "Refunds", "https://example.com/help/billing/refunds"
    )  # fmt: skip
    index = await backend.bm25(KB, "invoices first of the month", 1)
    assert index[0].chunk.url == "https://example.com/help/billing"
    first_calls = sum(counting.calls)

    remote.commit(
        {
            "help/include/mute-intro.md": "Muting a topic hides it from the inbox view.\n",
            "help/billing/refunds.md": None,
            "help/api-keys.md": "# API keys\n\nCreate an API key under Settings › Bots.\n",
        }
    )
    counting.calls.clear()
    second = await engine.sync(KB)
    assert {k: second.counts[k] for k in ("new", "updated", "unchanged", "deleted", "failed")} == {
        "new": 1, "updated": 1, "unchanged": 2, "deleted": 1, "failed": 0,
    }  # fmt: skip
    # Only the chunks of the two changed articles were embedded.
    assert first_calls == first.counts["chunks_written"]
    assert 2 <= sum(counting.calls) == second.counts["chunks_written"] < first_calls
    gone = await backend.bm25(KB, "refunds card ten days", 3)
    assert all(hit.chunk.source_id != "billing/refunds.md" for hit in gone)
    inbox = await backend.bm25(KB, "inbox view", 1)
    assert inbox[0].chunk.source_id == "mute-a-topic.md"

    history = sources.history(KB)
    assert [run.status for run in history] == ["succeeded", "succeeded"]
    assert history[0].counts == second.counts and history[1].counts == first.counts

    counting.calls.clear()
    third = await engine.sync(KB)  # nothing committed: nothing parsed or embedded
    assert (third.counts["unchanged"], counting.calls) == (4, [])


async def test_a_failed_fetch_deletes_nothing_and_the_next_sync_completes(
    tmp_path: Path, remote: GitRemote, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting)
    sources.put(KB, "git", git_options(remote), {}, None)
    await engine.sync(KB)
    before = await backend.document_hashes(KB)

    sources.put(KB, "git", git_options(remote, url=str(tmp_path / "moved.git")), {}, None)
    with pytest.raises(SourceUnavailable, match=r"moved\.git"):
        await engine.sync(KB)
    assert await backend.document_hashes(KB) == before
    failed = sources.history(KB)[0]
    assert failed.status == "failed" and failed.error and "source_unavailable" in failed.error

    remote.commit({"help/mute-a-topic.md": None})
    sources.put(KB, "git", git_options(remote), {}, None)
    done = await engine.sync(KB)
    assert (done.status, done.counts["deleted"]) == ("succeeded", 1)
    assert sorted(await backend.document_hashes(KB)) == sorted(set(before) - {"mute-a-topic.md"})


async def test_a_listing_far_smaller_than_the_last_is_refused_unless_forced(
    tmp_path: Path, remote: GitRemote, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting)
    sources.put(KB, "git", git_options(remote), {}, None)
    await engine.sync(KB)
    remote.commit({f"help/{name}": None for name in ARTICLES[:3]})

    with pytest.raises(ListingTooSmall, match="--force"):
        await engine.sync(KB)
    assert sorted(await backend.document_hashes(KB)) == ARTICLES
    forced = await engine.sync(KB, force=True)
    assert (forced.counts["deleted"], forced.forced) == (3, True)
    assert sorted(await backend.document_hashes(KB)) == ["reset-password.html"]


class _AuthRecorder(BaseHTTPRequestHandler):
    """A Git smart-HTTP endpoint that rejects every request, remembering the headers."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization", ""))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def git_http() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AuthRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/help.git"
    server.shutdown()
    server.server_close()


async def test_a_token_from_the_environment_is_sent_as_a_header_and_never_shown(
    tmp_path: Path,
    git_http: str,
    backend: EmbeddedSearch,
    counting: CountingEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "ghp_s3cret-T0KEN-value"
    engine, sources = make_engine(tmp_path, backend, counting, DOCS_TOKEN=token)
    sources.put(KB, "git", {"url": git_http}, {"token": {"env": "DOCS_TOKEN"}}, None)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceAuthFailed) as failure:
        await engine.sync(KB)
    assert _AuthRecorder.seen and all(h.startswith("Basic ") for h in _AuthRecorder.seen)
    run = sources.history(KB)[0]
    shown = [failure.value.message, str(failure.value), run.error or "", caplog.text]
    assert all(token not in text for text in shown)
    assert token not in (tmp_path / "data" / "sources.sqlite").read_bytes().decode("latin-1")

    engine, sources = make_engine(tmp_path / "unset", backend, counting)
    sources.put(KB, "git", {"url": git_http}, {"token": {"env": "DOCS_TOKEN"}}, None)
    with pytest.raises(SourceAuthFailed, match="DOCS_TOKEN, which is not set"):
        await engine.sync(KB)


async def test_the_in_process_scheduler_syncs_a_source_when_its_interval_is_due(
    tmp_path: Path, remote: GitRemote, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    engine, sources = make_engine(tmp_path, backend, counting)
    registry = SourceRegistry(tmp_path / "data" / "sources.sqlite")
    context = JobContext(backend, engine._ingestor, registry, engine, sources)
    runner = InProcessJobRunner(lambda spec, progress: run_job(spec, context, progress))
    scheduler = InProcessSyncScheduler(runner, sources, 60)
    assert await scheduler.tick() is None  # no source yet
    sources.put(KB, "git", git_options(remote), {}, 3600)

    job = await scheduler.tick()
    assert job is not None and job.kind == "sync_due"
    assert await scheduler.tick() is None  # one sync_due job at a time
    done = await _finished(runner, job.id)
    assert done.state == "succeeded" and done.result
    assert sources.history(KB)[0].counts["new"] == 4
    assert await scheduler.tick() is None  # synced just now: not due for an hour

    sources.mark_attempt(KB, time.time() - 3601)  # an hour has passed
    again = await scheduler.tick()
    assert again is not None
    assert (await _finished(runner, again.id)).state == "succeeded"
    assert sources.history(KB)[0].counts["unchanged"] == 4
    await runner.close()


async def _finished(runner: InProcessJobRunner, job_id: str) -> JobState:
    for _ in range(600):
        state = await runner.get(job_id)
        if state.finished:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")
