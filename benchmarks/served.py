"""Processes the load benchmark starts and stops: `supportbot serve` and the LLM stub.

Each runs in its own session so that stopping it also stops the worker processes it
forked; nothing else is ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.live_server import free_port

REPO = Path(__file__).resolve().parent.parent
SUPPORTBOT = REPO / ".venv" / "bin" / "supportbot"


def clean_env(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment without any SUPPORTBOT_* variable, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env.update(overrides)
    return env


def serve_supports_workers() -> bool:
    """`supportbot serve --workers N` exists on this checkout (it landed separately)."""
    help_text = subprocess.run(
        [str(SUPPORTBOT), "serve", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return "--workers" in help_text


def _stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)  # uvicorn's graceful stop, workers included
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def supportbot_server(
    env: dict[str, str], workers: int, log_path: Path, startup_s: float = 300.0
) -> Iterator[str]:
    """Yield the base URL once `/readyz` answers 200; stop the server (and workers) after."""
    port = free_port()
    command = [str(SUPPORTBOT), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + startup_s
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"supportbot serve exited; see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"supportbot serve not ready in {startup_s:g}s: {log_path}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            yield url
        finally:
            _stop(process)


@contextmanager
def llm_stub(token_ms: float, tokens: int) -> Iterator[str]:
    """Yield the stub's OpenAI base URL (…/v1) while `benchmarks.llm_stub` serves."""
    command = [sys.executable, "-m", "benchmarks.llm_stub", "--token-ms", str(token_ms)]
    process = subprocess.Popen(
        [*command, "--tokens", str(tokens)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError("the LLM stub did not start")
        yield base_url
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _stop(process)
