"""The Zulip help center as benchmark data: chunks, dev questions, cached embeddings and a
naive hybrid retriever (FTS5 BM25 OR-query + cosine, RRF), as in shared/eval/README.md.

Embedding ~1 100 chunks costs about a minute of CPU, so sentence and token vectors are
cached under /tmp (keyed by model id and the chunks' content hashes).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.domain import Candidate, Chunk, Hit, Vector
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.evaluation import metrics
from bot.retrieval.embedded.fts_query import build_match_expression
from bot.retrieval.fusion import reciprocal_rank_fusion
from ingestion.chunking import Chunker
from ingestion.collect import collect_documents
from ingestion.embedding_text import text_for_embedding
from ingestion.parsing import DocumentParser
from ingestion.sources import open_source

SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
CACHE_DIR = Path("/tmp/supportbot-bench")


@dataclass(frozen=True)
class DevQuestion:
    id: str
    query: str
    relevant: tuple[str, ...]


def dev_questions(answerable_only: bool = True) -> list[DevQuestion]:
    rows = [json.loads(line) for line in (SHARED_EVAL / "zulip-dev.jsonl").read_text().splitlines()]
    questions = [DevQuestion(r["id"], r["query"], tuple(r["relevant"])) for r in rows]
    return [q for q in questions if q.relevant or not answerable_only]


def zulip_chunks(embedder: SentenceTransformerEmbedder) -> list[Chunk]:
    """Chunked exactly as the Ingestor does with default settings (256/320 tokens, 15%)."""
    with open_source(SHARED_EVAL / "zulip-help") as tree:
        documents = collect_documents(tree, DocumentParser()).documents
    chunker = Chunker(embedder, target_tokens=256, max_tokens=320, overlap=0.15)
    return [chunk for doc in documents for chunk in chunker.chunk(doc, "zulip")]


@dataclass
class EmbeddedCorpus:
    chunks: list[Chunk]
    sentences: Vector
    tokens: list[Vector]
    """Raw (un-normalised) float32 token vectors per chunk, padding removed."""


def embed_corpus(embedder: SentenceTransformerEmbedder, chunks: list[Chunk]) -> EmbeddedCorpus:
    digest = hashlib.sha256(embedder.model_id.encode())
    for chunk in chunks:
        digest.update(chunk.content_hash.encode())
    path = CACHE_DIR / f"corpus-{digest.hexdigest()[:16]}.npz"
    if path.exists():
        data = np.load(path)
        bounds = np.concatenate(([0], np.cumsum(data["lengths"])))
        stacked = data["tokens"]
        tokens = [stacked[a:b] for a, b in itertools.pairwise(bounds)]
        return EmbeddedCorpus(chunks, data["sentences"], tokens)
    sentences, tokens = embedder.embed_documents_with_tokens(
        [text_for_embedding(chunk) for chunk in chunks]
    )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        sentences=sentences,
        tokens=np.concatenate(tokens),
        lengths=np.array([len(t) for t in tokens]),
    )
    return EmbeddedCorpus(chunks, sentences, tokens)


class NaiveHybrid:
    """BM25 (FTS5, porter, OR of content words) + exact cosine, fused with RRF (k=60)."""

    def __init__(self, corpus: EmbeddedCorpus) -> None:
        self._corpus = corpus
        self._db = sqlite3.connect(":memory:")
        self._db.execute("CREATE VIRTUAL TABLE fts USING fts5(label, body, tokenize='porter')")
        self._db.executemany(
            "INSERT INTO fts (rowid, label, body) VALUES (?, ?, ?)",
            [(i, c.heading_label, c.text) for i, c in enumerate(corpus.chunks)],
        )

    def bm25(self, query: str, top_n: int) -> list[Hit]:
        expression = build_match_expression(query)
        if expression is None:
            return []
        rows = self._db.execute(
            "SELECT rowid, bm25(fts) FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?",
            (expression, top_n),
        ).fetchall()
        chunks = self._corpus.chunks
        return [Hit(chunks[row], -score, rank) for rank, (row, score) in enumerate(rows, 1)]

    def dense(self, vector: Vector, top_n: int) -> list[Hit]:
        similarities = self._corpus.sentences @ vector
        order = np.argsort(-similarities)[:top_n]
        chunks = self._corpus.chunks
        return [
            Hit(chunks[i], float(similarities[i]), rank) for rank, i in enumerate(order, start=1)
        ]

    def candidates(self, query: str, vector: Vector, limit: int) -> list[Candidate]:
        return reciprocal_rank_fusion(
            self.bm25(query, 50), self.dense(vector, 50), k=60, limit=limit
        )

    def search(self, query: str, vector: Vector, limit: int) -> list[Chunk]:
        return [candidate.chunk for candidate in self.candidates(query, vector, limit)]


def document_metrics(ranked: list[Chunk], relevant: tuple[str, ...]) -> tuple[float, float]:
    """(nDCG@10, Hit@5) at document level: a document counts once, at its best chunk."""
    ranking = metrics.document_ranking(chunk.source_id for chunk in ranked)
    flags = metrics.relevant_flags(ranking, relevant)
    return metrics.ndcg_at(flags, 10, len(relevant)), metrics.hit_at(flags, 5)
