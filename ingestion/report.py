"""What an ingest run tells its caller: progress while it runs, a report at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

PARSING = "parsing"
CHUNKING = "chunking"
EMBEDDING = "embedding"
INDEXING = "indexing"
DELETING = "deleting"
COMMITTING = "committing"


@dataclass(frozen=True)
class IngestProgress:
    phase: str
    done: int
    total: int
    current: str | None = None


ProgressCallback = Callable[[IngestProgress], None]


@dataclass
class IngestReport:
    kb: str
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Documents an ignore pattern kept out; any indexed version is in `deleted` too."""
    failed: dict[str, str] = field(default_factory=dict)
    """source_id → why it was not ingested; a previously indexed version is kept."""
    chunks: int = 0
    """Chunks written by this run."""
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """Human-readable lines for the CLI and job logs."""
        lines = [
            f"{self.kb}: {len(self.new)} new, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.deleted)} deleted, "
            f"{len(self.ignored)} ignored, {len(self.failed)} failed; "
            f"{self.chunks} chunks written in {self.seconds:.1f} s "
            f"(embedding {self.embed_seconds:.1f} s)"
        ]
        lines.extend(f"  failed {source_id}: {reason}" for source_id, reason in self.failed.items())
        return "\n".join(lines)
