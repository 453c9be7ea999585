"""Fault drill: Redis is killed (or freezes) while customers search and chat, then returns.

A private redis-server (tests/support/redis_fixtures.py) holds the score cache, the
conversation histories and the rate-limit buckets of a real app serving the sample help
center. What the code promises (bot/cache/redis_guard.py): every request is still answered
200, within a bound set by SUPPORTBOT_REDIS_TIMEOUT_S; the cache is bypassed, chats say
their history is unavailable, rate limits fall back to a per-process bucket (looser, never
a failure: the documented choice, see bot/cache/rate_limit.py and the README); /readyz
flags Redis. When Redis is back, the same process uses it again after the cooldown.
The sequential version of this drill (SIGTERM, one request at a time) is
tests/cache/test_redis_cache.py::test_api_keeps_answering_when_redis_stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from bot.api.routes.chat import HISTORY_UNAVAILABLE
from tests.support.live_server import serve
from tests.support.redis_fixtures import RedisServer, started_redis
from tests.support.request_load import Load, Outcome
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

pytestmark = [pytest.mark.redis, pytest.mark.model]

REDIS_TIMEOUT_S = 0.25
COOLDOWN_S = 0.5
BOUND_S = 3.0
"""The longest a request may take while Redis is gone: a few Redis timeouts before the
cooldown skips it, plus retrieval on a loaded two-core machine."""


class Warnings(logging.Handler):
    """Warnings of the loggers a Redis outage may write to, as they are emitted."""

    LOGGERS = ("bot.cache.redis_guard", "bot.insights.recorder")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings() -> Iterator[Warnings]:
    handler = Warnings()
    for name in Warnings.LOGGERS:
        logging.getLogger(name).addHandler(handler)
    yield handler
    for name in Warnings.LOGGERS:
        logging.getLogger(name).removeHandler(handler)


def search_or_chat(http: httpx.Client, number: int) -> httpx.Response:
    if number % 2:
        return http.post("/v1/search", json={"kb": SAMPLE_KB, "query": "export my workspace"})
    chat = {
        "kb": SAMPLE_KB,
        "message": "how do I export?",
        "conversation_id": f"drill-{number:06d}",
    }
    return http.post("/v1/chat", json=chat)


def history_unavailable(outcome: Outcome) -> bool:
    return HISTORY_UNAVAILABLE in outcome.body.get("degraded", [])  # type: ignore[operator]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with started_redis() as server:
        yield server


@pytest.fixture(scope="module")
def app_url(
    redis_server: RedisServer, sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("redis-faults"))
    settings = sample_settings(
        data_dir,
        redis_url=redis_server.url,
        redis_timeout_s=REDIS_TIMEOUT_S,
        redis_cooldown_s=COOLDOWN_S,
        rate_limit_per_minute=100_000.0,
        rate_limit_burst=10_000,
    )
    with serve(create_app(settings)) as url:
        yield url


def redis_ok(http: httpx.Client) -> bool:
    ready = http.get("/readyz")
    assert ready.status_code == 200, "Redis is optional: its loss never makes the app unready"
    return bool(ready.json()["components"]["redis"]["ok"])


def wait_until_redis_used_again(http: httpx.Client, deadline_s: float = 10.0) -> float:
    started = time.monotonic()
    while True:
        chat = {"kb": SAMPLE_KB, "message": "export?", "conversation_id": "drill-recovered"}
        answered = http.post("/v1/chat", json=chat)
        assert answered.status_code == 200
        if answered.json()["degraded"] == [] and redis_ok(http):
            return time.monotonic() - started
        assert time.monotonic() - started < deadline_s, answered.json()["degraded"]
        time.sleep(0.1)


def assert_served_throughout(
    load: Load, outage_start: float, outage_end: float, warnings: Warnings
) -> None:
    assert {o.status for o in load.outcomes} == {200}, "every request answered, none failed"
    slowest = max(o.seconds for o in load.outcomes)
    assert slowest < BOUND_S, f"a request waited {slowest:.2f}s on the missing Redis"
    chats = [o for o in load.sent_between(outage_start, outage_end) if "answer" in o.body]
    assert chats and all(history_unavailable(o) for o in chats), "and say so"
    # One warning per log interval, not one per request (the guard's; no store logs its own).
    assert len(warnings.messages) <= 1, warnings.messages


def test_redis_killed_mid_load_is_bypassed_and_used_again_when_back(
    app_url: str, redis_server: RedisServer, warnings: Warnings
) -> None:
    with httpx.Client(base_url=app_url, timeout=60) as http, Load(app_url, search_or_chat) as load:
        load.wait_for(4)
        assert redis_ok(http)
        assert not any(history_unavailable(o) for o in load.outcomes)
        redis_server.kill()
        killed_at = time.monotonic()
        load.wait_for(8, after=killed_at)
        assert not redis_ok(http)
        redis_server.start()  # same port, empty: a crashed cache comes back cold
        back_at = time.monotonic()
        recovered_s = wait_until_redis_used_again(http)
        load.wait_for(2, after=time.monotonic())
    assert_served_throughout(load, killed_at + 0.05, back_at, warnings)
    print(f"\nRedis killed: {len(load.outcomes)} requests, all 200; used again {recovered_s:.2f}s")


def test_frozen_redis_costs_a_bounded_wait_not_a_hang(
    app_url: str, redis_server: RedisServer, warnings: Warnings
) -> None:
    with httpx.Client(base_url=app_url, timeout=60) as http, Load(app_url, search_or_chat) as load:
        load.wait_for(2)
        redis_server.freeze()
        frozen_at = time.monotonic()
        try:
            load.wait_for(8, after=frozen_at)
            assert not redis_ok(http)
        finally:
            redis_server.thaw()
        thawed_at = time.monotonic()
        recovered_s = wait_until_redis_used_again(http)
        load.wait_for(2, after=time.monotonic())
    assert_served_throughout(load, frozen_at + 0.05, thawed_at, warnings)
    print(f"\nRedis frozen: all {len(load.outcomes)} requests 200; used again {recovered_s:.2f}s")
