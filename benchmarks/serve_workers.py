"""Throughput of `supportbot serve` at 1 and N worker processes, on /v1/search.

    .venv/bin/python -m benchmarks.serve_workers --workers 1 2 --users 8 --seconds 30

Serves a copy of the sample help center (ingested once into data/benchmark-cache/ if
missing) with the default embedded backend and the late-interaction reranker, and runs
`--users` closed-loop clients (each sends the next question, on a new connection, as soon
as the last answer arrives) over the 24 sample questions for `--seconds` after a 5 s
warm-up. The questions repeat, so rerank scores come from the score cache: this measures
the HTTP edge, retrieval and query embedding more than reranking. Prints requests/s,
p50/p95 latency and how many requests each worker answered, as one JSON line per count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bot.api.request_observer import WORKER_HEADER
from bot.retrieval.embedded.sqlite_db import DB_FILENAME
from tests.conftest import REPO_ROOT
from tests.support.sample_kb import SAMPLE_KB, ingest_sample
from tests.support.served import serve_env, served

QUESTIONS = REPO_ROOT / "examples" / "help-center-questions.jsonl"
CACHE = REPO_ROOT / "data" / "benchmark-cache" / "sample-kb"
ADMIN_KEY = "benchmark-admin-key"  # admins skip rate limits: the limiter is not measured


async def load(base: str, questions: list[str], users: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    workers: Counter[str] = Counter()
    errors: Counter[int] = Counter()
    headers = {"X-Supportbot-Key": ADMIN_KEY}

    async def user(index: int, until: float, record: bool) -> None:
        turn = index
        while time.perf_counter() < until:
            query = questions[turn % len(questions)]
            turn += users
            started = time.perf_counter()
            response = await client.post(
                f"{base}/v1/search", json={"kb": SAMPLE_KB, "query": query}, headers=headers
            )
            if not record:
                continue
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
                workers[response.headers.get(WORKER_HEADER, "single")] += 1
            else:
                errors[response.status_code] += 1

    # `Connection: close`, a new connection per request: uvicorn's workers share one
    # listening socket, and a kept-alive connection stays with the worker that accepted it
    # (8 opened at once all went to one worker in a trial run). One client, so the load
    # generator does not pay for a new client (TLS context) per request on the same cores.
    headers["Connection"] = "close"
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=users)) as client:
        warm_until = time.perf_counter() + 5
        await asyncio.gather(*(user(i, warm_until, False) for i in range(users)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(user(i, until, True) for i in range(users)))
        elapsed = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    return {
        "requests": len(ms),
        "throughput_rps": round(len(ms) / elapsed, 2),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
        "per_worker": sorted(workers.values(), reverse=True),
        "errors": dict(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, default=8, help="Concurrent closed-loop clients.")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    if not (CACHE / DB_FILENAME).exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        ingest_sample(CACHE)
    questions = [json.loads(line)["query"] for line in QUESTIONS.read_text().splitlines()]
    for count in args.workers:
        with tempfile.TemporaryDirectory(prefix="serve-workers-") as folder:
            root = Path(folder)
            shutil.copytree(CACHE, root / "data")
            env = serve_env(root / "data", admin_api_key=ADMIN_KEY)
            with served(env, workers=count, log=root / "serve.log", cwd=root) as base:
                result = asyncio.run(load(base, questions, args.users, args.seconds))
        print(json.dumps({"workers": count, "users": args.users, **result}), flush=True)


if __name__ == "__main__":
    main()
