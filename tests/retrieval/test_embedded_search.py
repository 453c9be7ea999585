"""EmbeddedSearch: the backend contract, plus what only an embedded SQLite file has to prove.

Persistence across reopen, cleanup after a process dies mid-rebuild, readers during
writes, and cache invalidation between two processes sharing the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from bot.domain import Chunk, DocumentChunks, EmbeddedChunk
from bot.errors import BackendUnavailable, ConfigurationError, IngestionError
from bot.retrieval.embedded.fts_query import build_match_expression
from bot.retrieval.embedded.search import EmbeddedSearch
from bot.retrieval.embedded.sqlite_db import DB_FILENAME
from bot.retrieval.terms import MAX_QUERY_TERMS, query_terms
from tests.conftest import REPO_ROOT
from tests.support.search_contract import (
    DIM,
    INFO,
    SearchBackendContract,
    make_document,
    source_ids,
    vector_for,
)


class TestEmbeddedSearchContract(SearchBackendContract):
    @pytest.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[EmbeddedSearch]:
        search = EmbeddedSearch(tmp_path / "data")
        yield search
        await search.close()


@pytest.fixture
async def search(tmp_path: Path) -> AsyncIterator[EmbeddedSearch]:
    backend = EmbeddedSearch(tmp_path / "data")
    await backend.ensure_kb("alpha", INFO)
    yield backend
    await backend.close()


def index_states(data_dir: Path) -> tuple[list[str], list[str]]:
    """(index states, FTS tables) as stored, read straight from the SQLite file."""
    with closing(sqlite3.connect(data_dir / DB_FILENAME)) as conn:
        states = [state for (state,) in conn.execute("SELECT state FROM indexes ORDER BY state")]
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE name GLOB 'fts_[0-9]*' "
                "AND name NOT GLOB 'fts_*_*'"
            )
        ]
    return states, tables


# -- query building ----------------------------------------------------------------------
def test_query_keeps_content_words_quoted_and_ored() -> None:
    assert query_terms("How do I stop getting EMAILS, emails??") == ["stop", "emails"]
    assert build_match_expression("How do I mute a topic?") == '"mute"* OR "topic"*'
    assert build_match_expression('turn off "AND" NEAR(x)') == '"turn"* OR "off" OR "near"* OR "x"'


def test_query_of_only_stopwords_or_symbols_is_empty() -> None:
    for text in ["", "how do i?", "🎉 -- ** ()", "_"]:
        assert build_match_expression(text) is None


def test_query_terms_are_bounded() -> None:
    text = " ".join(f"term{i}" for i in range(200))
    assert len(query_terms(text)) == MAX_QUERY_TERMS


async def test_prefix_terms_find_longer_words(search: EmbeddedSearch) -> None:
    await search.upsert_documents("alpha", [make_document("alpha", "n", "Notifications setup")])
    assert source_ids(await search.bm25("alpha", "notif", 5)) == ["n"]


async def test_column_weights_come_from_the_constructor(tmp_path: Path) -> None:
    backend = EmbeddedSearch(tmp_path / "w", title_weight=0.1, headings_weight=0.1, body_weight=5)
    await backend.ensure_kb("alpha", INFO)
    await backend.upsert_documents(
        "alpha",
        [
            make_document("alpha", "title", "Nothing related here.", title="Walrus"),
            make_document("alpha", "body", "A walrus lives here.", title="Animals"),
        ],
    )
    assert source_ids(await backend.bm25("alpha", "walrus", 5)) == ["body", "title"]
    await backend.close()


# -- writes --------------------------------------------------------------------------------
async def test_malformed_documents_are_refused_with_reasons(search: EmbeddedSearch) -> None:
    def chunk(kb: str, source_id: str, ordinal: int) -> Chunk:
        return Chunk(kb, source_id, ordinal, "T", (), "walrus", None, "h")

    documents = [
        DocumentChunks(
            "zero", "h", [EmbeddedChunk(chunk("alpha", "zero", 0), np.zeros(DIM, dtype=np.float32))]
        ),
        DocumentChunks("kb", "h", [EmbeddedChunk(chunk("beta", "kb", 0), vector_for("a"))]),
        DocumentChunks("src", "h", [EmbeddedChunk(chunk("alpha", "other", 0), vector_for("a"))]),
        DocumentChunks(
            "dup",
            "h",
            [EmbeddedChunk(chunk("alpha", "dup", 0), vector_for(str(i))) for i in range(2)],
        ),
    ]
    report = await search.upsert_documents("alpha", documents)
    assert report.written == ()
    assert "zeros" in report.failed["zero"]
    assert "'beta'" in report.failed["kb"]
    assert "'other'" in report.failed["src"]
    assert "twice" in report.failed["dup"]
    assert (await search.stats("alpha")).documents == 0


async def test_document_without_chunks_is_recorded(search: EmbeddedSearch) -> None:
    empty = DocumentChunks(source_id="empty", doc_hash="h0", chunks=[])
    assert (await search.upsert_documents("alpha", [empty])).written == ("empty",)
    assert await search.document_hashes("alpha") == {"empty": "h0"}


# -- persistence and crashes -------------------------------------------------------------
async def test_index_survives_reopening(tmp_path: Path) -> None:
    first = EmbeddedSearch(tmp_path / "data")
    await first.ensure_kb("alpha", INFO)
    document = make_document("alpha", "guide", "walrus tusks", "narwhal horns")
    await first.upsert_documents("alpha", [document])
    before = (await first.stats("alpha"), await first.knn("alpha", vector_for("x"), 5, INFO))
    await first.close()

    second = EmbeddedSearch(tmp_path / "data")
    assert await second.stats("alpha") == before[0]
    assert await second.knn("alpha", vector_for("x"), 5, INFO) == before[1]
    assert source_ids(await second.bm25("alpha", "narwhal", 5)) == ["guide"]
    assert await second.document_hashes("alpha") == {"guide": document.doc_hash}
    await second.close()


CRASHING_REBUILD = """
import asyncio, os, sys
from pathlib import Path
from bot.retrieval.embedded.search import EmbeddedSearch
from tests.support.search_contract import INFO, make_document

async def main():
    search = EmbeddedSearch(Path(sys.argv[1]))
    build = await search.begin_rebuild("alpha", INFO)
    await build.write([make_document("alpha", "new", "narwhal")])
    os._exit(3)  # die without commit, abort or close

asyncio.run(main())
"""


def crash_during_rebuild(data_dir: Path) -> None:
    script = textwrap.dedent(CRASHING_REBUILD)
    result = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)], cwd=REPO_ROOT, capture_output=True
    )
    assert result.returncode == 3, result.stderr.decode()


async def seed_old_index(data_dir: Path) -> None:
    backend = EmbeddedSearch(data_dir)
    await backend.ensure_kb("alpha", INFO)
    await backend.upsert_documents("alpha", [make_document("alpha", "old", "walrus")])
    await backend.close()


async def test_crashed_rebuild_is_dropped_at_next_open(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await seed_old_index(data_dir)
    crash_during_rebuild(data_dir)
    assert index_states(data_dir)[0] == ["live", "staging"]

    reopened = EmbeddedSearch(data_dir, stale_build_after_s=0)
    assert source_ids(await reopened.bm25("alpha", "walrus", 5)) == ["old"]
    assert await reopened.bm25("alpha", "narwhal", 5) == []
    states, tables = index_states(data_dir)
    assert states == ["live"] and len(tables) == 1
    await reopened.close()


async def test_crashed_rebuild_is_dropped_by_the_next_rebuild(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await seed_old_index(data_dir)
    crash_during_rebuild(data_dir)

    reopened = EmbeddedSearch(data_dir)  # the crash is recent: not yet considered stale
    assert index_states(data_dir)[0] == ["live", "staging"]
    build = await reopened.begin_rebuild("alpha", INFO)
    assert index_states(data_dir)[0] == ["live", "staging"]  # the new one, not both
    await build.write([make_document("alpha", "newer", "beluga")])
    assert (await build.commit()).documents == 1
    assert index_states(data_dir) == (["live"], index_states(data_dir)[1])
    assert len(index_states(data_dir)[1]) == 1
    await reopened.close()


async def test_newer_rebuild_supersedes_an_open_one(search: EmbeddedSearch) -> None:
    first = await search.begin_rebuild("alpha", INFO)
    second = await search.begin_rebuild("alpha", INFO)
    with pytest.raises(IngestionError, match="no longer staged"):
        await first.write([make_document("alpha", "a", "walrus")])
    await second.write([make_document("alpha", "b", "walrus")])
    with pytest.raises(IngestionError):
        await first.commit()
    await second.commit()
    assert source_ids(await search.bm25("alpha", "walrus", 5)) == ["b"]


# -- concurrency ---------------------------------------------------------------------------
async def test_readers_never_see_a_half_replaced_document(search: EmbeddedSearch) -> None:
    versions = {
        1: make_document("alpha", "doc", *[f"zebra v1 part {i}" for i in range(3)], version="1"),
        2: make_document("alpha", "doc", *[f"zebra v2 part {i}" for i in range(5)], version="2"),
    }
    await search.upsert_documents("alpha", [versions[1]])
    writing = True
    seen: list[tuple[int, set[str]]] = []

    async def writer() -> None:
        nonlocal writing
        for round_ in range(40):
            await search.upsert_documents("alpha", [versions[2 - round_ % 2]])
        writing = False

    async def reader(use_knn: bool) -> None:
        while writing:
            if use_knn:
                hits = await search.knn("alpha", vector_for("zebra"), 50, INFO)
            else:
                hits = await search.bm25("alpha", "zebra", 50)
            seen.append((len(hits), {hit.chunk.text.split()[1] for hit in hits}))

    await asyncio.gather(writer(), reader(False), reader(True), reader(False))
    assert len(seen) >= 20
    assert all(snapshot in [(3, {"v1"}), (5, {"v2"})] for snapshot in seen), seen


async def test_a_second_process_sees_writes(tmp_path: Path) -> None:
    reader, writer = EmbeddedSearch(tmp_path / "data"), EmbeddedSearch(tmp_path / "data")
    await writer.ensure_kb("alpha", INFO)
    await writer.upsert_documents("alpha", [make_document("alpha", "a", "walrus")])
    assert source_ids(await reader.knn("alpha", vector_for("q"), 5, INFO)) == ["a"]
    await writer.upsert_documents("alpha", [make_document("alpha", "b", "narwhal")])
    assert sorted(source_ids(await reader.knn("alpha", vector_for("q"), 5, INFO))) == ["a", "b"]
    await writer.delete_kb("alpha")
    assert await reader.list_kbs() == []
    await reader.close()
    await writer.close()


async def test_a_rewritten_document_is_served_new_after_a_cached_search(tmp_path: Path) -> None:
    """Cached chunks belong to one generation: a rewrite (here by another process, whose
    new row may reuse the old row id) is seen by the next BM25 and kNN search."""
    reader, writer = EmbeddedSearch(tmp_path / "data"), EmbeddedSearch(tmp_path / "data")
    await writer.ensure_kb("alpha", INFO)
    await writer.upsert_documents("alpha", [make_document("alpha", "a", "walrus one")])
    assert [h.chunk.text for h in await reader.bm25("alpha", "walrus", 5)] == ["walrus one"]
    assert [h.chunk.text for h in await reader.knn("alpha", vector_for("q"), 5, INFO)] == [
        "walrus one"
    ]
    rewritten = make_document("alpha", "a", "walrus two", version="2")
    await writer.upsert_documents("alpha", [rewritten])
    assert [h.chunk.text for h in await reader.bm25("alpha", "walrus", 5)] == ["walrus two"]
    assert [h.chunk.text for h in await reader.knn("alpha", vector_for("q"), 5, INFO)] == [
        "walrus two"
    ]
    await reader.close()
    await writer.close()


# -- failures ------------------------------------------------------------------------------
async def test_closed_backend_says_so(search: EmbeddedSearch) -> None:
    await search.close()
    assert await search.ping() is False
    with pytest.raises(BackendUnavailable, match="closed"):
        await search.bm25("alpha", "walrus", 5)


async def test_unusable_data_dir_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    backend = EmbeddedSearch(blocker)
    assert await backend.ping() is False
    with pytest.raises(BackendUnavailable, match="SUPPORTBOT_DATA_DIR"):
        await backend.list_kbs()


async def test_a_file_of_another_store_version_is_refused(tmp_path: Path) -> None:
    await seed_old_index(tmp_path / "data")
    with closing(sqlite3.connect(tmp_path / "data" / DB_FILENAME)) as conn, conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'store_schema'")
    backend = EmbeddedSearch(tmp_path / "data")
    assert await backend.ping() is False
    with pytest.raises(ConfigurationError, match="store schema 999"):
        await backend.list_kbs()
