"""Typed values that flow between pipeline stages.

query → retrieve (Hit) → fuse (Candidate) → rerank (RankedChunk) → generate (Answer).
Wire schemas live in `bot.api.schemas`; these are the internal shapes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

HEADING_SEPARATOR = " › "


def content_hash(*parts: str) -> str:
    """Stable hex digest used for documents, chunks and cache keys."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Section:
    """A run of blocks under one heading path (titles of enclosing sections, outermost first)."""

    heading_path: tuple[str, ...]
    blocks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A help-center article after parsing, before chunking."""

    source_id: str
    title: str
    url: str | None
    sections: tuple[Section, ...]

    @property
    def doc_hash(self) -> str:
        parts = [self.source_id, self.title, self.url or ""]
        for section in self.sections:
            parts.append(HEADING_SEPARATOR.join(section.heading_path))
            parts.extend(section.blocks)
        return content_hash(*parts)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One searchable, citable piece of a document."""

    kb: str
    source_id: str
    ordinal: int
    title: str
    heading_path: tuple[str, ...]
    text: str
    url: str | None
    doc_hash: str
    context: str = field(default="", compare=False)
    """The article's gist, embedded with the chunk (see `ingestion.summary`). Set at
    ingestion only: search backends do not store it and `content_hash` leaves it out."""
    content_hash: str = field(init=False, repr=False, compare=False)
    """Depends only on what a reranker sees, so cached scores survive re-indexes. Computed
    once here: a search keys caches and scores by it several times per candidate, and
    backends keep chunks between searches."""
    chunk_id: str = field(init=False, repr=False, compare=False)
    """`kb:source_id#ordinal`. Computed once too: fusion and the rerank stage key every
    hit by it, a few hundred formattings per search as a property."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", content_hash(self.heading_label, self.text))
        object.__setattr__(self, "chunk_id", f"{self.kb}:{self.source_id}#{self.ordinal}")

    @property
    def heading_label(self) -> str:
        """ "Article › Section › Subsection", shown to users and searched."""
        return HEADING_SEPARATOR.join((self.title, *self.heading_path))


@dataclass(frozen=True, slots=True)
class EmbeddedChunk:
    """A chunk with its normalised embedding, ready to be indexed."""

    chunk: Chunk
    vector: Vector


@dataclass(frozen=True, slots=True)
class DocumentChunks:
    """All chunks of one document: the unit the search backend replaces atomically."""

    source_id: str
    doc_hash: str
    chunks: Sequence[EmbeddedChunk]


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk returned by one retriever, with its rank there (1-based)."""

    chunk: Chunk
    score: float
    rank: int


@dataclass(slots=True)
class Candidate:
    """A fused candidate: where each retriever ranked it, and the fused score."""

    chunk: Chunk
    fused_score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None
    rerank_score: float | None = None


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """One content token of a question and its best cosine in a passage."""

    word: str
    """The question word the token is part of, lower-cased ("notifications" for "##ations")."""
    match: float


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What an index was built with; querying with another embedding model is refused."""

    embedding_model: str
    dimension: int
    schema_version: int


@dataclass(frozen=True, slots=True)
class KbStats:
    kb: str
    documents: int
    chunks: int
    index: IndexInfo | None
    last_indexed: str | None = None


@dataclass(frozen=True, slots=True)
class WriteReport:
    """Outcome of writing documents to a search backend, per document."""

    written: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
