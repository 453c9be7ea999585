"""Plain-text files: the first line is the title when it looks like one; blank lines split."""

from __future__ import annotations

import re

from ingestion.content import DocumentContent
from ingestion.sections import SectionBuilder

MAX_TITLE_CHARS = 120
_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")


def parse_text(text: str) -> DocumentContent:
    lines = text.strip("\n").split("\n")
    first = lines[0].strip()
    title = None
    if first and len(first) <= MAX_TITLE_CHARS and not first.endswith((".", ",", ";")):
        title = first
        rest = lines[2:] if len(lines) > 1 and _UNDERLINE.match(lines[1]) else lines[1:]
        if any(line.strip() for line in rest):
            lines = rest
    builder = SectionBuilder(title)
    for block in re.split(r"\n\s*\n", "\n".join(lines)):
        builder.block("\n".join(line.rstrip() for line in block.split("\n")))
    return DocumentContent(title, None, builder.build())
