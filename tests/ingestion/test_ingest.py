"""Ingestor against the real EmbeddedSearch and real MiniLM weights: incremental ingest,
failures that lose nothing, batching, progress, token vectors and full rebuilds."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.domain import IndexInfo, Vector
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import IngestionError
from bot.rerank.token_store import SqliteTokenVectorStore
from bot.retrieval.embedded.search import EmbeddedSearch
from ingestion.chunking import Chunker
from ingestion.collect import collect_documents
from ingestion.ingest import Ingestor
from ingestion.parsing import DocumentParser
from ingestion.report import IngestProgress
from ingestion.sources import open_source

KB = "acme"

HELP_CENTER: dict[str, str | bytes] = {
    "mute-a-topic.md": "# Mute a topic\n\n{!mute-intro.md!}\n\n## How\n\nPress Shift + M.\n",
    "include/mute-intro.md": "Muting a topic hides its unread counts from the left sidebar.\n",
    "billing/refunds.md": "---\ntitle: Refunds\n---\nRefunds reach your card within ten days.\n",
    "reset-password.html": "<title>Reset your password</title><h1>Reset your password</h1>"
    "<p>Use the forgot password link on the login page.</p>",
    "opening-hours.txt": "Opening hours\n\nSupport answers on weekdays from nine to five.\n",
}


class CountingEmbedder:
    """The real embedder, recording how many texts each embedding call received."""

    def __init__(self, inner: SentenceTransformerEmbedder, fail_on_call: int | None = None):
        self._inner = inner
        self.model_id = inner.model_id
        self.calls: list[int] = []
        self._fail_on_call = fail_on_call

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def index_info(self) -> IndexInfo:
        return self._inner.index_info()

    def warm_up(self) -> None:
        self._inner.warm_up()

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)

    def _record(self, texts: Sequence[str]) -> None:
        self.calls.append(len(texts))
        if self._fail_on_call is not None and len(self.calls) >= self._fail_on_call:
            raise RuntimeError("embedding worker died")

    def embed_documents(self, texts: Sequence[str]) -> Vector:
        self._record(texts)
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vector:
        return self._inner.embed_query(text)

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[Vector, list[Vector]]:
        self._record(texts)
        return self._inner.embed_documents_with_tokens(texts)


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[EmbeddedSearch]:
    search = EmbeddedSearch(tmp_path / "data")
    yield search
    await search.close()


@pytest.fixture
def counting(embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def make_ingestor(
    backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder, **options: object
) -> Ingestor:
    chunker = Chunker(embedder, target_tokens=256, max_tokens=320, overlap=0.15)
    return Ingestor(backend, embedder, chunker, **options)  # type: ignore[arg-type]


async def top_source(backend: EmbeddedSearch, query: str) -> str | None:
    hits = await backend.bm25(KB, query, 3)
    return hits[0].chunk.source_id if hits else None


async def test_first_ingest_indexes_all_formats_and_a_rerun_skips_everything(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, counting)
    first = await ingestor.ingest(KB, source, base_url="https://acme.test/help/")
    expected = ["billing/refunds.md", "mute-a-topic.md", "opening-hours.txt", "reset-password.html"]
    assert sorted(first.new) == expected
    assert (first.updated, first.unchanged, first.deleted, first.failed) == ([], [], [], {})
    stats = await backend.stats(KB)
    assert (stats.documents, stats.chunks) == (4, first.chunks)
    assert first.embed_seconds > 0 and first.seconds >= first.embed_seconds

    hits = await backend.bm25(KB, "unread counts sidebar", 3)
    assert hits[0].chunk.source_id == "mute-a-topic.md"  # include text indexed in its article
    assert hits[0].chunk.url == "https://acme.test/help/mute-a-topic"
    dense = await backend.knn(
        KB, counting.embed_query("money back to my card"), 1, counting.index_info()
    )
    assert dense[0].chunk.source_id == "billing/refunds.md"

    calls = len(counting.calls)
    second = await ingestor.ingest(KB, source, base_url="https://acme.test/help/")
    assert sorted(second.unchanged) == expected
    assert (second.new, second.updated, second.deleted, second.chunks) == ([], [], [], 0)
    assert len(counting.calls) == calls  # nothing re-embedded


async def test_edit_delete_and_rename_are_applied(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, counting)
    await ingestor.ingest(KB, source)

    (source / "billing/refunds.md").write_text("---\ntitle: Refunds\n---\nRefunds take 30 days.\n")
    (source / "opening-hours.txt").unlink()
    (source / "reset-password.html").rename(source / "password-reset.html")
    report = await ingestor.ingest(KB, source)

    assert report.updated == ["billing/refunds.md"]
    assert report.new == ["password-reset.html"]
    assert report.deleted == ["opening-hours.txt", "reset-password.html"]
    assert report.unchanged == ["mute-a-topic.md"]
    assert set(await backend.document_hashes(KB)) == {
        "billing/refunds.md",
        "mute-a-topic.md",
        "password-reset.html",
    }
    assert await top_source(backend, "weekdays nine five") is None
    assert await top_source(backend, "30 days") == "billing/refunds.md"
    assert await top_source(backend, "forgot password link") == "password-reset.html"


async def test_editing_an_include_updates_the_articles_using_it(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, counting)
    await ingestor.ingest(KB, source)
    (source / "include/mute-intro.md").write_text("Muted topics stay greyed out.\n")
    report = await ingestor.ingest(KB, source)
    assert report.updated == ["mute-a-topic.md"]
    assert await top_source(backend, "greyed out") == "mute-a-topic.md"


async def test_a_document_that_stops_parsing_keeps_its_indexed_version(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, counting)
    await ingestor.ingest(KB, source)

    (source / "billing/refunds.md").write_bytes(b"---\ntitle: Refunds\n---\nRefunds \xff\xfe")
    (source / "broken-new.md").write_text("# New\n\n{!missing-fragment.md!}\n")
    (source / "fresh.md").write_text("# Fresh\n\nA brand new article about webhooks.\n")
    report = await ingestor.ingest(KB, source)

    assert set(report.failed) == {"billing/refunds.md", "broken-new.md"}
    assert "not valid UTF-8" in report.failed["billing/refunds.md"]
    assert "missing include 'missing-fragment.md'" in report.failed["broken-new.md"]
    assert report.new == ["fresh.md"]
    assert report.deleted == []
    assert "billing/refunds.md" in await backend.document_hashes(KB)
    assert await top_source(backend, "ten days card") == "billing/refunds.md"
    assert "failed billing/refunds.md: not valid UTF-8" in report.summary()


async def test_embedding_is_batched_across_documents(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    files: dict[str, str | bytes] = {
        f"topic-{n}.md": f"# Topic {n}\n\nShort article number {n}.\n" for n in range(5)
    }
    source = write_tree(tmp_path / "help", files)
    report = await make_ingestor(backend, counting, batch_size=4).ingest(KB, source)
    assert len(report.new) == 5 and report.chunks == 5
    assert counting.calls == [4, 1]


async def test_progress_reports_each_phase(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, counting, batch_size=2)
    await ingestor.ingest(KB, source)
    (source / "opening-hours.txt").unlink()
    (source / "billing/refunds.md").write_text("Refunds are instant now.\n")
    seen: list[IngestProgress] = []
    await ingestor.ingest(KB, source, progress=seen.append)

    phases = [event.phase for event in seen]
    assert list(dict.fromkeys(phases)) == [
        "parsing",
        "chunking",
        "embedding",
        "indexing",
        "deleting",
    ]
    parsing = [event for event in seen if event.phase == "parsing"]
    assert [event.done for event in parsing] == [1, 2, 3]
    assert {event.total for event in parsing} == {3}
    assert parsing[-1].current in {"billing/refunds.md", "mute-a-topic.md", "reset-password.html"}
    assert seen[-1] == IngestProgress("deleting", 1, 1)


async def test_token_vectors_reach_the_sink_from_the_same_pass(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    store = SqliteTokenVectorStore(tmp_path / "tokens.sqlite")
    store.bind(counting.model_id)
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, counting, token_sink=store)
    report = await ingestor.ingest(KB, source)
    chunker = Chunker(counting, target_tokens=256, max_tokens=320, overlap=0.15)
    with open_source(source) as tree:
        documents = collect_documents(tree, DocumentParser()).documents
    hashes = [chunk.content_hash for doc in documents for chunk in chunker.chunk(doc, KB)]
    assert len(hashes) == report.chunks == 5
    matrices = store.load(hashes)
    assert set(matrices) == set(hashes)
    assert all(m.ndim == 2 and m.shape[1] == counting.dimension for m in matrices.values())
    store.close()


async def test_zip_gives_the_same_documents_as_the_folder(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    archive = tmp_path / "help.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, content in HELP_CENTER.items():
            out.writestr(f"help-center/{name}", content)
    report = await make_ingestor(backend, counting).ingest(KB, archive)
    assert sorted(report.new) == [
        "billing/refunds.md",
        "mute-a-topic.md",
        "opening-hours.txt",
        "reset-password.html",
    ]


async def test_an_empty_source_refuses_to_wipe_the_knowledge_base(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    ingestor = make_ingestor(backend, counting)
    await ingestor.ingest(KB, write_tree(tmp_path / "help", HELP_CENTER))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IngestionError, match="refusing to delete all 4 documents"):
        await ingestor.ingest(KB, empty)
    assert (await backend.stats(KB)).documents == 4


async def test_a_wrong_path_fails_before_creating_the_knowledge_base(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    with pytest.raises(IngestionError, match=r"does not exist; pass a folder or a \.zip"):
        await make_ingestor(backend, counting).ingest(KB, tmp_path / "typo")
    assert await backend.list_kbs() == []


async def test_rebuild_swaps_in_a_fresh_index(
    tmp_path: Path, backend: EmbeddedSearch, counting: CountingEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, counting)
    await ingestor.ingest(KB, source)
    (source / "opening-hours.txt").unlink()
    (source / "billing/refunds.md").write_text("---\ntitle: Refunds\n---\nRefunds take 30 days.\n")

    seen: list[IngestProgress] = []
    report = await ingestor.rebuild(KB, source, progress=seen.append)
    assert report.updated == ["billing/refunds.md"]
    assert sorted(report.unchanged) == ["mute-a-topic.md", "reset-password.html"]
    assert report.deleted == ["opening-hours.txt"]
    assert seen[-1] == IngestProgress("committing", 1, 1)
    stats = await backend.stats(KB)
    assert (stats.documents, stats.chunks) == (3, report.chunks)
    assert report.chunks == 4  # mute-a-topic.md has two sections
    assert await top_source(backend, "30 days") == "billing/refunds.md"


async def test_rebuild_that_would_lose_a_document_or_fails_keeps_the_old_index(
    tmp_path: Path,
    backend: EmbeddedSearch,
    counting: CountingEmbedder,
    embedder: SentenceTransformerEmbedder,
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    await make_ingestor(backend, counting).ingest(KB, source)
    before = await backend.document_hashes(KB)

    (source / "mute-a-topic.md").write_text("# Mute\n\n{!gone.md!}\n")
    with pytest.raises(IngestionError, match=r"would be lost .*mute-a-topic\.md: missing include"):
        await make_ingestor(backend, counting).rebuild(KB, source)
    assert await backend.document_hashes(KB) == before

    (source / "mute-a-topic.md").write_text("# Mute\n\nMuting hides a topic.\n")
    failing = CountingEmbedder(embedder, fail_on_call=2)
    with pytest.raises(RuntimeError, match="embedding worker died"):
        await make_ingestor(backend, failing, batch_size=2).rebuild(KB, source)
    assert await backend.document_hashes(KB) == before
    assert await top_source(backend, "unread counts sidebar") == "mute-a-topic.md"

    report = await make_ingestor(backend, counting).rebuild(KB, source)  # aborted build cleaned up
    assert report.updated == ["mute-a-topic.md"]
