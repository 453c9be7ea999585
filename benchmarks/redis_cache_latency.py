"""Latency of a rerank-score cache hit for 50 candidates: Redis (one MGET) vs in-process.

Measures `ScoreCache.get_many` on 50 keys that are all present, and the whole
`RerankStage.rerank` call when every score comes from the cache (no model runs), against
a redis-server on loopback. Starts its own redis-server unless --redis-url is given.

    .venv/bin/python -m benchmarks.redis_cache_latency [--redis-url URL] [--runs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.cache.memory import InMemoryScoreCache
from bot.cache.protocol import ScoreCache
from bot.cache.redis_cache import RedisScoreCache
from bot.cache.redis_client import make_redis_client
from bot.cache.redis_guard import RedisGuard
from bot.domain import Candidate, Chunk
from bot.rerank.stage import RerankStage, score_cache_key

QUERY = "How do I archive a channel and can people still find its messages?"


class UnusedReranker:
    """Every score is cached, so a call here would be a measurement error."""

    name = "cross-encoder:ms-marco-MiniLM-L6-v2:256"

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        raise AssertionError("cache miss during a cache-hit benchmark")


def candidates(count: int = 50) -> list[Candidate]:
    return [
        Candidate(
            Chunk(
                "kb", f"doc-{i}.md", 0, f"Article {i}", ("Section",), f"text {i} " * 40, None, "h"
            ),
            fused_score=1.0 / (i + 1),
        )
        for i in range(count)
    ]


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    for _ in range(50):
        await call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]


async def measure(cache: ScoreCache, runs: int) -> dict[str, tuple[float, float]]:
    reranker = UnusedReranker()
    pool = candidates()
    keys = [score_cache_key(reranker.name, QUERY, c.chunk) for c in pool]
    await cache.set_many({key: float(i) for i, key in enumerate(keys)}, ttl_s=3600)
    stage = RerankStage(reranker, cache, timeout_s=5.0, cache_ttl_s=3600)
    return {
        "get_many(50)": await timed(lambda: cache.get_many(keys), runs),
        "rerank stage, all hits": await timed(lambda: stage.rerank(QUERY, pool), runs),
    }


async def main(redis_url: str, runs: int) -> None:
    client = make_redis_client(redis_url, timeout_s=1.0)
    try:
        for name, cache in (
            ("redis", RedisScoreCache(client, prefix="bench:", guard=RedisGuard("bench"))),
            ("memory", InMemoryScoreCache()),
        ):
            for label, (p50, p95) in (await measure(cache, runs)).items():
                print(f"{name:<7} {label:<24} p50 {p50:.3f} ms   p95 {p95:.3f} ms   ({runs} runs)")
    finally:
        await client.aclose(close_connection_pool=True)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url")
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    if args.redis_url:
        asyncio.run(main(args.redis_url, args.runs))
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install redis-server, or --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            [binary, "--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            asyncio.run(main(f"redis://127.0.0.1:{port}/0", args.runs))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    run()
