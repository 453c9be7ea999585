"""What observability costs per request: `/v1/search` p50/p95 with it off and on.

    .venv/bin/python -m benchmarks.observability_overhead [DATA_DIR] [ROUNDS]

Serves the ingested sample KB twice under uvicorn (same data, same models): once with
metrics, request logs and tracing off, once with what `Settings` turns on by default.
Requests alternate between the two servers so machine load hits both alike; questions
repeat, so rerank scores and query vectors come from the caches and the request itself
(the part observability adds to) dominates. DATA_DIR holds an ingested `sample` KB;
without it the sample is ingested first (10-20 s).
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bot.api.app import create_app
from tests.live_server import serve
from tests.sample_kb import copy_sample, ingest_sample, sample_settings

QUESTIONS = Path("examples/help-center-questions.jsonl")
OFF = {"metrics_enabled": False, "request_log": False}
ON: dict[str, object] = {}


def percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="obs-bench-"))
    data = copy_sample(Path(sys.argv[1]), scratch) if len(sys.argv) > 1 else ingest_sample(scratch)
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    questions = [json.loads(line)["query"] for line in QUESTIONS.read_text().splitlines()]
    logging.getLogger("supportbot.request").disabled = True  # measure the work, not a tty
    limits = {"rate_limit_per_minute": 1e9, "rate_limit_burst": 10**9}
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(serve(create_app(sample_settings(data, **limits, **extra))))
            for name, extra in (("off", OFF), ("on", ON))
        }
        clients = {
            name: stack.enter_context(httpx.Client(base_url=url)) for name, url in urls.items()
        }
        times: dict[str, list[float]] = {name: [] for name in urls}
        for q in questions:  # warm both caches
            for client in clients.values():
                client.post("/v1/search", json={"kb": "sample", "query": q}).raise_for_status()
        for _ in range(rounds):
            for q in questions:
                for name, client in clients.items():
                    started = time.perf_counter()
                    client.post("/v1/search", json={"kb": "sample", "query": q}).raise_for_status()
                    times[name].append(time.perf_counter() - started)
    for name, seconds in times.items():
        print(f"/v1/search, observability {name:>3}: {percentiles(seconds)} (n={len(seconds)})")
    delta = statistics.median(times["on"]) - statistics.median(times["off"])
    print(f"p50 difference (on - off): {delta * 1000:+.2f} ms")


if __name__ == "__main__":
    main()
