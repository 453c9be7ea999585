"""Chunks already read from Elasticsearch, kept between searches, and which version they are.

Reading 50 hits' stored fields was ~2 ms of the node's ~5 ms per request at help-center size
(every hit's block holds `_source` and the `_recovery_source` copy with the vector). The
searches now ask only for each hit's identity and version from doc values, and the text
comes from here; a miss is read once with `mget` (`hit_chunks`).

An entry is keyed by the concrete index the hit came from (an alias swap after a re-index
never serves the old index's text) and the chunk's identity, and it is served only when the
hit's version stamp equals the one stored with it:

- `_seq_no` and `_primary_term` change on every write of the document, so a chunk rewritten
  in place by incremental ingestion is read again;
- `indexed_at` (the write's timestamp) tells apart a document of an index deleted and created
  again under the same name (`<alias>.initial`), whose sequence numbers start over.

A deleted chunk is never a hit again; its entry ages out. The bound counts chunks across all
KBs, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import NamedTuple

from bot.domain import Chunk

DEFAULT_MAX_CHUNKS = 20_000
"""~30 MB of help-center text at ~1.5 kB a chunk."""


class ChunkKey(NamedTuple):
    """Tuples, not dataclasses: a search hashes and compares 100 of each (~0.1 ms saved)."""

    index_name: str
    source_id: str
    doc_hash: str
    ordinal: int


class ChunkStamp(NamedTuple):
    """Which write of the document a hit saw."""

    seq_no: int
    primary_term: int
    indexed_at: str


class ChunkCache:
    """Thread-safe LRU of (key → stamp, chunk)."""

    def __init__(self, max_chunks: int = DEFAULT_MAX_CHUNKS) -> None:
        if max_chunks < 0:
            raise ValueError(f"max_chunks must be >= 0, got {max_chunks}")
        self.max_chunks = max_chunks
        self._entries: OrderedDict[ChunkKey, tuple[ChunkStamp, Chunk]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_chunks > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, wanted: Mapping[ChunkKey, ChunkStamp]) -> dict[ChunkKey, Chunk]:
        """The chunks held in exactly the wanted versions; the others are missing."""
        found: dict[ChunkKey, Chunk] = {}
        with self._lock:
            for key, stamp in wanted.items():
                entry = self._entries.get(key)
                if entry is not None and entry[0] == stamp:
                    self._entries.move_to_end(key)
                    found[key] = entry[1]
        return found

    def put(self, key: ChunkKey, stamp: ChunkStamp, chunk: Chunk) -> None:
        self.put_many({key: (stamp, chunk)})

    def put_many(self, entries: Mapping[ChunkKey, tuple[ChunkStamp, Chunk]]) -> None:
        if not self.enabled:
            return
        with self._lock:
            for key, entry in entries.items():
                self._entries[key] = entry
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_chunks:
                self._entries.popitem(last=False)

    def drop_index(self, index: str) -> None:
        """Forget an index the alias has moved on from."""
        self._drop(lambda name: name == index)

    def drop_indices_of(self, alias: str) -> None:
        """Forget every index of a KB (`<alias>.<suffix>`): the KB is being deleted."""
        self._drop(lambda name: name.startswith(f"{alias}."))

    def _drop(self, matches: Callable[[str], bool]) -> None:
        with self._lock:
            for key in [key for key in self._entries if matches(key.index_name)]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
