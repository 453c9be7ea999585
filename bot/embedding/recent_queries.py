"""RecentQueries: the vectors of recent queries, so one request encodes its query once.

Retrieval embeds the query and late-interaction reranking needs its token vectors from
the same forward pass; keeping both for a short while lets the second caller reuse them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from bot.domain import Vector


class RecentQueries:
    """A small LRU of short texts' (sentence, token) vectors: the queries of recent requests.

    Long texts are not kept (a chunk's token vectors weigh tens of KB); copies go out, so
    callers may modify what they get."""

    def __init__(self, max_entries: int = 256, max_tokens: int = 64) -> None:
        self._entries: OrderedDict[str, tuple[Vector, Vector]] = OrderedDict()
        self._max_entries = max_entries
        self._max_tokens = max_tokens
        self._lock = threading.Lock()

    def get(self, text: str) -> tuple[Vector, list[Vector]] | None:
        with self._lock:
            entry = self._entries.get(text)
            if entry is None:
                return None
            self._entries.move_to_end(text)
        sentence, tokens = entry
        return sentence.copy(), [tokens.copy()]

    def put(self, text: str, sentences: Vector, tokens: list[Vector]) -> None:
        if len(tokens) != 1 or len(tokens[0]) > self._max_tokens:
            return
        with self._lock:
            self._entries[text] = (sentences.copy(), tokens[0].copy())
            self._entries.move_to_end(text)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
