"""CachedTokenVectorStore: candidates' decoded token vectors kept in memory.

Reading ~50 chunks' vectors from SQLite and decoding them from int8 cost more than the
MaxSim itself on every search (see benchmarks/README.md, "/v1/search latency"); popular
passages come back in search after search. The cache holds the exact float32 matrices
the store decodes, so scores are the same with or without it, bounded by bytes (least
recently used dropped first).

Rows are keyed by content hash, so a re-index that changes a chunk asks for a new key;
a row rewritten under the same key (a re-embedding after the store was wiped, another
process healing it) is noticed through the store's `data_version`, which moves on any
commit by any process: the whole cache is dropped then (writes are rare, reads many).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from bot.domain import Chunk, Vector
from bot.rerank.token_store import TokenStoreStats, TokenVectorStore


class VersionedTokenVectorStore(TokenVectorStore, Protocol):
    """A token store that can say whether anything wrote to it (SqliteTokenVectorStore)."""

    def data_version(self) -> int: ...

    def delete(self, content_hashes: Sequence[str]) -> int: ...

    def stats(self) -> TokenStoreStats: ...

    def close(self) -> None: ...


class CachedTokenVectorStore:
    """The same store, with loaded matrices kept up to `max_bytes` (read-only arrays)."""

    def __init__(self, inner: VersionedTokenVectorStore, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self._inner = inner
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Vector] = OrderedDict()
        self._bytes = 0
        self._seen_version: int | None = None
        self._epoch = 0
        """Bumped on every drop, so a load that raced a write does not keep what it read."""
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str | None:
        return self._inner.model_id

    @model_id.setter
    def model_id(self, model_id: str | None) -> None:
        self._inner.model_id = model_id
        self.clear()

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    @property
    def cached_chunks(self) -> int:
        return len(self._entries)

    def bind(self, model_id: str) -> None:
        self._inner.bind(model_id)
        self.clear()

    def store(self, chunks: Sequence[Chunk], token_vectors: Sequence[Vector]) -> None:
        self._inner.store(chunks, token_vectors)
        self._forget([chunk.content_hash for chunk in chunks])

    def delete(self, content_hashes: Sequence[str]) -> int:
        deleted = self._inner.delete(content_hashes)
        self._forget(content_hashes)
        return deleted

    def stats(self) -> TokenStoreStats:
        return self._inner.stats()

    def close(self) -> None:
        self._inner.close()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._drop_all()

    def load(self, content_hashes: Sequence[str]) -> dict[str, Vector]:
        version = self._inner.data_version()
        found: dict[str, Vector] = {}
        with self._lock:
            if version != self._seen_version:
                self._drop_all()
                self._seen_version = version
            epoch = self._epoch
            for content_hash in content_hashes:
                matrix = self._entries.get(content_hash)
                if matrix is not None:
                    self._entries.move_to_end(content_hash)
                    found[content_hash] = matrix
        missing = [h for h in dict.fromkeys(content_hashes) if h not in found]
        if not missing:
            return found
        loaded = self._inner.load(missing)
        for matrix in loaded.values():
            matrix.setflags(write=False)  # shared between searches: nobody may change it
        found.update(loaded)
        with self._lock:
            if epoch == self._epoch:
                for content_hash, matrix in loaded.items():
                    self._keep(content_hash, matrix)
        return found

    # -- under the lock ----------------------------------------------------------------
    def _keep(self, content_hash: str, matrix: Vector) -> None:
        if matrix.nbytes > self.max_bytes or content_hash in self._entries:
            return
        self._entries[content_hash] = matrix
        self._bytes += matrix.nbytes
        while self._bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.nbytes

    def _drop_all(self) -> None:
        self._entries.clear()
        self._bytes = 0
        self._epoch += 1

    def _forget(self, content_hashes: Sequence[str]) -> None:
        with self._lock:
            self._epoch += 1
            for content_hash in content_hashes:
                dropped = self._entries.pop(content_hash, None)
                if dropped is not None:
                    self._bytes -= dropped.nbytes
