"""The pipeline's stage names, shared by metrics, log lines and trace spans."""

from __future__ import annotations

STAGES: dict[str, str] = {
    "condense": "condense",
    "embed_query": "embed",
    "bm25": "bm25",
    "knn": "knn",
    "fuse": "fuse",
    "rerank": "rerank",
    "generate": "generate",
}
"""The pipeline's `timings_ms` keys → stage names; other keys (totals, sub-steps) are skipped."""
