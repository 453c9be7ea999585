"""What a format parser extracts from one file, before ids and URLs are assigned."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Section


@dataclass(frozen=True)
class DocumentContent:
    title: str | None
    """Explicit title (front matter, first heading, `<title>`); None = derive from the name."""
    url: str | None
    """URL the document declares itself (front matter `url`/`permalink`, canonical link)."""
    sections: tuple[Section, ...]
