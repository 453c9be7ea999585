"""Heading-aware, token-bounded chunking with the embedding model's own tokenizer.

Each section is chunked on its own, so a chunk never mixes two heading paths. Within a
section, units (sentences or lines, see `units`) are packed greedily up to the target
size; a short chunk may grow to `max_tokens` rather than leave a fragment behind. Each
chunk after the first repeats the previous chunk's last whole units (about `overlap`
of the target) so a fact cut by a boundary is still findable with its context.
Every chunk also carries the article's gist (`ingestion.summary`) for embedding.
"""

from __future__ import annotations

from bot.domain import Chunk, ParsedDocument, Section
from bot.embedding.protocol import TokenCounter
from bot.errors import ConfigurationError
from bot.settings import Settings
from ingestion.summary import context_for, document_summary
from ingestion.units import Unit, UnitSplitter, render_units


class Chunker:
    def __init__(
        self, counter: TokenCounter, target_tokens: int, max_tokens: int, overlap: float
    ) -> None:
        if not 0 < target_tokens <= max_tokens:
            raise ConfigurationError(
                f"chunk sizes must satisfy 0 < target ({target_tokens}) <= max ({max_tokens}); "
                "fix SUPPORTBOT_CHUNK_TARGET_TOKENS / SUPPORTBOT_CHUNK_MAX_TOKENS"
            )
        if not 0.0 <= overlap < 0.5:
            raise ConfigurationError(f"chunk overlap must be in [0, 0.5), got {overlap}")
        self._counter = counter
        self.target_tokens = target_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap
        self._overlap_tokens = round(overlap * target_tokens)
        # Leave room for a re-opened code fence and the overlap around an oversized line.
        unit_limit = max(1, min(target_tokens, (max_tokens * 3) // 4))
        self._splitter = UnitSplitter(counter, unit_limit)

    @classmethod
    def from_settings(cls, settings: Settings, counter: TokenCounter) -> Chunker:
        return cls(
            counter,
            target_tokens=settings.chunk_target_tokens,
            max_tokens=settings.chunk_max_tokens,
            overlap=settings.chunk_overlap,
        )

    def chunk(self, doc: ParsedDocument, kb: str) -> list[Chunk]:
        texts = [
            (section.heading_path, text)
            for section in doc.sections
            for text in self.split_section(section)
        ]
        doc_hash = doc.doc_hash
        summary = document_summary(doc)
        return [
            Chunk(
                kb=kb,
                source_id=doc.source_id,
                ordinal=ordinal,
                title=doc.title,
                heading_path=path,
                text=text,
                url=doc.url,
                doc_hash=doc_hash,
                context=context_for(text, summary),
            )
            for ordinal, (path, text) in enumerate(texts)
        ]

    def split_section(self, section: Section) -> list[str]:
        units = self._splitter.section_units(section)
        texts = []
        for group in self._pack(units):
            for fitted in self._fit(group):
                text = render_units(fitted).strip("\n")
                if text.strip():
                    texts.append(text)
        return texts

    def _pack(self, units: list[Unit]) -> list[list[Unit]]:
        remaining = [0] * (len(units) + 1)
        for index in range(len(units) - 1, -1, -1):
            remaining[index] = remaining[index + 1] + units[index].tokens
        groups: list[list[Unit]] = []
        current: list[Unit] = []
        size = fresh = 0  # tokens in the chunk / tokens not repeated from the previous one
        index = 0
        while index < len(units):
            unit = units[index]
            if fresh and size + remaining[index] <= self.max_tokens:
                current.extend(units[index:])  # the rest fits: no fragment at the end
                break
            grows = size + unit.tokens
            if (
                fresh
                and grows > self.target_tokens
                and (grows > self.max_tokens or fresh >= self.target_tokens // 2)
            ):
                groups.append(current)
                current = self._overlap_units(current, unit.tokens)
                size, fresh = sum(item.tokens for item in current), 0
                continue
            current.append(unit)
            size, fresh, index = grows, fresh + unit.tokens, index + 1
        if current and (fresh or not groups):
            groups.append(current)
        return groups

    def _overlap_units(self, previous: list[Unit], next_tokens: int) -> list[Unit]:
        """Trailing whole units of `previous` worth about `overlap` of the target."""
        if not self._overlap_tokens:
            return []
        room = self.max_tokens - next_tokens
        taken: list[Unit] = []
        total = 0
        for unit in reversed(previous):
            if total + unit.tokens > min(self._overlap_tokens, room):
                break
            taken.insert(0, unit)
            total += unit.tokens
        if not taken and previous:
            last = previous[-1]
            if 0 < last.tokens <= min(2 * self._overlap_tokens, room):
                taken = [last]
        return taken

    def _fit(self, group: list[Unit]) -> list[list[Unit]]:
        """Split a packed group again if its rendered text is over `max_tokens`.

        Token counts of units are summed while packing; tokenizers that merge across
        whitespace, and re-opened code fences, can push the real count a little higher.
        """
        if len(group) == 1 or self._counter.count_tokens(render_units(group)) <= self.max_tokens:
            return [group]
        middle = len(group) // 2
        return self._fit(group[:middle]) + self._fit(group[middle:])
