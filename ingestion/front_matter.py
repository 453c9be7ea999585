"""YAML front matter (`---` fenced block at the top of a Markdown file)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.errors import IngestionError

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


@dataclass(frozen=True)
class FrontMatter:
    fields: dict[str, Any] = field(default_factory=dict)

    def text(self, *keys: str) -> str | None:
        """First non-empty string value among `keys`."""
        for key in keys:
            value = self.fields.get(key)
            if isinstance(value, str | int | float) and str(value).strip():
                return str(value).strip()
        return None


def split_front_matter(text: str) -> tuple[FrontMatter, str]:
    """Return the parsed front matter and the body after it (untouched when there is none)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return FrontMatter(), text
    raw = match.group(1) or ""
    try:
        loaded = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise IngestionError(f"front matter is not valid YAML{where}: {problem}") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise IngestionError("front matter must be a YAML mapping of keys to values")
    return FrontMatter({str(key): value for key, value in loaded.items()}), text[match.end() :]
