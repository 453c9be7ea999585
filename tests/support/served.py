"""`supportbot serve` as a real subprocess (one or several workers) on a free loopback port.

For tests of what only separate processes show: state shared between workers, metrics
summed over them, an index rebuilt by one process and served by all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.live_server import free_port

SUPPORTBOT = Path(sys.executable).with_name("supportbot")


def serve_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment minus our settings, plus the data dir and `settings`
    (names without the SUPPORTBOT_ prefix, e.g. REDIS_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if "SUPPORTBOT_MODEL_CACHE_DIR" in os.environ:  # the session's converted models
        env["SUPPORTBOT_MODEL_CACHE_DIR"] = os.environ["SUPPORTBOT_MODEL_CACHE_DIR"]
    env["SUPPORTBOT_DATA_DIR"] = str(data_dir)
    env["SUPPORTBOT_RERANKER"] = "late-interaction"
    env["SUPPORTBOT_REQUEST_LOG"] = "false"
    env.update({f"SUPPORTBOT_{name.upper()}": value for name, value in settings.items()})
    return env


@contextmanager
def served(
    env: Mapping[str, str],
    *,
    workers: int,
    log: Path,
    cwd: Path,
    startup_timeout_s: float = 420.0,
) -> Iterator[str]:
    """Yield the base URL once every worker answers /readyz; stop them all afterwards."""
    port = free_port()
    command = [str(SUPPORTBOT), "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers go with it
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base, workers, log, startup_timeout_s)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # A worker still loading its models (a replacement, say) can hold the
            # supervisor's shutdown; killing the supervisor alone would orphan it, serving.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(
    process: subprocess.Popen[bytes], base: str, workers: int, log: Path, timeout_s: float
) -> None:
    """Ready when `workers` distinct worker pids have answered (a request reaches whichever
    worker accepts it first, so keep asking until each one has)."""
    deadline = time.monotonic() + timeout_s
    seen: set[str] = set()
    while len(seen) < workers:
        if process.poll() is not None:
            raise RuntimeError(f"supportbot serve exited {process.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"supportbot serve not ready in {timeout_s} s:\n{tail(log)}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=5.0)  # a new connection each time
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200 and response.json().get("ready"):
            seen.add(response.headers.get("x-worker-pid", ""))
        time.sleep(0.05)


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
