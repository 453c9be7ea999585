"""The SearchBackend contract: behaviour every search backend must show, engine-agnostic.

A backend's test module subclasses `SearchBackendContract` and provides the `backend`
fixture (a fresh, empty backend; closed afterwards). Writes must be visible to reads
once the awaited call returns. Class attributes relax what an engine cannot promise:

    exact_knn            False for approximate kNN: recall is checked instead of order.
    knn_score_tolerance  how close Hit.score must be to the true cosine.

Small hand-made vectors keep most tests fast; semantic tests use the real embedder.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

import numpy as np
import pytest

from bot.domain import Chunk, DocumentChunks, EmbeddedChunk, Hit, IndexInfo, Vector
from bot.embedding.protocol import Embedder
from bot.errors import EmbeddingModelMismatch, IngestionError, KnowledgeBaseNotFound
from bot.retrieval.protocol import SearchBackend

DIM = 8
INFO = IndexInfo(embedding_model="contract-model", dimension=DIM, schema_version=1)
OTHER_MODEL = IndexInfo(embedding_model="another-model", dimension=DIM, schema_version=1)
OTHER_DIMENSION = IndexInfo(embedding_model="contract-model", dimension=4, schema_version=1)

HOSTILE_QUERIES = [
    "",
    "   ",
    "the of and to a",
    '"',
    '"unbalanced quote',
    "AND",
    "OR NOT AND",
    "mute AND",
    "*",
    "mute*",
    "-mute",
    "NEAR(mute topic, 2)",
    "title:mute",
    "{title headings}: mute",
    "^mute",
    "(((",
    "mute) OR (",
    "'; DROP TABLE chunks; --",
    "\\ \\\\ \\'",
    "🎉🔥 😀",
    "mute 🎉 topic",
    "café naïve résumé",
    "日本語のヘルプ",
    "مرحبا كيف",
    "null\x00byte",
    "e\u0301\u200b\ufeff",
    "a" * 5000,
    " ".join(["word"] * 500),
    "how do I mute a topic?!?",
]


def vector_for(text: str, dimension: int = DIM) -> Vector:
    """A deterministic unit vector per text: stable across runs, no model needed."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return vector / np.linalg.norm(vector)


def make_document(
    kb: str,
    source_id: str,
    *texts: str,
    title: str = "Untitled article",
    headings: tuple[str, ...] = (),
    vectors: Sequence[Vector] | None = None,
    version: str = "1",
) -> DocumentChunks:
    """One document with a chunk per text; `version` changes its hash."""
    doc_hash = hashlib.sha256(f"{source_id}:{version}:{texts}".encode()).hexdigest()
    chunks = []
    for ordinal, text in enumerate(texts):
        chunk = Chunk(
            kb=kb,
            source_id=source_id,
            ordinal=ordinal,
            title=title,
            heading_path=headings,
            text=text,
            url=f"https://help.example.com/{source_id}",
            doc_hash=doc_hash,
        )
        vector = vector_for(text) if vectors is None else vectors[ordinal]
        chunks.append(EmbeddedChunk(chunk=chunk, vector=vector))
    return DocumentChunks(source_id=source_id, doc_hash=doc_hash, chunks=chunks)


def source_ids(hits: Sequence[Hit]) -> list[str]:
    return [hit.chunk.source_id for hit in hits]


def assert_well_ranked(hits: Sequence[Hit]) -> None:
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)


class SearchBackendContract:
    exact_knn: ClassVar[bool] = True
    knn_score_tolerance: ClassVar[float] = 1e-5

    @pytest.fixture
    async def backend(self) -> AsyncIterator[SearchBackend]:
        raise NotImplementedError("subclasses provide `backend`: a fresh, empty SearchBackend")
        yield  # pragma: no cover - makes this an async generator like the overrides

    @pytest.fixture
    async def kb(self, backend: SearchBackend) -> str:
        """A KB named `alpha`, created with INFO."""
        await backend.ensure_kb("alpha", INFO)
        return "alpha"

    # -- lifecycle -------------------------------------------------------------------
    async def test_ping_answers(self, backend: SearchBackend) -> None:
        assert await backend.ping() is True

    async def test_ensure_kb_creates_an_empty_kb_once(self, backend: SearchBackend) -> None:
        await backend.ensure_kb("beta", INFO)
        await backend.ensure_kb("alpha", INFO)
        await backend.ensure_kb("alpha", INFO)
        assert sorted(await backend.list_kbs()) == ["alpha", "beta"]
        stats = await backend.stats("alpha")
        assert (stats.kb, stats.documents, stats.chunks, stats.index) == ("alpha", 0, 0, INFO)

    async def test_unknown_kb_is_reported_as_not_found(self, backend: SearchBackend) -> None:
        with pytest.raises(KnowledgeBaseNotFound):
            await backend.stats("nope")
        with pytest.raises(KnowledgeBaseNotFound):
            await backend.bm25("nope", "mute", 5)
        with pytest.raises(KnowledgeBaseNotFound):
            await backend.knn("nope", vector_for("x"), 5, INFO)
        with pytest.raises(KnowledgeBaseNotFound):
            await backend.document_hashes("nope")
        with pytest.raises(KnowledgeBaseNotFound):
            await backend.upsert_documents("nope", [make_document("nope", "a", "text")])
        await backend.delete_kb("nope")  # deleting what is not there is not an error

    async def test_delete_kb_removes_it_and_only_it(self, backend: SearchBackend) -> None:
        for name in ("alpha", "beta"):
            await backend.ensure_kb(name, INFO)
            await backend.upsert_documents(name, [make_document(name, "doc", "walrus facts")])
        await backend.delete_kb("alpha")
        assert await backend.list_kbs() == ["beta"]
        with pytest.raises(KnowledgeBaseNotFound):
            await backend.bm25("alpha", "walrus", 5)
        assert source_ids(await backend.bm25("beta", "walrus", 5)) == ["doc"]

    async def test_stats_count_documents_and_chunks(self, backend: SearchBackend, kb: str) -> None:
        await backend.upsert_documents(
            kb, [make_document(kb, "a", "one", "two", "three"), make_document(kb, "b", "four")]
        )
        stats = await backend.stats(kb)
        assert (stats.documents, stats.chunks, stats.index) == (2, 4, INFO)
        assert stats.last_indexed is not None

    # -- embedding model safety ----------------------------------------------------------
    async def test_ensure_kb_refuses_another_model(self, backend: SearchBackend, kb: str) -> None:
        with pytest.raises(EmbeddingModelMismatch, match="another-model"):
            await backend.ensure_kb(kb, OTHER_MODEL)
        with pytest.raises(EmbeddingModelMismatch):
            await backend.ensure_kb(kb, OTHER_DIMENSION)
        assert (await backend.stats(kb)).index == INFO

    async def test_knn_refuses_vectors_of_another_model(
        self, backend: SearchBackend, kb: str
    ) -> None:
        await backend.upsert_documents(kb, [make_document(kb, "a", "walrus")])
        with pytest.raises(EmbeddingModelMismatch):
            await backend.knn(kb, vector_for("walrus"), 5, OTHER_MODEL)
        with pytest.raises(EmbeddingModelMismatch):
            await backend.knn(kb, vector_for("walrus", 4), 5, OTHER_DIMENSION)
        with pytest.raises(EmbeddingModelMismatch):
            await backend.knn(kb, vector_for("walrus", 4), 5, INFO)  # says INFO, is not

    # -- BM25 --------------------------------------------------------------------------
    async def test_bm25_title_and_heading_matches_outrank_body_only(
        self, backend: SearchBackend, kb: str
    ) -> None:
        filler = "Open the settings menu and pick the option that suits your team best."
        await backend.upsert_documents(
            kb,
            [
                make_document(kb, "body", f"You can mute a channel. {filler}", title="Channels"),
                make_document(
                    kb, "title", f"Stop alerts for one conversation. {filler}", title="Mute a topic"
                ),
                make_document(
                    kb,
                    "heading",
                    f"Silence alerts from a person. {filler}",
                    title="People",
                    headings=("Mute a user",),
                ),
                make_document(kb, "unrelated", f"Change your avatar. {filler}", title="Profile"),
            ],
        )
        hits = await backend.bm25(kb, "mute", 10)
        assert_well_ranked(hits)
        ranked = source_ids(hits)
        assert set(ranked) == {"body", "title", "heading"}
        assert ranked[-1] == "body"

    async def test_bm25_stems_words(self, backend: SearchBackend, kb: str) -> None:
        await backend.upsert_documents(
            kb,
            [
                make_document(kb, "mute", "Mute a topic to stop its notifications."),
                make_document(kb, "other", "Star a message to find it later."),
            ],
        )
        assert source_ids(await backend.bm25(kb, "muting", 10)) == ["mute"]
        assert source_ids(await backend.bm25(kb, "notification", 10)) == ["mute"]

    async def test_bm25_question_words_do_not_drown_the_topic(
        self, backend: SearchBackend, kb: str
    ) -> None:
        await backend.upsert_documents(
            kb,
            [
                make_document(kb, "chatter", "How do I do it? You can do it, and how can I?"),
                make_document(kb, "email", "Email notifications are sent for mentions."),
                make_document(kb, "avatar", "Upload a profile picture from settings."),
            ],
        )
        hits = await backend.bm25(kb, "how do I get emails?", 10)
        assert source_ids(hits)[0] == "email"
        assert await backend.bm25(kb, "how do I?", 10) == []

    @pytest.mark.parametrize("query", HOSTILE_QUERIES)
    async def test_any_query_string_is_safe(
        self, backend: SearchBackend, kb: str, query: str
    ) -> None:
        await backend.upsert_documents(kb, [make_document(kb, "mute", "Mute a topic.")])
        hits = await backend.bm25(kb, query, 10)
        assert all(hit.chunk.kb == kb for hit in hits)
        assert_well_ranked(hits)
        assert source_ids(await backend.bm25(kb, "mute", 10)) == ["mute"]

    async def test_hits_carry_the_whole_chunk(self, backend: SearchBackend, kb: str) -> None:
        document = make_document(
            kb,
            "guide",
            "First part about walruses.",
            "Second part about walruses.",
            title="Walrus guide",
            headings=("Basics", "Tusks"),
        )
        await backend.upsert_documents(kb, [document])
        written = {item.chunk for item in document.chunks}
        assert {hit.chunk for hit in await backend.bm25(kb, "walrus", 10)} == written
        knn_hits = await backend.knn(kb, document.chunks[1].vector, 10, INFO)
        assert {hit.chunk for hit in knn_hits} == written
        assert knn_hits[0].chunk == document.chunks[1].chunk

    async def test_top_n_is_respected(self, backend: SearchBackend, kb: str) -> None:
        documents = [make_document(kb, f"d{i}", f"walrus number {i}") for i in range(6)]
        await backend.upsert_documents(kb, documents)
        assert len(await backend.bm25(kb, "walrus", 4)) == 4
        assert len(await backend.knn(kb, vector_for("q"), 3, INFO)) == 3

    # -- kNN ---------------------------------------------------------------------------
    async def test_knn_matches_brute_force_cosine(self, backend: SearchBackend, kb: str) -> None:
        rng = np.random.default_rng(7)
        documents = []
        for d in range(12):
            texts = [f"document {d} part {p}" for p in range(3)]
            vectors = list(rng.standard_normal((3, DIM)).astype(np.float32))  # not normalised
            documents.append(make_document(kb, f"d{d}", *texts, vectors=vectors))
        await backend.upsert_documents(kb, documents)
        query = rng.standard_normal(DIM).astype(np.float32)

        def cosine(vector: Vector) -> float:
            return float(vector @ query / (np.linalg.norm(vector) * np.linalg.norm(query)))

        truth = sorted(
            (
                (cosine(item.vector), item.chunk.chunk_id)
                for doc in documents
                for item in doc.chunks
            ),
            reverse=True,
        )[:10]
        hits = await backend.knn(kb, query, 10, INFO)
        assert_well_ranked(hits)
        found = [hit.chunk.chunk_id for hit in hits]
        if self.exact_knn:
            assert found == [chunk_id for _, chunk_id in truth]
        else:
            assert len(set(found) & {chunk_id for _, chunk_id in truth}) >= 8
        true_score = {chunk_id: score for score, chunk_id in truth}
        for hit in hits:
            if hit.chunk.chunk_id in true_score:
                expected = true_score[hit.chunk.chunk_id]
                assert hit.score == pytest.approx(expected, abs=self.knn_score_tolerance)

    async def test_knn_finds_meaning_with_a_real_model(
        self, backend: SearchBackend, embedder: Embedder
    ) -> None:
        info = embedder.index_info()
        await backend.ensure_kb("real", info)
        texts = {
            "mute-topic": "Mute a topic to stop receiving notifications about that conversation.",
            "avatar": "Upload a new profile picture from your personal settings.",
            "billing": "Change your plan or update the credit card used for payments.",
            "dark-theme": "Switch the app between light and dark color themes.",
        }
        vectors = embedder.embed_documents(list(texts.values()))
        await backend.upsert_documents(
            "real",
            [
                make_document("real", sid, text, vectors=[vector])
                for (sid, text), vector in zip(texts.items(), vectors, strict=True)
            ],
        )
        query = embedder.embed_query("I keep getting pinged about a thread, how do I silence it")
        assert source_ids(await backend.knn("real", query, 4, info))[0] == "mute-topic"
        query = embedder.embed_query("my card expired, where do I put the new one")
        assert source_ids(await backend.knn("real", query, 4, info))[0] == "billing"

    # -- isolation -----------------------------------------------------------------------
    async def test_kbs_never_see_each_other(self, backend: SearchBackend) -> None:
        for name in ("alpha", "beta"):
            await backend.ensure_kb(name, INFO)
            await backend.upsert_documents(
                name,
                [make_document(name, f"{name}-doc", "Walrus tusks grow all their life.")],
            )
        for name in ("alpha", "beta"):
            bm25_hits = await backend.bm25(name, "walrus tusks", 10)
            knn_hits = await backend.knn(
                name, vector_for("Walrus tusks grow all their life."), 10, INFO
            )
            for hits in (bm25_hits, knn_hits):
                assert source_ids(hits) == [f"{name}-doc"]
                assert {hit.chunk.kb for hit in hits} == {name}
            assert list(await backend.document_hashes(name)) == [f"{name}-doc"]

    # -- writes --------------------------------------------------------------------------
    async def test_upsert_replaces_every_chunk_of_a_document(
        self, backend: SearchBackend, kb: str
    ) -> None:
        old = make_document(kb, "guide", "alpaca one", "alpaca two", "alpaca three")
        new = make_document(kb, "guide", "llama only", version="2")
        await backend.upsert_documents(kb, [old, make_document(kb, "other", "alpaca elsewhere")])
        report = await backend.upsert_documents(kb, [new])
        assert report.written == ("guide",) and report.failed == {}
        assert source_ids(await backend.bm25(kb, "alpaca", 10)) == ["other"]
        assert [hit.chunk.text for hit in await backend.bm25(kb, "llama", 10)] == ["llama only"]
        knn_hits = await backend.knn(kb, vector_for("alpaca one"), 10, INFO)
        assert sorted(hit.chunk.text for hit in knn_hits) == ["alpaca elsewhere", "llama only"]
        assert (await backend.stats(kb)).chunks == 2
        assert (await backend.document_hashes(kb))["guide"] == new.doc_hash

    async def test_document_hashes_track_writes_and_deletes(
        self, backend: SearchBackend, kb: str
    ) -> None:
        a, b = make_document(kb, "a", "walrus"), make_document(kb, "b", "narwhal")
        assert await backend.document_hashes(kb) == {}
        await backend.upsert_documents(kb, [a, b])
        assert await backend.document_hashes(kb) == {"a": a.doc_hash, "b": b.doc_hash}
        await backend.delete_documents(kb, ["a"])
        assert await backend.document_hashes(kb) == {"b": b.doc_hash}

    async def test_delete_documents_removes_their_chunks(
        self, backend: SearchBackend, kb: str
    ) -> None:
        await backend.upsert_documents(
            kb,
            [
                make_document(kb, "a", "walrus one", "walrus two"),
                make_document(kb, "b", "walrus three"),
                make_document(kb, "c", "walrus four"),
            ],
        )
        assert await backend.delete_documents(kb, ["a", "c", "missing"]) == 2
        assert source_ids(await backend.bm25(kb, "walrus", 10)) == ["b"]
        assert source_ids(await backend.knn(kb, vector_for("walrus one"), 10, INFO)) == ["b"]
        stats = await backend.stats(kb)
        assert (stats.documents, stats.chunks) == (1, 1)
        assert await backend.delete_documents(kb, []) == 0

    async def test_bad_documents_fail_alone(self, backend: SearchBackend, kb: str) -> None:
        kept = make_document(kb, "bad", "walrus original")
        await backend.upsert_documents(kb, [kept])
        wrong_dimension = make_document(
            kb, "bad", "walrus broken", version="2", vectors=[vector_for("x", DIM + 1)]
        )
        not_a_number = make_document(
            kb, "nan", "walrus nan", vectors=[np.full(DIM, np.nan, dtype=np.float32)]
        )
        report = await backend.upsert_documents(
            kb,
            [
                make_document(kb, "good-1", "walrus fine"),
                wrong_dimension,
                not_a_number,
                make_document(kb, "good-2", "walrus also fine"),
            ],
        )
        assert report.written == ("good-1", "good-2")
        assert set(report.failed) == {"bad", "nan"}
        assert all(reason for reason in report.failed.values())
        # The failed replace lost nothing: the previous version still serves.
        assert (await backend.document_hashes(kb))["bad"] == kept.doc_hash
        texts = {hit.chunk.text for hit in await backend.bm25(kb, "walrus", 10)}
        assert texts == {"walrus original", "walrus fine", "walrus also fine"}

    # -- rebuilds ------------------------------------------------------------------------
    async def _kb_with_old_index(self, backend: SearchBackend) -> str:
        await backend.ensure_kb("alpha", INFO)
        await backend.upsert_documents(
            "alpha",
            [make_document("alpha", "old-1", "walrus"), make_document("alpha", "old-2", "walrus")],
        )
        return "alpha"

    async def test_rebuild_is_invisible_until_commit(self, backend: SearchBackend) -> None:
        kb = await self._kb_with_old_index(backend)
        build = await backend.begin_rebuild(kb, INFO)
        report = await build.write([make_document(kb, "new", "narwhal", "narwhal again")])
        assert report.written == ("new",)
        assert await backend.bm25(kb, "narwhal", 10) == []
        assert sorted(source_ids(await backend.bm25(kb, "walrus", 10))) == ["old-1", "old-2"]
        assert set(source_ids(await backend.knn(kb, vector_for("narwhal"), 10, INFO))) == {
            "old-1",
            "old-2",
        }
        assert (await backend.stats(kb)).documents == 2

        stats = await build.commit()
        assert (stats.kb, stats.documents, stats.chunks) == (kb, 1, 2)
        assert await backend.bm25(kb, "walrus", 10) == []
        assert source_ids(await backend.bm25(kb, "narwhal", 10)) == ["new", "new"]
        assert source_ids(await backend.knn(kb, vector_for("walrus"), 10, INFO)) == ["new", "new"]
        assert list(await backend.document_hashes(kb)) == ["new"]

    async def test_aborted_rebuild_keeps_the_old_index(self, backend: SearchBackend) -> None:
        kb = await self._kb_with_old_index(backend)
        build = await backend.begin_rebuild(kb, INFO)
        await build.write([make_document(kb, "new", "narwhal")])
        await build.abort()
        assert await backend.bm25(kb, "narwhal", 10) == []
        assert sorted(await backend.document_hashes(kb)) == ["old-1", "old-2"]
        with pytest.raises(IngestionError):
            await build.write([make_document(kb, "late", "narwhal")])

    async def test_rebuild_with_a_new_model_swaps_the_model(self, backend: SearchBackend) -> None:
        kb = await self._kb_with_old_index(backend)
        build = await backend.begin_rebuild(kb, OTHER_DIMENSION)
        await build.write([make_document(kb, "new", "narwhal", vectors=[vector_for("n", 4)])])
        assert (await backend.stats(kb)).index == INFO
        stats = await build.commit()
        assert stats.index == OTHER_DIMENSION
        with pytest.raises(EmbeddingModelMismatch):
            await backend.knn(kb, vector_for("n"), 5, INFO)
        assert source_ids(await backend.knn(kb, vector_for("n", 4), 5, OTHER_DIMENSION)) == ["new"]

    async def test_empty_rebuild_is_refused(self, backend: SearchBackend) -> None:
        kb = await self._kb_with_old_index(backend)
        build = await backend.begin_rebuild(kb, INFO)
        with pytest.raises(IngestionError):
            await build.commit()
        await build.abort()
        assert (await backend.stats(kb)).documents == 2

    async def test_rebuild_reports_bad_documents_and_commits_the_rest(
        self, backend: SearchBackend
    ) -> None:
        kb = await self._kb_with_old_index(backend)
        build = await backend.begin_rebuild(kb, INFO)
        report = await build.write(
            [
                make_document(kb, "good", "narwhal"),
                make_document(kb, "bad", "narwhal", vectors=[vector_for("x", 3)]),
            ]
        )
        assert (report.written, list(report.failed)) == (("good",), ["bad"])
        assert (await build.commit()).documents == 1
        assert source_ids(await backend.bm25(kb, "narwhal", 10)) == ["good"]

    async def test_rebuild_can_create_a_new_kb(self, backend: SearchBackend) -> None:
        build = await backend.begin_rebuild("fresh", INFO)
        await build.write([make_document("fresh", "a", "narwhal")])
        await build.commit()
        assert "fresh" in await backend.list_kbs()
        assert source_ids(await backend.bm25("fresh", "narwhal", 10)) == ["a"]
