"""HTTP load on a real `supportbot serve`: closed-loop users, fixed-length cells.

    .venv/bin/python -m benchmarks.load --url http://127.0.0.1:8000 --kb sample \
        --endpoint chat --users 50 --seconds 5 [--warm] [--key ADMIN_KEY]

Each of `users` virtual users sends one request, waits for the whole answer, and sends
the next until the cell's time is up; requests still running then are awaited (up to the
client timeout) and counted. Cold questions are the sample questions made unique by a
serial number (no cache can answer them); warm ones repeat the sample questions, asked
once each before the cell. A refusal (429/503) carrying `Retry-After` makes that user wait
that long, as a well-behaved client does; it is reported apart from errors. Errors by
kind: HTTP status, timeout, connection. `benchmarks/report.py` runs the full grid.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import numpy as np

Endpoint = Literal["search", "chat"]
QUESTIONS = Path(__file__).resolve().parent.parent / "examples" / "help-center-questions.jsonl"
REFUSALS = (429, 503)


def sample_questions(path: Path = QUESTIONS) -> list[str]:
    return [json.loads(line)["query"] for line in path.read_text().splitlines() if line.strip()]


@dataclass
class CellResult:
    endpoint: Endpoint
    users: int
    warm: bool
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    refusal_latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return len(self.latencies_s)

    def percentile_ms(self, q: float, values: list[float] | None = None) -> float | None:
        values = self.latencies_s if values is None else values
        return round(float(np.percentile(values, q)) * 1000, 1) if values else None

    def summary(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "users": self.users,
            "questions": "warm" if self.warm else "cold",
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "throughput_rps": round(self.ok / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": self.percentile_ms(50),
            "p95_ms": self.percentile_ms(95),
            "p99_ms": self.percentile_ms(99),
            "refused": dict(self.refused),
            "refusal_p50_ms": self.percentile_ms(50, self.refusal_latencies_s),
            "refusal_max_ms": self.percentile_ms(100, self.refusal_latencies_s),
            "errors": dict(self.errors),
        }


def request_body(endpoint: Endpoint, kb: str, question: str) -> dict[str, str]:
    field_name = "query" if endpoint == "search" else "message"
    return {"kb": kb, field_name: question}


def _error_code(response: httpx.Response) -> str:
    """The body's stable error code (`overloaded`, `rate_limited`, `backend_unavailable`)."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no error code"


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def run_cell(
    client: httpx.AsyncClient,
    kb: str,
    endpoint: Endpoint,
    users: int,
    seconds: float,
    warm: bool,
    questions: list[str],
) -> CellResult:
    """One cell: `users` closed-loop users for `seconds`; see the module docstring."""
    result = CellResult(endpoint, users, warm)
    path = f"/v1/{endpoint}"
    if warm:
        for question in questions:  # fill the caches the warm cell is meant to hit
            await client.post(path, json=request_body(endpoint, kb, question))
    serial = itertools.count()
    stamp = time.time_ns() % 1_000_000
    started = time.perf_counter()
    deadline = started + seconds

    def next_question() -> str:
        n = next(serial)
        question = questions[n % len(questions)]
        return question if warm else f"{question} (ticket {stamp}-{n})"

    async def user() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                response = await client.post(path, json=request_body(endpoint, kb, next_question()))
            except httpx.TimeoutException:
                result.errors["timeout"] += 1
                continue
            except httpx.TransportError as exc:
                result.errors[type(exc).__name__] += 1
                await asyncio.sleep(0.1)
                continue
            took = time.perf_counter() - sent
            if response.status_code == 200:
                result.latencies_s.append(took)
            elif response.status_code in REFUSALS and (wait := _retry_after_s(response)):
                result.refused[f"{response.status_code} {_error_code(response)}"] += 1
                result.refusal_latencies_s.append(took)
                await asyncio.sleep(min(wait, max(0.0, deadline - time.perf_counter())))
            else:
                label = f"HTTP {response.status_code} {_error_code(response)}"
                if response.status_code in REFUSALS:
                    label += " without Retry-After"
                result.errors[label] += 1

    await asyncio.gather(*(user() for _ in range(users)))
    result.seconds = time.perf_counter() - started
    return result


def client_for(url: str, users: int, key: str | None, timeout_s: float) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=users + 8, max_keepalive_connections=users + 8)
    return httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout_s)


async def _main(args: argparse.Namespace) -> None:
    async with client_for(args.url, args.users, args.key, args.timeout) as client:
        result = await run_cell(
            client, args.kb, args.endpoint, args.users, args.seconds, args.warm, sample_questions()
        )
    print(json.dumps(result.summary()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="Base URL of a running supportbot.")
    parser.add_argument("--kb", default="sample")
    parser.add_argument("--endpoint", choices=["search", "chat"], default="search")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warm", action="store_true", help="Repeat questions (caches hit).")
    parser.add_argument("--key", help="Admin key: admins skip per-client rate limits.")
    parser.add_argument("--timeout", type=float, default=30.0, help="Client timeout, seconds.")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
