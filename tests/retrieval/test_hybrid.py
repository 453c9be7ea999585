"""HybridRetriever on the embedded backend with the real MiniLM embedder.

Fused ranks are checked against what the backend's BM25 and kNN return on their own,
so the tests need no hand-written expected rankings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import Chunk, DocumentChunks, EmbeddedChunk, Hit, IndexInfo, Vector
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import (
    ConfigurationError,
    EmbeddingModelMismatch,
    InvalidRequest,
    KnowledgeBaseNotFound,
)
from bot.retrieval.embedded.search import EmbeddedSearch
from bot.retrieval.hybrid import HybridRetriever, RetrievalParams
from bot.settings import Settings

KB = "help"
ARTICLES = {
    "mute-topic": ("Mute a topic", "Muting a topic stops notifications about that conversation."),
    "email-notifications": ("Email notifications", "Choose which events send you an email."),
    "change-password": ("Change your password", "Open Account settings, then Change password."),
    "two-factor": ("Two-factor authentication", "Protect your account with a one-time code."),
    "profile-picture": ("Change your profile picture", "Upload an avatar image in settings."),
    "dark-theme": ("Dark theme", "Switch the interface between light and dark color schemes."),
    "export-data": ("Export your organization", "Admins can download all messages and files."),
    "deactivate": ("Deactivate your account", "Deactivating signs you out and removes access."),
}


def documents(embedder: SentenceTransformerEmbedder) -> list[DocumentChunks]:
    chunks = [
        Chunk(KB, source_id, 0, title, (), text, None, f"hash-{source_id}")
        for source_id, (title, text) in ARTICLES.items()
    ]
    vectors = embedder.embed_documents([f"{c.heading_label}\n{c.text}" for c in chunks])
    return [
        DocumentChunks(c.source_id, c.doc_hash, [EmbeddedChunk(c, vector)])
        for c, vector in zip(chunks, vectors, strict=True)
    ]


@pytest.fixture(scope="module")
def help_documents(embedder: SentenceTransformerEmbedder) -> list[DocumentChunks]:
    return documents(embedder)


@pytest.fixture
async def backend(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, help_documents: list[DocumentChunks]
) -> AsyncIterator[EmbeddedSearch]:
    search = EmbeddedSearch(tmp_path / "data")
    await search.ensure_kb(KB, embedder.index_info())
    report = await search.upsert_documents(KB, help_documents)
    assert not report.failed
    yield search
    await search.close()


@pytest.fixture
def retriever(backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder) -> HybridRetriever:
    return HybridRetriever(backend, embedder, RetrievalParams())


def ranks(hits: list[Hit]) -> dict[str, int]:
    return {hit.chunk.chunk_id: hit.rank for hit in hits}


async def test_hybrid_fuses_both_retrievers_ranks(
    retriever: HybridRetriever, backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder
) -> None:
    query = "stop notifications for a conversation"
    retrieved = await retriever.retrieve(KB, query)
    bm25 = ranks(await backend.bm25(KB, query, 50))
    dense = ranks(await backend.knn(KB, embedder.embed_query(query), 50, embedder.index_info()))
    assert bm25 and dense
    assert {c.chunk.chunk_id for c in retrieved.candidates} == set(bm25) | set(dense)
    for candidate in retrieved.candidates:
        chunk_id = candidate.chunk.chunk_id
        assert candidate.bm25_rank == bm25.get(chunk_id)
        assert candidate.dense_rank == dense.get(chunk_id)
        expected = sum(1 / (60 + r) for r in (bm25.get(chunk_id), dense.get(chunk_id)) if r)
        assert candidate.fused_score == pytest.approx(expected)
    scores = [c.fused_score for c in retrieved.candidates]
    assert scores == sorted(scores, reverse=True)
    assert retrieved.candidates[0].chunk.source_id == "mute-topic"


@pytest.mark.parametrize("mode", ["bm25", "dense"])
async def test_single_modes_keep_their_retrievers_order(
    retriever: HybridRetriever,
    backend: EmbeddedSearch,
    embedder: SentenceTransformerEmbedder,
    mode: str,
) -> None:
    query = "change my password"
    if mode == "bm25":
        hits = await backend.bm25(KB, query, 50)
    else:
        hits = await backend.knn(KB, embedder.embed_query(query), 50, embedder.index_info())
    retrieved = await retriever.retrieve(KB, query, mode=mode)  # type: ignore[arg-type]
    assert [c.chunk.chunk_id for c in retrieved.candidates] == [h.chunk.chunk_id for h in hits]
    for candidate, hit in zip(retrieved.candidates, hits, strict=True):
        own, other = (
            (candidate.bm25_rank, candidate.dense_rank)
            if mode == "bm25"
            else (candidate.dense_rank, candidate.bm25_rank)
        )
        assert (own, other) == (hit.rank, None)
        assert candidate.fused_score == pytest.approx(1 / (60 + hit.rank))


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("how do I get rid of my account for good", "deactivate"),
        ("I want the app to be less bright at night", "dark-theme"),
        ("can I get a copy of everything we ever posted", "export-data"),
    ],
)
async def test_user_questions_find_their_article(
    retriever: HybridRetriever, question: str, article: str
) -> None:
    retrieved = await retriever.retrieve(KB, question)
    assert retrieved.candidates[0].chunk.source_id == article


async def test_question_of_only_stopwords_still_gets_dense_candidates(
    retriever: HybridRetriever,
) -> None:
    retrieved = await retriever.retrieve(KB, "how do I do that?")
    assert len(retrieved.candidates) == len(ARTICLES)
    assert all(c.bm25_rank is None and c.dense_rank for c in retrieved.candidates)


async def test_limit_and_candidate_count(
    backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder
) -> None:
    default = HybridRetriever(backend, embedder, RetrievalParams(candidates=3))
    assert len((await default.retrieve(KB, "change settings")).candidates) == 3
    assert len((await default.retrieve(KB, "change settings", limit=6)).candidates) == 6
    assert len((await default.retrieve(KB, "change settings", limit=1)).candidates) == 1


async def test_weights_reach_the_fusion(
    backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder
) -> None:
    dense_only = RetrievalParams(weight_bm25=0.0, weight_dense=1.0)
    query = "change your password settings"
    fused = await HybridRetriever(backend, embedder, dense_only).retrieve(KB, query)
    dense = await backend.knn(KB, embedder.embed_query(query), 50, embedder.index_info())
    head = [c.chunk.chunk_id for c in fused.candidates[: len(dense)]]
    assert head == [h.chunk.chunk_id for h in dense]


async def test_timings_name_each_step(retriever: HybridRetriever) -> None:
    hybrid = await retriever.retrieve(KB, "mute a topic")
    assert set(hybrid.timings_ms) == {"embed_query", "bm25", "knn", "fuse", "total"}
    assert all(ms >= 0 for ms in hybrid.timings_ms.values())
    bm25 = await retriever.retrieve(KB, "mute a topic", mode="bm25")
    assert set(bm25.timings_ms) == {"bm25", "fuse", "total"}


class BM25AfterKnnStarts(EmbeddedSearch):
    """The real backend, except BM25 waits until kNN has been asked: sequential code hangs."""

    knn_started: asyncio.Event

    async def bm25(self, kb: str, query: str, top_n: int) -> list[Hit]:
        await asyncio.wait_for(self.knn_started.wait(), timeout=10)
        return await super().bm25(kb, query, top_n)

    async def knn(self, kb: str, vector: Vector, top_n: int, info: IndexInfo) -> list[Hit]:
        self.knn_started.set()
        return await super().knn(kb, vector, top_n, info)


async def test_bm25_and_dense_run_concurrently(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, help_documents: list[DocumentChunks]
) -> None:
    backend = BM25AfterKnnStarts(tmp_path / "data")
    backend.knn_started = asyncio.Event()
    await backend.ensure_kb(KB, embedder.index_info())
    await backend.upsert_documents(KB, help_documents)
    retrieved = await HybridRetriever(backend, embedder, RetrievalParams()).retrieve(KB, "mute")
    assert any(c.bm25_rank for c in retrieved.candidates)
    await backend.close()


async def test_index_built_with_another_model_is_refused(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    backend = EmbeddedSearch(tmp_path / "data")
    await backend.ensure_kb(KB, IndexInfo("some-other-model", embedder.dimension, 1))
    retriever = HybridRetriever(backend, embedder, RetrievalParams())
    for mode in ("hybrid", "dense"):
        with pytest.raises(EmbeddingModelMismatch, match="some-other-model"):
            await retriever.retrieve(KB, "mute", mode=mode)
    await backend.close()


async def test_bad_requests_are_refused(retriever: HybridRetriever) -> None:
    with pytest.raises(KnowledgeBaseNotFound):
        await retriever.retrieve("missing", "mute")
    with pytest.raises(InvalidRequest, match="mode"):
        await retriever.retrieve(KB, "mute", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="limit"):
        await retriever.retrieve(KB, "mute", limit=0)


def test_params_come_from_settings(settings: Settings) -> None:
    tuned = settings.model_copy(
        update={
            "candidates": 30,
            "rrf_k": 10,
            "fusion_weight_bm25": 0.5,
            "fusion_weight_dense": 2.0,
            "fusion": "minmax",
            "retriever_depth": 80,
        }
    )
    assert RetrievalParams.from_settings(tuned) == RetrievalParams(30, 10, 0.5, 2.0, "minmax", 80)
    shipped = RetrievalParams.from_settings(settings)
    assert (shipped.fusion, shipped.weight_bm25, shipped.weight_dense) == ("minmax", 0.4, 0.6)
    assert (shipped.candidates, shipped.depth) == (50, 100)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"candidates": 0},
        {"rrf_k": -1},
        {"weight_bm25": -0.1},
        {"weight_bm25": 0, "weight_dense": 0},
        {"depth": 0},
        {"fusion": "max"},
    ],
)
def test_unworkable_params_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RetrievalParams(**kwargs)  # type: ignore[arg-type]
