"""Time from `reindex` to the swap, for a help center, with one Celery worker.

Starts a redis-server and one `celery worker --concurrency 1` (which loads the model
before taking work), registers the folder as the KB's source without ingesting it, then
submits the re-index through the job runner the API uses and polls it until it succeeds:
the reported time runs from submit to the new index being served.

    .venv/bin/python -m benchmarks.reindex_swap_time [--folder ../shared/eval/zulip-help]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.jobs.protocol import JobState
from bot.kb_admin import KnowledgeBaseAdmin
from bot.services import build_services
from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
ZULIP = REPO.parent / "shared" / "eval" / "zulip-help"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def reindex(settings: Settings, folder: Path, base_url: str) -> tuple[float, JobState]:
    services = build_services(settings, warm=False)
    admin = KnowledgeBaseAdmin(services)
    try:
        await admin.create("zulip")
        await admin.register_folder(
            "zulip", str(folder), base_url=base_url, ingest=False, anywhere=True
        )
        started = time.perf_counter()
        job = await admin.reindex("zulip")
        last = None
        while not job.finished:
            await asyncio.sleep(0.2)
            job = await services.jobs.get(job.id)
            if job.progress and job.progress != last:
                last = job.progress
                print(
                    f"  {time.perf_counter() - started:6.1f}s {last.phase} {last.done}/{last.total}"
                )
        return time.perf_counter() - started, job
    finally:
        await services.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, default=ZULIP)
    parser.add_argument("--base-url", default="https://zulip.com/help")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="reindex-bench-"))
    port = free_port()
    redis_binary = shutil.which("redis-server") or sys.exit("redis-server is not installed")
    redis = subprocess.Popen(
        [redis_binary, "--port", str(port), "--save", "", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "SUPPORTBOT_DATA_DIR": str(root / "data"),
        "SUPPORTBOT_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "SUPPORTBOT_CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "SUPPORTBOT_RERANKER": "none",
        "SUPPORTBOT_RESYNC_INTERVAL_S": "0",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    log = (root / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("celery")), "-A", "workers.celery_app", "worker",
         "--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        while "worker process ready" not in (root / "worker.log").read_text(errors="replace"):
            if worker.poll() is not None:
                sys.exit((root / "worker.log").read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=root / "data",
            redis_url=env["SUPPORTBOT_REDIS_URL"],
            celery_broker_url=env["SUPPORTBOT_CELERY_BROKER_URL"],
            reranker="none",
        )
        seconds, job = asyncio.run(reindex(settings, args.folder.resolve(), args.base_url))
        print(f"state {job.state}; error {job.error}")
        print(f"result {job.result}")
        print(f"reindex → swap: {seconds:.1f} s with one worker ({os.cpu_count()} CPUs)")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        redis.terminate()
        redis.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
