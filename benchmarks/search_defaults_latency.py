"""`pipeline.search` (hybrid + rerank, the /v1/search path) under two settings, interleaved.

    SUPPORTBOT_DATA_DIR=DIR .venv/bin/python -m benchmarks.search_defaults_latency KB QUESTIONS

DIR holds an ingested KB (e.g. the Zulip help center). Compares the shipped settings
with the previous retrieval defaults (RRF 1:1 over 50 hits, reranker order alone), one
question at a time alternating between the two, each seen for the first time by each
(separate services: no shared query-embedding or score cache). Prints p50/p95 per setup.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from bot.evaluation.questions import load_queries
from bot.services import build_services
from bot.settings import Settings

PREVIOUS = {
    "fusion": "rrf",
    "fusion_weight_bm25": 1.0,
    "fusion_weight_dense": 1.0,
    "retriever_depth": 50,
    "rerank_document_evidence": 0.0,
}


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms (n={len(ordered)})"


async def main(kb: str, questions: Path) -> None:
    shipped = Settings()
    setups = {
        "shipped": build_services(shipped),
        "previous": build_services(shipped.model_copy(update=PREVIOUS)),
    }
    queries = load_queries(questions)
    timings: dict[str, list[float]] = {name: [] for name in setups}
    for query in queries[:3]:  # warm both (models, index, matrices)
        for services in setups.values():
            await services.pipeline.search(kb, query.query + " warm-up")
    for query in queries:
        for name, services in setups.items():
            started = time.perf_counter()
            outcome = await services.pipeline.search(kb, query.query, top_k=50)
            timings[name].append((time.perf_counter() - started) * 1000)
            assert outcome.reranked, outcome.rerank_reason
    for name, values in timings.items():
        print(f"{name}: {summary(values)}")
    for services in setups.values():
        await services.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
