"""Real Elasticsearch for the tests: the shared node, and private clusters for failure drills.

`make test` (deploy/with-services) starts one node and exports its URL as
SUPPORTBOT_TEST_ELASTICSEARCH_URL. Without it, a local run starts a node itself through
deploy/elasticsearch/run-local for the session; under CI (env CI set) the tests fail
instead, because a missing service must never turn into skipped tests.

Import the fixtures you use into your test module:

    from tests.support.es_fixtures import elasticsearch_url  # noqa: F401
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.retrieval.elasticsearch.search import ElasticsearchSearch
from tests.conftest import REPO_ROOT

RUN_LOCAL = REPO_ROOT / "deploy" / "elasticsearch" / "run-local"
URL_ENV = "SUPPORTBOT_TEST_ELASTICSEARCH_URL"


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(nodes: int) -> int:
    """A base port P with P..P+n-1 (HTTP) and P+100..P+100+n-1 (transport) all free."""
    for _ in range(200):
        base = random.randrange(20_000, 40_000)
        wanted = [base + i for i in range(nodes)] + [base + 100 + i for i in range(nodes)]
        if all(port_is_free(port) for port in wanted):
            return base
    raise RuntimeError("no free port range for an Elasticsearch cluster")


class LocalCluster:
    """A private cluster driven through run-local (start, stop, stop one node, restart)."""

    def __init__(self, nodes: int = 1, heap: str | None = None) -> None:
        # Not under pytest's tmp dir (mode 700): as root, the nodes run as an unprivileged
        # user that must reach their data directory.
        self.directory = Path(tempfile.mkdtemp(prefix="supportbot-es-"))
        self.directory.chmod(0o755)
        self.nodes = nodes
        self.heap = heap
        self.port = free_base_port(nodes)
        self.start_seconds: float | None = None

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port + i}" for i in range(self.nodes)]

    def _run(self, *args: str, timeout: float = 300) -> str:
        command = [str(RUN_LOCAL), *args, "--port", str(self.port), "--dir", str(self.directory)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def start(self) -> LocalCluster:
        started = time.perf_counter()
        heap = ["--heap", self.heap] if self.heap else []
        try:
            self._run("start", "--nodes", str(self.nodes), "--fast-start", *heap, timeout=600)
        except BaseException:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop(clean=True)  # run-local stopped its nodes; drop the data too
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    def stop(self, *, clean: bool = False) -> None:
        self._run("stop", *(["--clean"] if clean else []), timeout=120)
        if clean:
            shutil.rmtree(self.directory, ignore_errors=True)

    def stop_node(self, node: int) -> None:
        self._run("stop-node", str(node), timeout=120)

    def start_node(self, node: int) -> None:
        self._run("start-node", str(node))


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    url = os.environ.get(URL_ENV)
    if url:
        yield url
        return
    if os.environ.get("CI"):
        pytest.fail(
            f"{URL_ENV} is not set: CI must start Elasticsearch (make test does, through "
            "deploy/with-services). The Elasticsearch tests never skip."
        )
    cluster = LocalCluster().start()
    try:
        yield cluster.urls[0]
    finally:
        cluster.stop(clean=True)


async def drop_indices(search: ElasticsearchSearch, prefix: str) -> None:
    found = await search.client.indices.get(index=f"{prefix}-*")
    if found.body:
        await search.client.indices.delete(index=",".join(found.body))


@pytest.fixture
async def es_backend(elasticsearch_url: str) -> AsyncIterator[ElasticsearchSearch]:
    """A backend on the shared node with a prefix of its own; its indices go afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    search = ElasticsearchSearch(elasticsearch_url, index_prefix=prefix, retire_after_s=0.2)
    try:
        yield search
    finally:
        await drop_indices(search, prefix)
        await search.close()
