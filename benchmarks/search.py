"""Search backends side by side: ingest throughput and hybrid-retrieval latency.

    .venv/bin/python benchmarks/search.py --elasticsearch-url http://127.0.0.1:9200
    .venv/bin/python benchmarks/search.py --elasticsearch-url ... --large 0   # Zulip size only

Corpus: the Zulip help center (../shared/eval/zulip-help), parsed and chunked by the real
ingestion code and embedded once with the packaged MiniLM; the embedding time is reported
apart and the vectors are cached under data/benchmark-cache/. The large set (--large chunks,
default 100k) is built from those vectors, not re-embedded: copies of every document whose
vectors get Gaussian noise (renormalised, cosine ~0.93 to the original) and whose text gets
a variant tag. Ingest = a full rebuild through IndexBuild: chunks/s of the writes, and the
commit apart (Elasticsearch: refresh, count check, alias swap, old index retired after
`retire_after_s`). Latency = per query, BM25 top-50 and kNN top-50 concurrently, then RRF
fusion: what HybridRetriever does after embedding the query (timed separately).
Both backends, both sizes, one run, same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.domain import Chunk, DocumentChunks, EmbeddedChunk, IndexInfo, Vector  # noqa: E402
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder  # noqa: E402
from bot.retrieval.fusion import reciprocal_rank_fusion  # noqa: E402
from bot.retrieval.protocol import SearchBackend  # noqa: E402
from bot.settings import PACKAGED_EMBEDDING_MODEL, Settings  # noqa: E402
from ingestion.chunking import Chunker  # noqa: E402
from ingestion.collect import collect_documents  # noqa: E402
from ingestion.embedding_text import text_for_embedding  # noqa: E402
from ingestion.parsing import DocumentParser  # noqa: E402
from ingestion.sources import open_source  # noqa: E402

CACHE = REPO / "data" / "benchmark-cache"  # gitignored
TOP_N = 50
WRITE_BATCH_DOCS = 200


@dataclass
class Corpus:
    documents: list[DocumentChunks]
    embed_seconds: float | None  # None when the vectors came from the cache

    @property
    def chunks(self) -> int:
        return sum(len(d.chunks) for d in self.documents)


def load_zulip(source: Path, embedder: SentenceTransformerEmbedder, kb: str) -> Corpus:
    settings = Settings(_env_file=None)
    chunker = Chunker.from_settings(settings, embedder)
    with open_source(source) as tree:
        collection = collect_documents(tree, DocumentParser())
    per_doc = [(doc, chunker.chunk(doc, kb)) for doc in collection.documents]
    per_doc = [(doc, chunks) for doc, chunks in per_doc if chunks]
    texts = [text_for_embedding(c) for _, chunks in per_doc for c in chunks]
    key = hashlib.sha256("\x1f".join([embedder.model_id, *texts]).encode()).hexdigest()[:16]
    cached = CACHE / f"zulip-{key}.npy"
    embed_seconds = None
    if cached.exists():
        vectors = np.load(cached)
    else:
        started = time.perf_counter()
        vectors = embedder.embed_documents(texts)
        embed_seconds = time.perf_counter() - started
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(cached, vectors)
    documents, row = [], 0
    for doc, chunks in per_doc:
        items = [EmbeddedChunk(c, vectors[row + i]) for i, c in enumerate(chunks)]
        row += len(chunks)
        documents.append(DocumentChunks(doc.source_id, doc.doc_hash, items))
    return Corpus(documents, embed_seconds)


def expand(base: Sequence[DocumentChunks], target_chunks: int, kb: str) -> list[DocumentChunks]:
    """Perturbed copies of `base` until about `target_chunks` chunks."""
    rng = np.random.default_rng(42)
    per_copy = sum(len(d.chunks) for d in base)
    documents: list[DocumentChunks] = []
    for copy in range(max(1, round(target_chunks / per_copy))):
        for doc in base:
            source_id = f"{doc.source_id}~{copy}"
            doc_hash = hashlib.sha256(f"{doc.doc_hash}{copy}".encode()).hexdigest()
            items = []
            for item in doc.chunks:
                noise = rng.standard_normal((item.vector.shape[0],), dtype=np.float32)
                vector = item.vector + 0.4 * noise / np.sqrt(item.vector.shape[0])
                chunk = replace(
                    item.chunk,
                    kb=kb,
                    source_id=source_id,
                    doc_hash=doc_hash,
                    text=f"{item.chunk.text} (variant {copy})",
                )
                unit = np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)
                items.append(EmbeddedChunk(chunk, unit))
            documents.append(DocumentChunks(source_id, doc_hash, items))
    return documents


def with_kb(documents: Sequence[DocumentChunks], kb: str) -> list[DocumentChunks]:
    def move(chunk: Chunk) -> Chunk:
        return replace(chunk, kb=kb)

    return [
        DocumentChunks(
            d.source_id, d.doc_hash, [EmbeddedChunk(move(i.chunk), i.vector) for i in d.chunks]
        )
        for d in documents
    ]


async def ingest(
    backend: SearchBackend, kb: str, info: IndexInfo, docs: list[DocumentChunks]
) -> tuple[float, float]:
    """(seconds writing, seconds committing) of a full rebuild."""
    build = await backend.begin_rebuild(kb, info)
    try:
        started = time.perf_counter()
        for start in range(0, len(docs), WRITE_BATCH_DOCS):
            report = await build.write(docs[start : start + WRITE_BATCH_DOCS])
            if report.failed:
                raise RuntimeError(f"benchmark documents failed: {list(report.failed.items())[:3]}")
        written = time.perf_counter()
        await build.commit()
    except BaseException:
        await build.abort()
        raise
    return written - started, time.perf_counter() - written


async def hybrid_latencies(
    backend: SearchBackend,
    kb: str,
    info: IndexInfo,
    queries: Sequence[tuple[str, Vector]],
    repeats: int,
) -> tuple[list[float], list[float]]:
    """(wall ms, this process's CPU ms) per query: for Elasticsearch the CPU is the client's
    share (encoding, HTTP, decoding), which other jobs on the machine inflate far less."""

    async def one(text: str, vector: Vector) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        bm25, dense = await asyncio.gather(
            backend.bm25(kb, text, TOP_N), backend.knn(kb, vector, TOP_N, info)
        )
        reciprocal_rank_fusion(bm25, dense, limit=TOP_N)
        return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000

    for text, vector in queries[:10]:  # warm caches, JIT and connections
        await one(text, vector)
    timed = [await one(text, vector) for _ in range(repeats) for text, vector in queries]
    return [wall for wall, _ in timed], [cpu for _, cpu in timed]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def run_backend(
    name: str,
    backend: SearchBackend,
    info: IndexInfo,
    sets: dict[str, list[DocumentChunks]],
    queries: Sequence[tuple[str, Vector]],
    repeats: int,
    keep: bool,
) -> list[dict[str, object]]:
    rows = []
    try:
        for size, documents in sets.items():
            kb = f"bench-{size}"
            docs = with_kb(documents, kb)
            chunks = sum(len(d.chunks) for d in docs)
            write_s, commit_s = await ingest(backend, kb, info, docs)
            latencies, cpu = await hybrid_latencies(backend, kb, info, queries, repeats)
            rows.append(
                {
                    "backend": name,
                    "set": size,
                    "chunks": chunks,
                    "write_s": round(write_s, 2),
                    "commit_s": round(commit_s, 2),
                    "ingest_chunks_per_s": round(chunks / write_s, 1),
                    "queries": len(latencies),
                    "hybrid_p50_ms": round(percentile(latencies, 50), 2),
                    "hybrid_p95_ms": round(percentile(latencies, 95), 2),
                    "hybrid_mean_ms": round(statistics.fmean(latencies), 2),
                    "hybrid_cpu_p50_ms": round(percentile(cpu, 50), 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            if not keep:
                await backend.delete_kb(kb)
    finally:
        await backend.close()
    return rows


def markdown(rows: Sequence[dict[str, object]], embed: dict[str, object]) -> str:
    lines = [
        "| backend | set | chunks | ingest chunks/s | commit s | hybrid p50 ms | hybrid p95 ms"
        " | process CPU p50 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['set']} | {r['chunks']} | {r['ingest_chunks_per_s']} | "
            f"{r['commit_s']} | "
            f"{r['hybrid_p50_ms']} | {r['hybrid_p95_ms']} | {r['hybrid_cpu_p50_ms']} |"
        )
    lines.append("")
    lines.append(
        f"Embedding (not in ingest figures): {embed['chunks']} chunks, "
        f"{embed['chunks_per_s']} chunks/s; query embedding p50 {embed['query_p50_ms']} ms."
    )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    embedder = SentenceTransformerEmbedder(PACKAGED_EMBEDDING_MODEL)
    embedder.warm_up()
    info = embedder.index_info()
    zulip = load_zulip(args.source, embedder, "bench-zulip")
    labelled = [json.loads(line) for line in args.queries.read_text().splitlines() if line.strip()]
    texts = [item["query"] for item in labelled]
    query_times = []
    vectors = []
    for text in texts:
        t0 = time.perf_counter()
        vectors.append(embedder.embed_query(text))
        query_times.append((time.perf_counter() - t0) * 1000)
    queries = list(zip(texts, vectors, strict=True))
    embed_seconds = zulip.embed_seconds
    if embed_seconds is None:  # cached: time a sample to report the rate honestly
        sample = [text_for_embedding(i.chunk) for d in zulip.documents[:20] for i in d.chunks]
        t0 = time.perf_counter()
        embedder.embed_documents(sample)
        rate = len(sample) / (time.perf_counter() - t0)
    else:
        rate = zulip.chunks / embed_seconds
    embed: dict[str, object] = {
        "chunks": zulip.chunks,
        "chunks_per_s": round(rate, 1),
        "query_p50_ms": round(percentile(query_times, 50), 1),
    }
    sets = {"zulip": zulip.documents}
    if args.large:
        sets["large"] = expand(zulip.documents, args.large, "bench-large")
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as scratch:
        from bot.retrieval.embedded.search import EmbeddedSearch

        data_dir = args.embedded_dir or Path(scratch)
        embedded = EmbeddedSearch(data_dir)
        rows += await run_backend(
            "embedded", embedded, info, sets, queries, args.repeats, args.keep
        )
    if args.elasticsearch_url:
        from bot.retrieval.elasticsearch.search import ElasticsearchSearch

        es = ElasticsearchSearch(args.elasticsearch_url, index_prefix="bench", timeout_s=30.0)
        rows += await run_backend("elasticsearch", es, info, sets, queries, args.repeats, args.keep)
    table = markdown(rows, embed)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, "embedding": embed}, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source", type=Path, default=REPO.parent / "shared" / "eval" / "zulip-help"
    )
    parser.add_argument(
        "--queries", type=Path, default=REPO.parent / "shared" / "eval" / "zulip-dev.jsonl"
    )
    parser.add_argument("--elasticsearch-url", help="Also benchmark Elasticsearch at this URL.")
    parser.add_argument(
        "--large", type=int, default=100_000, help="Chunks in the large set; 0 skips it."
    )
    parser.add_argument("--repeats", type=int, default=3, help="Passes over the 60 queries.")
    parser.add_argument("--out", type=Path, help="Write the figures as JSON here.")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Keep the KBs (bench-zulip, bench-large) afterwards, e.g. to run `supportbot eval`"
        " on identical content in both backends.",
    )
    parser.add_argument("--embedded-dir", type=Path, help="Data dir of the embedded backend.")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
