"""FeedbackStore: "was this helpful?" votes, appended as JSON lines under data_dir.

One line per vote, so the file is easy to load into a notebook or a spreadsheet and a
crash never leaves it half-written for more than one line.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Rating = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    kb: str
    rating: Rating
    question: str
    answer: str
    conversation_id: str | None = None
    source_ids: tuple[str, ...] = ()
    comment: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class JsonlFeedbackStore:
    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    async def record(self, feedback: FeedbackRecord) -> str:
        await asyncio.to_thread(self._append, feedback)
        return feedback.id

    async def recent(self, kb: str, limit: int = 100) -> list[FeedbackRecord]:
        return await asyncio.to_thread(self._read, kb, limit)

    def _append(self, feedback: FeedbackRecord) -> None:
        line = json.dumps(asdict(feedback), ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)

    def _read(self, kb: str, limit: int) -> list[FeedbackRecord]:
        if not self.path.exists():
            return []
        records: list[FeedbackRecord] = []
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            try:
                raw = json.loads(line)
                raw["source_ids"] = tuple(raw.get("source_ids", ()))
                record = FeedbackRecord(**raw)
            except (ValueError, TypeError):
                continue  # a torn last line after a crash
            if record.kb == kb:
                records.append(record)
        return records[-limit:]
