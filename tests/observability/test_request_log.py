"""Request ids, the per-request JSON log line and LLM usage, through a real server with
litellm talking to the local OpenAI-compatible stub (which returns a `usage` block)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from bot.observability.request_log import REQUEST_LOGGER, request_line
from bot.observability.request_record import RequestRecord
from tests.observability.test_observability_metrics import scrape, value
from tests.support.admin_client import ADMIN_KEY, AUTH
from tests.support.live_server import serve
from tests.support.openai_stub_server import OpenAIStubServer, StubReply
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

pytestmark = pytest.mark.model

MODEL = "openai/gpt-4o-mini"
"""A model litellm's bundled price map knows, so the cost is computed; served by the stub."""


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))

    def for_request(self, request_id: str) -> dict[str, object]:
        """The request's one line; the server writes it just after the last byte is sent."""
        deadline = time.monotonic() + 10
        while True:
            found = [line for line in self.lines if line["request_id"] == request_id]
            if found or time.monotonic() > deadline:
                assert len(found) == 1, found
                return found[0]
            time.sleep(0.02)


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as server:
        yield server


@pytest.fixture(scope="module")
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture(scope="module")
def client(
    sample_kb_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    stub: OpenAIStubServer,
    lines: Lines,
) -> Iterator[httpx.Client]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("request-log-data"))
    settings = sample_settings(
        data_dir,
        admin_api_key=ADMIN_KEY,
        llm_model=MODEL,
        llm_base_url=stub.base_url,
        llm_timeout_s=30.0,  # a loaded CI machine must not turn the answer extractive
        rate_limit_per_minute=100_000.0,
        rate_limit_burst=10_000,
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


def test_request_ids_are_honoured_generated_and_echoed(client: httpx.Client) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a:42"})
    assert given.headers["x-request-id"] == "edge-7f3a:42"
    fresh = client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32
    assert fresh.headers["x-request-id"] != client.get("/healthz").headers["x-request-id"]
    hostile = client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert hostile.headers["x-request-id"] != "a b\tc" + "x" * 200
    assert len(hostile.headers["x-request-id"]) == 32


def test_a_chat_logs_one_line_with_stages_result_and_llm_usage(
    client: httpx.Client, stub: OpenAIStubServer, lines: Lines
) -> None:
    stub.reply = StubReply(text="Open the trash and choose Restore [1].")
    before = scrape(client)
    question = "how do I restore a deleted page?"
    reply = client.post(
        "/v1/chat",
        json={"kb": SAMPLE_KB, "message": question},
        headers={**AUTH, "X-Request-ID": "chat-1"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["mode"] == "llm"
    line = lines.for_request("chat-1")
    assert line["route"] == "/v1/chat" and line["status"] == 200 and line["kb"] == SAMPLE_KB
    assert line["result"] == "answered" and line["mode"] == "llm"
    timings = line["timings_ms"]
    assert isinstance(timings, dict)
    assert {"embed", "bm25", "knn", "fuse", "rerank", "generate"} <= set(timings)
    completion_tokens = len(["Open", "the", "trash", "and", "choose", "Restore", "[1]."])
    usage = line["llm_usage"]
    assert isinstance(usage, dict)
    assert usage["prompt_tokens"] == 10 and usage["completion_tokens"] == completion_tokens
    assert isinstance(usage["cost_usd"], float) and usage["cost_usd"] > 0
    text = json.dumps(line)
    assert ADMIN_KEY not in text and "Bearer" not in text and question not in text
    assert "restore" not in text.lower()  # no customer text unless turned on

    after = scrape(client)
    tokens = "supportbot_llm_tokens_total"
    prompt = {"model": MODEL, "type": "prompt"}
    assert value(after, tokens, **prompt) - value(before, tokens, **prompt) == 10
    cost = "supportbot_llm_cost_usd_total"
    assert value(after, cost, model=MODEL) - value(before, cost, model=MODEL) == pytest.approx(
        usage["cost_usd"]
    )


def test_a_failing_llm_is_logged_as_degraded(
    client: httpx.Client, stub: OpenAIStubServer, lines: Lines
) -> None:
    stub.enqueue(StubReply(status=500))
    before = scrape(client)
    reply = client.post(
        "/v1/chat",
        json={"kb": SAMPLE_KB, "message": "how do I export my workspace?"},
        headers={"X-Request-ID": "chat-2"},
    )
    assert reply.status_code == 200 and reply.json()["mode"] == "extractive"
    line = lines.for_request("chat-2")
    assert line["result"] == "degraded" and line["llm_errors"] == ["generation_error"]
    after = scrape(client)
    labels = {"component": "llm", "kind": "generation_error"}
    assert (
        value(after, "supportbot_errors_total", **labels)
        - value(before, "supportbot_errors_total", **labels)
        == 1
    )


def test_customer_text_is_logged_only_when_turned_on() -> None:
    record = RequestRecord("r1", kb="acme", query="my password is hunter2")
    fields = {"method": "POST", "route": "/v1/chat", "path": "/v1/chat", "status": 200}
    quiet = request_line(record, seconds=0.01, customer_text=False, **fields)  # type: ignore[arg-type]
    assert "query" not in quiet and "hunter2" not in json.dumps(quiet)
    loud = request_line(record, seconds=0.01, customer_text=True, **fields)  # type: ignore[arg-type]
    assert loud["query"] == "my password is hunter2"
