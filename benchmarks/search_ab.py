"""/v1/search's pipeline (hybrid + rerank + answerability) of two checkouts, interleaved.

    SUPPORTBOT_DATA_DIR=DIR .venv/bin/python -m benchmarks.search_ab KB QUESTIONS \\
        before=/tmp/checkout-of-main after=. [--set after:VAR=VALUE] [--out results.json]

Each ARM=CHECKOUT runs in its own process (this interpreter, the checkout first on the
path), on the same ingested KB and settings; questions go to the arms one at a time,
alternating which arm goes first, each question seen once by each arm (cold: no score or
query-vector cache from an earlier ask). Prints p50/p95 of the total and of every stage
per arm with the load average (and the process CPU time per search: every thread of the
arm, the query encoder's included), then checks that the arms rank and decide alike: the
top-10 chunks and articles in the same order, the same answerable flags, and answerable
scores within 1e-5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TOP = 10
TOLERANCE = 1e-5


# -- worker (runs inside one checkout) ----------------------------------------------------
async def serve(kb: str) -> None:
    from bot.services import build_services
    from bot.settings import Settings

    services = build_services(Settings())
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    for warm in ("how do I warm up", "warm-up question about settings", "warm up the index"):
        await services.pipeline.search(kb, warm, top_k=TOP)
    print("ready", file=out, flush=True)
    for line in sys.stdin:
        query = json.loads(line)["query"]
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = await services.pipeline.search(kb, query, top_k=TOP)
        wall = (time.perf_counter() - started) * 1000
        answer = {
            "ms": wall,
            "cpu_ms": (time.process_time() - cpu_started) * 1000,
            "timings": outcome.timings_ms,
            "chunks": [c.chunk.chunk_id for c in outcome.results],
            "articles": [c.chunk.source_id for c in outcome.results],
            "rerank": [c.rerank_score for c in outcome.results],
            "reranked": outcome.reranked,
            "answerable": outcome.answerable,
            "score": outcome.answerable_score,
        }
        print(json.dumps(answer), file=out, flush=True)
    await services.aclose()


# -- driver ------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]


def start_arm(checkout: Path, kb: str, extra_env: dict[str, str]) -> subprocess.Popen[str]:
    env = dict(os.environ, **extra_env, PYTHONPATH=str(checkout.resolve()))
    # Run as a file: its own folder and then the checkout come first on the path.
    arm = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", kb],
        cwd=checkout,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert arm.stdout is not None
    if arm.stdout.readline().strip() != "ready":
        raise SystemExit(f"arm in {checkout} did not start")
    return arm


def ask(arm: subprocess.Popen[str], query: str) -> dict[str, Any]:
    assert arm.stdin is not None and arm.stdout is not None
    arm.stdin.write(json.dumps({"query": query}) + "\n")
    arm.stdin.flush()
    answer: dict[str, Any] = json.loads(arm.stdout.readline())
    return answer


def report(name: str, rows: list[dict[str, Any]]) -> None:
    stages: dict[str, list[float]] = {"total (wall)": [row["ms"] for row in rows]}
    stages["total (process CPU)"] = [row["cpu_ms"] for row in rows]
    for row in rows:
        for stage, ms in row["timings"].items():
            stages.setdefault(stage, []).append(ms)
    print(f"\n{name} (n={len(rows)})")
    for stage, values in stages.items():
        print(
            f"  {stage:<22} p50 {statistics.median(values):7.2f} ms"
            f"   p95 {percentile(values, 0.95):7.2f} ms"
        )


def compare(arms: dict[str, list[dict[str, Any]]]) -> int:
    (first, base), *others = arms.items()
    problems = 0
    for name, rows in others:
        worst = 0.0
        for i, (a, b) in enumerate(zip(base, rows, strict=True)):
            same = a["chunks"] == b["chunks"] and a["articles"] == b["articles"]
            same = same and a["answerable"] == b["answerable"]
            diffs = [abs(x - y) for x, y in zip(a["rerank"], b["rerank"], strict=True)]
            if (a["score"] is None) != (b["score"] is None):
                same = False
            elif a["score"] is not None:
                diffs.append(abs(a["score"] - b["score"]))
            worst = max([worst, *diffs])
            if not same or any(d >= TOLERANCE for d in diffs):
                problems += 1
                print(f"  question #{i}: {first} and {name} differ")
        print(
            f"{first} vs {name}: {len(rows) - problems} of {len(rows)} questions with the same "
            f"top-{TOP} chunks, articles and answerable flags; largest score difference {worst:.2e}"
        )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kb")
    parser.add_argument("questions", type=Path)
    parser.add_argument("arms", nargs="+", help="NAME=CHECKOUT (a folder with bot/)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ARM:VAR=VALUE",
        help="an environment variable for one arm (e.g. after0:SUPPORTBOT_BLAS_THREADS=0)",
    )
    parser.add_argument("--out", type=Path, default=None, help="every answer, as JSON")
    args = parser.parse_args()
    from bot.evaluation.questions import load_queries

    queries = load_queries(args.questions)[: args.limit]
    named = dict(arm.split("=", 1) for arm in args.arms)
    extra: dict[str, dict[str, str]] = {name: {} for name in named}
    for setting in args.set:
        arm, _, assignment = setting.partition(":")
        variable, _, value = assignment.partition("=")
        extra[arm][variable] = value
    processes = {name: start_arm(Path(path), args.kb, extra[name]) for name, path in named.items()}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in named}
    loads: list[float] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for i, query in enumerate(queries):
        order = list(processes) if i % 2 == 0 else list(reversed(processes))
        for name in order:
            rows[name].append(ask(processes[name], query.query))
        loads.append(os.getloadavg()[0])
    for process in processes.values():
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)
    print(
        f"{len(queries)} questions from {started}; load average (1 min) during the run: "
        f"min {min(loads):.1f}, median {statistics.median(loads):.1f}, max {max(loads):.1f}"
    )
    for name, answers in rows.items():
        report(name, answers)
    print()
    problems = compare(rows)
    if args.out is not None:
        args.out.write_text(json.dumps({"loads": loads, "arms": rows}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        asyncio.run(serve(sys.argv[2]))
    else:
        main()
