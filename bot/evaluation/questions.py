"""Labelled questions (JSONL: {id, query, relevant: [source_id…]}); no relevant = unanswerable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bot.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    id: str
    query: str
    relevant: tuple[str, ...]


def load_queries(path: Path) -> list[LabelledQuery]:
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries.append(
                LabelledQuery(str(row["id"]), str(row["query"]), tuple(row.get("relevant") or ()))
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidRequest(
                f"{path}:{number}: expected {{'id', 'query', 'relevant': [...]}}: {exc}"
            ) from exc
    return queries
