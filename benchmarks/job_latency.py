"""Submit-to-done time of a small ingest job through the API, at 1 and N API workers.

    .venv/bin/python -m benchmarks.job_latency --workers 1 2 --documents 10 --runs 8

For each worker count: `supportbot serve --workers N` (no broker: one worker runs the
in-process runner, several share jobs through SQLite, `bot.jobs.sqlite_runner`) over an
empty data dir; then `--runs` times, a new KB of `--documents` one-chunk articles is
created and its folder registered (`PUT /admin/kbs/{kb}/source`, which queues the ingest),
and the job is polled every 10 ms on fresh connections (so on any worker) until it is
finished. Prints, per worker count, one JSON line: p50/p95/mean seconds from the PUT to
the first poll that saw `succeeded`, the job's own `seconds` (the ingest itself), the gap
between them (queueing, claiming, recording), and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.kb_corpus import write_corpus
from tests.support.served import serve_env, served

ADMIN_KEY = "benchmark-admin-key"
HEADERS = {"X-Supportbot-Key": ADMIN_KEY, "Connection": "close"}
POLL_S = 0.01


def one_ingest(base: str, sources: Path, kb: str, documents: int) -> tuple[float, float]:
    """Seconds from submit to seen done, and the job's own reported seconds."""
    write_corpus(sources / kb, documents, marker=kb)
    with httpx.Client(base_url=base, headers=HEADERS, timeout=60) as client:
        assert client.post("/admin/kbs", json={"kb": kb}).status_code == 201
        started = time.perf_counter()
        registered = client.put(f"/admin/kbs/{kb}/source", json={"path": kb})
    assert registered.status_code == 202, registered.text
    job_id = registered.json()["job"]["id"]
    while True:
        with httpx.Client(base_url=base, headers=HEADERS, timeout=60) as client:
            job = client.get(f"/admin/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(POLL_S)
    took = time.perf_counter() - started
    assert job["state"] == "succeeded", job
    return took, float(job["result"]["seconds"])


def measure(workers: int, documents: int, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="job-latency-") as folder:
        root = Path(folder)
        sources = root / "sources"
        env = serve_env(root / "data", admin_api_key=ADMIN_KEY, sources_root=str(sources))
        with served(env, workers=workers, log=root / "serve.log", cwd=root) as base:
            one_ingest(base, sources, "warmup", documents)  # first-call costs
            load_before = os.getloadavg()[0]
            results = [one_ingest(base, sources, f"kb{n}", documents) for n in range(runs)]
            load_after = os.getloadavg()[0]
    totals = sorted(total for total, _ in results)
    gaps = sorted(total - own for total, own in results)
    return {
        "workers": workers,
        "documents": documents,
        "runs": runs,
        "submit_to_done_p50_s": round(statistics.median(totals), 3),
        "submit_to_done_p95_s": round(totals[int(0.95 * (len(totals) - 1))], 3),
        "submit_to_done_mean_s": round(statistics.fmean(totals), 3),
        "ingest_own_p50_s": round(statistics.median(own for _, own in results), 3),
        "overhead_p50_s": round(statistics.median(gaps), 3),
        "load_avg_1m": [round(load_before, 2), round(load_after, 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    for count in args.workers:
        print(json.dumps(measure(count, args.documents, args.runs)), flush=True)


if __name__ == "__main__":
    main()
