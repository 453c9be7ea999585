"""Small synthetic help centers for job tests: distinct, deterministic, cheap to embed."""

from __future__ import annotations

import random
from pathlib import Path

_WORDS = [
    "account",
    "billing",
    "invoice",
    "password",
    "reset",
    "login",
    "email",
    "notification",
    "team",
    "workspace",
    "share",
    "export",
    "import",
    "backup",
    "storage",
    "mobile",
    "desktop",
    "browser",
    "sync",
    "offline",
    "folder",
    "note",
    "page",
    "tag",
    "search",
    "filter",
    "archive",
    "delete",
    "restore",
    "trash",
    "settings",
    "profile",
    "avatar",
    "language",
    "timezone",
    "security",
    "two-factor",
    "session",
    "device",
    "admin",
    "member",
    "role",
    "permission",
    "invite",
    "plan",
    "upgrade",
    "refund",
    "receipt",
    "card",
    "payment",
    "integration",
    "calendar",
    "slack",
    "webhook",
    "api",
    "token",
    "limit",
]


def article(index: int, words: int = 90, marker: str | None = None) -> str:
    rng = random.Random(index)
    body = " ".join(rng.choice(_WORDS) for _ in range(words))
    extra = f"\n\nThis article mentions {marker}.\n" if marker else "\n"
    return f"# Topic {index} guide\n\nHow topic{index} works: {body}.{extra}"


def write_corpus(folder: Path, count: int, *, marker: str | None = None) -> list[str]:
    """`count` Markdown articles (one chunk each); `marker` is added to article 0."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for index in range(count):
        name = f"topic-{index:03d}.md"
        (folder / name).write_text(
            article(index, marker=marker if index == 0 else None), encoding="utf-8"
        )
        ids.append(name)
    return ids
