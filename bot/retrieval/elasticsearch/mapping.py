"""The Elasticsearch index layout supportbot owns: names, versioned mapping, documents.

One physical index per knowledge base, always read and written through an alias:

    alias     {prefix}-kb-{kb}                 what queries and live writes address
    physical  {prefix}-kb-{kb}.{stamp}         one per (re)build; the alias moves atomically
    writer    {prefix}-build-{kb}.{stamp}      addresses an index while it is being rebuilt

Index-per-KB rather than one shared index: tenant isolation holds by construction (a
query names one KB's alias, and every query also filters on `kb_id`), each KB carries
its own embedding model and vector dimension in its mapping, a re-index or a delete
touches one KB only, and BM25 statistics (IDF) are never skewed by another tenant's
text. The cost, one shard per KB, suits help centers (tens of KBs, not millions).

`MAPPING_VERSION` changes whenever the layout below changes; an index built with another
version is refused for writes until it is re-indexed (see `IndexMappingOutdated`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bot.domain import Chunk, IndexInfo, Vector, content_hash
from bot.errors import InvalidRequest, RetrievalError

MAPPING_VERSION = 1
META_KEY = "supportbot"
KB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_ID_BYTES = 512

_ENGLISH_TEXT = {
    "type": "text",
    "analyzer": "english",
    "fields": {"std": {"type": "text", "analyzer": "standard"}},
}
_STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}


def check_kb_name(kb: str) -> str:
    if not KB_NAME.match(kb):
        raise InvalidRequest(
            f"invalid knowledge base name {kb!r}: use 1-63 lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
    return kb


@dataclass(frozen=True, slots=True)
class IndexNames:
    prefix: str
    kb: str

    @property
    def alias(self) -> str:
        return f"{self.prefix}-kb-{self.kb}"

    @property
    def physical_pattern(self) -> str:
        return f"{self.alias}.*"

    @property
    def initial(self) -> str:
        """Deterministic, so two processes creating the same KB cannot both succeed."""
        return f"{self.alias}.initial"

    def new_build(self) -> tuple[str, str]:
        """(physical index, writer alias) for a rebuild, unique per call."""
        stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        return f"{self.alias}.{stamp}", f"{self.prefix}-build-{self.kb}.{stamp}"


def kb_from_alias(prefix: str, alias: str) -> str | None:
    head = f"{prefix}-kb-"
    if not alias.startswith(head):
        return None
    kb = alias[len(head) :]
    return kb if KB_NAME.match(kb) else None


@dataclass(frozen=True, slots=True)
class IndexMeta:
    """What `_meta` of a physical index records about how it was built."""

    kb: str
    info: IndexInfo
    mapping_version: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "mapping_version": self.mapping_version,
            "embedding_model": self.info.embedding_model,
            "dimension": self.info.dimension,
            "schema_version": self.info.schema_version,
        }

    @classmethod
    def from_mapping(cls, index: str, mapping: dict[str, Any]) -> IndexMeta:
        meta: dict[str, Any] = (mapping.get("_meta") or {}).get(META_KEY) or {}
        try:
            info = IndexInfo(
                embedding_model=str(meta["embedding_model"]),
                dimension=int(meta["dimension"]),
                schema_version=int(meta["schema_version"]),
            )
            return cls(kb=str(meta["kb"]), info=info, mapping_version=int(meta["mapping_version"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RetrievalError(
                f"index {index!r} has no supportbot metadata in its mapping; it was not created"
                " by supportbot. Delete it or pick another SUPPORTBOT_ELASTICSEARCH_INDEX_PREFIX"
            ) from exc


@dataclass(frozen=True, slots=True)
class ServedIndex:
    """The physical index behind a KB's alias, and what it was built with."""

    name: str
    meta: IndexMeta


def index_body(
    meta: IndexMeta, *, replicas: int, building: bool, aliases: dict[str, Any]
) -> dict[str, Any]:
    """Settings, mapping and aliases for a new physical index.

    A building index has no replicas and no periodic refresh (bulk loads faster); the
    commit restores both before the index goes live.
    """
    return {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0 if building else replicas,
            "refresh_interval": "-1" if building else "1s",
        },
        "mappings": {
            "dynamic": "strict",
            "_meta": {META_KEY: meta.to_json()},
            # Vectors live in the HNSW graph and its raw-vector file; keeping them out of
            # _source saves disk and fetch time (a rebuild re-reads the help center anyway).
            "_source": {"excludes": ["embedding"]},
            "properties": {
                "kb_id": {"type": "keyword"},
                "source_id": {"type": "keyword"},
                "doc_hash": {"type": "keyword"},
                "ordinal": {"type": "integer"},
                "title": _ENGLISH_TEXT,
                "headings": _ENGLISH_TEXT,
                "body": _ENGLISH_TEXT,
                "url": _STORED_ONLY,
                "indexed_at": {"type": "date"},
                "embedding": {
                    "type": "dense_vector",
                    "dims": meta.info.dimension,
                    "index": True,
                    "similarity": "cosine",
                    "index_options": {"type": "int8_hnsw", "m": 16, "ef_construction": 100},
                },
            },
        },
        "aliases": aliases,
    }


def chunk_doc_id(chunk: Chunk) -> str:
    """Stable per (document version, ordinal): rewriting the same version overwrites it."""
    return doc_id(chunk.source_id, chunk.doc_hash, chunk.ordinal)


def doc_id(source_id: str, doc_hash: str, ordinal: int) -> str:
    """The `_id` of a chunk, from the fields its document also holds as doc values."""
    made = f"{source_id}#{doc_hash[:16]}#{ordinal}"
    if len(made.encode("utf-8")) > MAX_ID_BYTES:
        made = f"sha256:{content_hash(source_id)}#{doc_hash[:16]}#{ordinal}"
    return made


def chunk_source(chunk: Chunk, vector: Vector, indexed_at: str) -> dict[str, Any]:
    """The document as indexed; the vector goes as a float32 array.

    The client's orjson serializer writes float32 in its shortest form (~11 characters a
    number instead of a float64's ~20), and the index stores float32 anyway, so the node
    keeps the same vector from a body about 40 % smaller. The saving lasts: Elasticsearch
    keeps each document's original JSON, vector included, as `_recovery_source` in the
    same stored-field blocks as the text until a merge prunes it, and every query's fetch
    phase decompresses those blocks to read 50 hits.
    """
    return {
        "kb_id": chunk.kb,
        "source_id": chunk.source_id,
        "doc_hash": chunk.doc_hash,
        "ordinal": chunk.ordinal,
        "title": chunk.title,
        "headings": list(chunk.heading_path),
        "body": chunk.text,
        "url": chunk.url,
        "indexed_at": indexed_at,
        "embedding": np.ascontiguousarray(vector, dtype=np.float32),
    }


def chunk_from_source(source: dict[str, Any]) -> Chunk:
    return Chunk(
        kb=source["kb_id"],
        source_id=source["source_id"],
        ordinal=int(source["ordinal"]),
        title=source["title"],
        heading_path=tuple(source.get("headings") or ()),
        text=source["body"],
        url=source.get("url"),
        doc_hash=source["doc_hash"],
    )
