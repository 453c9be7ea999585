"""Chunk rows of each KB's live snapshot, kept between searches.

A search's BM25 and kNN steps each name 100 chunk rows; turning those rows into `Chunk`
objects (reading the text, decoding the heading path) cost ~1.3 ms of the 3.7 ms BM25
step on the Zulip help center. Rows never change within one generation of an index
(every write bumps it, `index.mark_written`), so a snapshot's chunks are built once and
the whole KB's entry is dropped when its index or generation moves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.domain import Chunk

DEFAULT_MAX_CHUNKS = 20_000
"""Per KB, least recently used first out: ~30 MB of help-center text at ~1.5 kB a chunk."""


@dataclass
class _Snapshot:
    index_id: int
    generation: int
    chunks: OrderedDict[int, Chunk] = field(default_factory=OrderedDict)


class ChunkCache:
    """Thread-safe; `load` runs outside the lock, in the caller's read transaction."""

    def __init__(self, max_chunks: int = DEFAULT_MAX_CHUNKS) -> None:
        if max_chunks < 0:
            raise ValueError(f"max_chunks must be >= 0, got {max_chunks}")
        self.max_chunks = max_chunks
        self._snapshots: dict[str, _Snapshot] = {}
        self._lock = threading.Lock()

    def get(
        self,
        kb: str,
        index_id: int,
        generation: int,
        rows: Sequence[int],
        load: Callable[[list[int]], dict[int, Chunk]],
    ) -> dict[int, Chunk]:
        """The chunk of each row; rows not cached come from `load(missing rows)`."""
        found: dict[int, Chunk] = {}
        with self._lock:
            snapshot = self._snapshots.get(kb)
            if snapshot is None or (snapshot.index_id, snapshot.generation) != (
                index_id,
                generation,
            ):
                snapshot = self._snapshots[kb] = _Snapshot(index_id, generation)
            for row in rows:
                chunk = snapshot.chunks.get(row)
                if chunk is not None:
                    snapshot.chunks.move_to_end(row)
                    found[row] = chunk
        missing = [row for row in dict.fromkeys(rows) if row not in found]
        if not missing:
            return found
        loaded = load(missing)
        found.update(loaded)
        with self._lock:
            if self._snapshots.get(kb) is snapshot:  # a newer snapshot's entry wins
                snapshot.chunks.update(loaded)
                while len(snapshot.chunks) > self.max_chunks:
                    snapshot.chunks.popitem(last=False)
        return found

    def forget(self, kb: str) -> None:
        with self._lock:
            self._snapshots.pop(kb, None)

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()
