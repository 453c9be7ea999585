"""The one benchmark table: ingest, retrieval, rerank, and HTTP load, both backends.

    make bench          # = deploy/with-services .venv/bin/python -m benchmarks.report

Under `deploy/with-services` (a real Elasticsearch node and Redis on free ports) it:
1. ingests the sample help center (examples/help-center) into each backend through the
   real ingestor (parse, chunk, embed, write: chunks/s), then times the backend's hybrid
   retrieval (`benchmarks.search.hybrid_latencies`: BM25 + kNN top-50 and fusion) and the
   pipeline's retrieve and rerank stages on cold questions, in process;
2. starts `supportbot serve` on each backend with 1 worker and, where `serve --workers`
   exists, one per core (sharing state through Redis), the LLM played by
   `benchmarks.llm_stub` streaming a 60-token answer at 30 ms a token;
3. runs `benchmarks.load` cells: /v1/search and /v1/chat, cold and warm questions, at
   1, 10, 50 and 200 users;
4. rewrites the table between the markers in benchmarks/README.md, and writes all
   figures as JSON to data/bench/report.json.
SUPPORTBOT_MAX_IN_FLIGHT, _ADMISSION_QUEUE and _ADMISSION_WAIT_S, when set, reach the
servers (to try other admission limits); the table's header says which were in force.
Without Elasticsearch (no SUPPORTBOT_TEST_ELASTICSEARCH_URL nor --elasticsearch-url) its
rows are left out and the table says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.load import Endpoint, client_for, request_body, run_cell, sample_questions
from benchmarks.search import hybrid_latencies
from benchmarks.served import (
    REPO,
    clean_env,
    llm_stub,
    serve_supports_workers,
    supportbot_server,
)
from bot.services import build_services
from bot.settings import Settings

README = REPO / "benchmarks" / "README.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
SAMPLE = REPO / "examples" / "help-center"
KB = "sample"
ADMIN_KEY = "sk_bench_admin_only_for_this_run"
USERS = (1, 10, 50, 200)
ENDPOINTS: tuple[Endpoint, ...] = ("search", "chat")
ADMISSION = ("max_in_flight", "admission_queue", "admission_wait_s")
ADMISSION_VARIABLES = tuple(f"SUPPORTBOT_{name.upper()}" for name in ADMISSION)
"""Passed through to the servers, to try other admission limits than the defaults."""


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total = re.search(r"MemTotal:\s*(\d+)", meminfo)
    ram = f"{int(total.group(1)) / 1024**2:.0f} GiB RAM" if total else "RAM unknown"
    cpu = model.group(1).strip() if model else platform.processor() or "CPU unknown"
    return f"{cpu}, {os.cpu_count()} cores, {ram}, Python {platform.python_version()}"


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def backend_values(backend: str, data_dir: Path, es_url: str | None) -> dict[str, str]:
    """Settings shared by the in-process phase and the servers (as SUPPORTBOT_* values)."""
    values = {
        "data_dir": str(data_dir),
        "model_cache_dir": str(REPO / "data" / "benchmark-cache" / "models"),
        "search_backend": backend,
        "reranker": "late-interaction",  # what the default falls back to without the hub
    }
    if backend == "elasticsearch" and es_url:
        values |= {"elasticsearch_url": es_url, "elasticsearch_index_prefix": "loadbench"}
    return values


def ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


async def measure_in_process(values: dict[str, str]) -> list[dict[str, Any]]:
    """Ingest the sample KB (kept for the servers), then time retrieval and rerank."""
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    services = await asyncio.to_thread(build_services, settings)
    try:
        await asyncio.to_thread(services.embedder.warm_up)  # model loading is not ingest
        report = await services.ingestor.ingest(KB, SAMPLE)
        if report.failed:
            raise RuntimeError(f"sample ingest failed: {report.failed}")
        rows: list[dict[str, Any]] = [
            {
                "measure": "ingest: parse, chunk, embed, write (chunks/s)",
                "throughput": round(report.chunks / report.seconds, 1),
                "n": report.chunks,
            },
            {
                "measure": "ingest without embedding: parse, chunk, write (chunks/s)",
                "throughput": round(report.chunks / (report.seconds - report.embed_seconds), 1),
                "n": report.chunks,
            },
        ]
        questions = sample_questions()
        embedder = services.embedder
        queries = [(q, embedder.embed_query(q)) for q in questions]
        info = embedder.index_info()
        wall, cpu = await hybrid_latencies(services.backend, KB, info, queries, 3)
        rows.append(_latency_row("retrieval: backend BM25 + kNN top-50, fusion", wall))
        rows.append(_latency_row("retrieval: the same, this process's CPU only", cpu))
        stages: dict[str, list[float]] = {"retrieve": [], "rerank": []}
        for n, question in enumerate(questions):
            outcome = await services.pipeline.search(KB, f"{question} (case {time.time_ns()}{n})")
            for stage, values_ms in stages.items():
                values_ms.append(outcome.timings_ms[stage])
        retrieve, rerank = stages["retrieve"], stages["rerank"]
        rows.append(_latency_row("retrieve stage: query embedding + hybrid, cold", retrieve))
        rows.append(_latency_row("rerank stage: late interaction, 50 candidates, cold", rerank))
        return rows
    finally:
        await services.aclose()


def _latency_row(measure: str, values_ms: list[float]) -> dict[str, Any]:
    return {
        "measure": measure,
        "p50_ms": ms(values_ms, 50),
        "p95_ms": ms(values_ms, 95),
        "p99_ms": ms(values_ms, 99),
        "n": len(values_ms),
    }


async def load_cells(
    url: str, seconds: dict[Endpoint, float], user_counts: tuple[int, ...]
) -> list[dict[str, Any]]:
    rows = []
    questions = sample_questions()
    async with client_for(url, 2, ADMIN_KEY, timeout_s=120.0) as client:
        for endpoint in ENDPOINTS:  # first requests load lazily: not in any cell
            body = request_body(endpoint, KB, f"warm-up {time.time_ns()}")
            (await client.post(f"/v1/{endpoint}", json=body)).raise_for_status()
    for endpoint in ENDPOINTS:
        for warm in (False, True):
            for users in user_counts:
                async with client_for(url, users, ADMIN_KEY, timeout_s=30.0) as client:
                    cell = await run_cell(
                        client, KB, endpoint, users, seconds[endpoint], warm, questions
                    )
                summary = cell.summary()
                print(json.dumps(summary), flush=True)
                rows.append(summary)
                await asyncio.sleep(1.0)  # let the last cell's work drain
    return rows


def server_env(values: dict[str, str], llm_url: str, redis_url: str | None) -> dict[str, str]:
    overrides = {f"SUPPORTBOT_{k.upper()}": v for k, v in values.items()}
    overrides |= {k: v for k, v in os.environ.items() if k in ADMISSION_VARIABLES}
    overrides |= {
        "SUPPORTBOT_LLM_MODEL": "openai/bench-stub",
        "SUPPORTBOT_LLM_BASE_URL": llm_url,
        "SUPPORTBOT_LLM_API_KEY": "bench",
        "SUPPORTBOT_ADMIN_API_KEY": ADMIN_KEY,
        "SUPPORTBOT_SOURCE_SCHEDULE_TICK_S": "0",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if redis_url:
        overrides["SUPPORTBOT_REDIS_URL"] = redis_url
    return clean_env(overrides)


def fmt(value: Any) -> str:
    if value is None or value == {} or value == "":
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in sorted(value.items()))
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| measure | backend | workers | users | questions | throughput | p50 ms | p95 ms "
        "| p99 ms | n ok | refused + Retry-After (p50 / max ms) | errors |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        refused = fmt(r.get("refused"))
        if refused != "–":
            refused += f" ({fmt(r.get('refusal_p50_ms'))} / {fmt(r.get('refusal_max_ms'))})"
        throughput = r.get("throughput", r.get("throughput_rps"))
        lines.append(
            f"| {r['measure']} | {r['backend']} | {fmt(r.get('workers'))} | "
            f"{fmt(r.get('users'))} | {fmt(r.get('questions'))} | {fmt(throughput)} | "
            f"{fmt(r.get('p50_ms'))} | {fmt(r.get('p95_ms'))} | {fmt(r.get('p99_ms'))} | "
            f"{fmt(r.get('ok', r.get('n')))} | {refused} | {fmt(r.get('errors'))} |"
        )
    return "\n".join(lines)


def write_readme(block: str) -> None:
    text = README.read_text()
    if START not in text or END not in text:
        raise RuntimeError(f"{README} lacks the markers {START} … {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{block}\n{END}{tail}")


async def main(args: argparse.Namespace) -> None:
    started = time.monotonic()
    load_before = load_average()
    es_url = args.elasticsearch_url or os.environ.get("SUPPORTBOT_TEST_ELASTICSEARCH_URL")
    redis_url = args.redis_url or os.environ.get("SUPPORTBOT_TEST_REDIS_URL")
    backends = ["embedded"] + (["elasticsearch"] if es_url else [])
    workers = [1]
    notes = []
    many = args.workers or os.cpu_count() or 2
    if not serve_supports_workers():
        notes.append("`supportbot serve --workers` is not on this checkout: 1 worker only.")
    elif not redis_url:
        notes.append("No Redis (SUPPORTBOT_TEST_REDIS_URL / --redis-url): 1 worker only.")
    elif many > 1:
        workers.append(many)
    if not es_url:
        notes.append("No Elasticsearch (run under deploy/with-services): embedded only.")
    seconds: dict[Endpoint, float] = {"search": args.cell_seconds, "chat": args.chat_cell_seconds}
    rows: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="supportbot-bench-"))
    with llm_stub(args.token_ms, args.tokens) as llm_url:
        for backend in backends:
            values = backend_values(backend, scratch / backend, es_url)
            for row in await measure_in_process(values):
                rows.append({"backend": backend, **row})
                print(json.dumps(rows[-1]), flush=True)
            for count in workers:
                env = server_env(values, llm_url, redis_url if count > 1 else None)
                log_path = scratch / f"serve-{backend}-{count}.log"
                with ExitStack() as stack:
                    try:
                        url = stack.enter_context(supportbot_server(env, count, log_path))
                    except RuntimeError as exc:  # one configuration failing keeps the others
                        notes.append(f"{backend}, {count} workers: not measured ({exc}).")
                        continue
                    for cell in await load_cells(url, seconds, args.users):
                        endpoint = cell.pop("endpoint")
                        measure = f"`/v1/{endpoint}` (req/s)"
                        where = {"backend": backend, "workers": count}
                        rows.append({"measure": measure, **where, **cell})
    minutes = (time.monotonic() - started) / 60
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            f"Run of {stamp}, {minutes:.1f} min: {machine()}; load average (1/5/15 min) "
            f"{load_before} at the start, {load_average()} at the end. The LLM stub streams "
            f"{args.tokens} tokens at {args.token_ms:g} ms a token; cells of "
            f"{args.cell_seconds:g} s (search) and {args.chat_cell_seconds:g} s (chat); "
            "the load generator runs on the same cores. Admission per process: "
            + ", ".join(f"{name} {getattr(Settings(), name)}" for name in ADMISSION)
            + ".",
            *(f"{note}" for note in notes),
            "",
            table(rows),
        ]
    )
    out = REPO / "data" / "bench" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "notes": notes, "machine": machine()}, indent=2))
    if args.no_readme:
        print(block)
    else:
        write_readme(block)
        print(f"wrote the table to {README} (and {out})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--elasticsearch-url", help="Default: SUPPORTBOT_TEST_ELASTICSEARCH_URL.")
    parser.add_argument("--redis-url", help="For N workers. Default: SUPPORTBOT_TEST_REDIS_URL.")
    parser.add_argument("--workers", type=int, help="N for the N-worker rows (default: cores).")
    parser.add_argument("--cell-seconds", type=float, default=4.0, help="Per /v1/search cell.")
    parser.add_argument("--chat-cell-seconds", type=float, default=6.0, help="Per /v1/chat cell.")
    parser.add_argument("--token-ms", type=float, default=30.0)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument(
        "--users",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        default=USERS,
        help="Concurrent users per cell, comma-separated (default 1,10,50,200).",
    )
    parser.add_argument("--no-readme", action="store_true", help="Print the table only.")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
