"""Real redis-server processes for the tests.

`redis_url` uses the server `deploy/with-services` started (SUPPORTBOT_TEST_REDIS_URL), or
starts Debian's redis-server on a free loopback port. `private_redis` is always a server of
the test's own, which the test may stop and restart (outage tests, server-wide counters).
Without a redis-server binary the tests skip locally, and fail when CI is set.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.support.live_server import free_port

ENV_URL = "SUPPORTBOT_TEST_REDIS_URL"


def _redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = (
            "redis-server is not installed; run `apt-get install -y redis-server` "
            "or `make test`, which starts one"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


class RedisServer:
    """A throwaway redis-server (no persistence) that can be stopped and started again."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = _redis_server_binary()
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="supportbot-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.exceptions.ConnectionError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start on port {self.port}; "
                        f"log: {(self.dir / 'redis.log').read_text(errors='replace')[-2000:]}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, open connections die with the process (a crash, an OOM kill)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nothing is ever answered (a hang)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()  # a frozen server cannot act on SIGTERM
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def started_redis() -> Iterator[RedisServer]:
    """A private redis-server for the duration of the block, removed after."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    with started_redis() as server:
        yield server.url


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with started_redis() as server:
        yield server
