"""What observability costs per request: `/v1/search` p50/p95 with it off and on.

    .venv/bin/python -m benchmarks.observability_overhead [--data-dir DIR] [--rounds N]

Serves the ingested sample KB twice under uvicorn (same data, same models): once with
metrics, request logs and tracing off, once with what `Settings` turns on by default.
Request log lines go to stderr (redirect it to a file). Requests alternate between the
two servers so machine load hits both alike; questions
repeat, so rerank scores and query vectors come from the caches and the request itself
(the part observability adds to) dominates. --data-dir holds an ingested `sample` KB;
without it the sample is ingested first (10-20 s).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

from bot.api.app import create_app
from bot.observability.prometheus import PrometheusMetrics
from bot.observability.protocol import FanOut
from bot.observability.request_log import request_line
from bot.observability.request_record import RequestRecord, RequestRecorder, current_record
from bot.rerank.stage import RerankOutcome
from tests.support.live_server import serve
from tests.support.sample_kb import copy_sample, ingest_sample, sample_settings

QUESTIONS = Path("examples/help-center-questions.jsonl")
OFF = {"metrics_enabled": False, "request_log": False}
ON: dict[str, object] = {}


def percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="holds an ingested `sample` KB")
    parser.add_argument("--rounds", type=int, default=10, help="passes over the questions")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="obs-bench-"))
    data = copy_sample(args.data_dir, scratch) if args.data_dir else ingest_sample(scratch)
    rounds = args.rounds
    questions = [json.loads(line)["query"] for line in QUESTIONS.read_text().splitlines()]
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
    print(f"CPU cost of one search's reports (metrics, log line): {per_request_cost_us():.1f} µs")


def per_request_cost_us(repeat: int = 20_000) -> float:
    """The observability calls one /v1/search makes (metrics, log record, log line),
    timed in a loop as CPU time (process time, so other processes on a busy machine do not
    inflate it): what the server adds per request."""
    metrics = PrometheusMetrics()
    observer = FanOut(metrics, RequestRecorder())
    timings = {"embed_query": 1.4, "bm25": 1.5, "knn": 1.2, "fuse": 0.3, "rerank": 0.9}
    null = logging.getLogger("benchmarks.null")
    null.addHandler(logging.NullHandler())
    null.propagate = False
    started = time.process_time()
    for _ in range(repeat):
        record = RequestRecord(uuid.uuid4().hex)
        token = current_record.set(record)
        observer.searched("sample", "reset my password")
        observer.stage_timings(timings)
        metrics.observe("applied", RerankOutcome([], True, cache_hits=50))
        current_record.reset(token)
        metrics.http_request("/v1/search", "POST", 200, 0.01)
        line = request_line(
            record,
            method="POST",
            route="/v1/search",
            path="/v1/search",
            status=200,
            seconds=0.01,
            customer_text=False,
        )
        null.info("%s", json.dumps(line))
    return (time.process_time() - started) / repeat * 1e6


if __name__ == "__main__":
    main()
