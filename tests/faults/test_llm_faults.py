"""Fault drill: the LLM answers 500s, hangs, or drips tokens while customers chat.

The real app (uvicorn, embedded index of the sample help center) talks through litellm to
the local OpenAI-compatible stub, which is told to fail. Every chat must still be answered,
within the configured LLM timeout plus the time retrieval takes, extractively, flagged as
degraded, with the failure counted in /metrics: never a 500, never a hang.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.api.app import create_app
from tests.observability.test_observability_metrics import Samples, scrape, value
from tests.support.live_server import serve
from tests.support.openai_stub_server import OpenAIStubServer, StubReply
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

pytestmark = pytest.mark.model

LLM_TIMEOUT_S = 1.0
LLM_DEADLINE_S = 2.0
DRIP_INTERVAL_S = 0.3
"""Well under the per-wait timeout, so only the whole-answer deadline can stop the drip; not
a divisor of the deadline, so no chunk and no read timeout are due at the deadline itself
(0.5 s put a read's own 1 s timeout on the deadline, and the client's error won the race in
two loaded full runs)."""
DRIPPING = StubReply(chunks=["Open Settings "] + ["and "] * 40, chunk_delay_s=DRIP_INTERVAL_S)
"""Would take 12 s to finish: six times the deadline."""
RETRIEVAL_ALLOWANCE_S = 4.0
"""What retrieval and reranking may add on a loaded two-core machine; the bound on a chat
whose LLM hangs is the LLM timeout plus this, far below the client's own 60 s."""
HUNG = StubReply(delay_s=120)
"""Accepts the connection, reads the request, never answers (until the stub stops)."""
QUESTION = "how do I export my workspace?"
LLM_ERRORS = {"component": "llm", "kind": "generation_error"}


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as server:
        yield server


@pytest.fixture(scope="module")
def client(
    sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer
) -> Iterator[httpx.Client]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("llm-faults"))
    settings = sample_settings(
        data_dir,
        llm_model="openai/test-model",
        llm_base_url=stub.base_url,
        llm_timeout_s=LLM_TIMEOUT_S,
        llm_deadline_s=LLM_DEADLINE_S,
        rate_limit_per_minute=100_000.0,
        rate_limit_burst=10_000,
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


@pytest.fixture(autouse=True)
def healthy_llm(stub: OpenAIStubServer, client: httpx.Client) -> Iterator[None]:
    """Each drill starts with a model that answers, and checks the bot used it."""
    stub.reply = StubReply(text="Open Settings and choose Export [1].")
    working = client.post("/v1/chat", json={"kb": SAMPLE_KB, "message": QUESTION})
    assert working.status_code == 200 and working.json()["mode"] == "llm", working.text
    stub.clear()
    yield
    stub.reply = StubReply()


def assert_degraded_extractive(body: dict[str, Any], cause: str) -> None:
    assert body["mode"] == "extractive", body
    assert body["citations"] and "[1]" in body["answer"], "the passages still answer"
    notes = [note for note in body["degraded"] if note.startswith("language model unavailable")]
    assert len(notes) == 1 and cause in notes[0], body["degraded"]


def timed_chat(client: httpx.Client, message: str = QUESTION) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.post("/v1/chat", json={"kb": SAMPLE_KB, "message": message})
    return response, time.perf_counter() - started


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            assert name is not None
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def assert_counted_as_degraded_llm_failures(before: Samples, after: Samples, chats: int) -> None:
    """/metrics grew by `chats` LLM errors and `chats` degraded extractive answers."""
    assert (
        value(after, "supportbot_errors_total", **LLM_ERRORS)
        - value(before, "supportbot_errors_total", **LLM_ERRORS)
        == chats
    )
    degraded = {"mode": "extractive", "result": "degraded"}
    grew = value(after, "supportbot_answers_total", **degraded) - value(
        before, "supportbot_answers_total", **degraded
    )
    assert grew == chats


def test_llm_answering_500_degrades_every_endpoint_and_counts_the_failures(
    client: httpx.Client, stub: OpenAIStubServer
) -> None:
    stub.reply = StubReply(status=500, error_message="model crashed")
    before = scrape(client)

    chatted, _ = timed_chat(client)
    assert chatted.status_code == 200, chatted.text
    assert_degraded_extractive(chatted.json(), "HTTP 500")

    with client.stream("POST", "/v1/chat/stream", json={"kb": SAMPLE_KB, "message": QUESTION}) as r:
        assert r.status_code == 200
        events = sse_events(r)
    assert [name for name, _ in events][-1] == "done" and "error" not in dict(events)
    done = events[-1][1]
    assert_degraded_extractive(done, "HTTP 500")
    assert "".join(data["text"] for name, data in events if name == "delta") == done["answer"]

    compat = client.post(
        "/v1/chat/completions",
        json={"model": SAMPLE_KB, "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert compat.status_code == 200, compat.text
    assert compat.json()["choices"][0]["message"]["content"]

    assert_counted_as_degraded_llm_failures(before, scrape(client), 3)
    assert len(stub.requests) == 3, "one call per chat: no retries stacked on a failing model"


def test_a_hung_llm_is_abandoned_at_its_timeout_and_the_answer_is_extractive(
    client: httpx.Client, stub: OpenAIStubServer
) -> None:
    stub.reply = HUNG
    chatted, elapsed = timed_chat(client)
    assert chatted.status_code == 200, chatted.text
    assert_degraded_extractive(chatted.json(), f"did not respond within {LLM_TIMEOUT_S:g} s")
    assert LLM_TIMEOUT_S * 0.9 <= elapsed < LLM_TIMEOUT_S + RETRIEVAL_ALLOWANCE_S, elapsed

    started = time.perf_counter()
    with client.stream("POST", "/v1/chat/stream", json={"kb": SAMPLE_KB, "message": QUESTION}) as r:
        assert r.status_code == 200
        events = sse_events(r)
    assert time.perf_counter() - started < LLM_TIMEOUT_S + RETRIEVAL_ALLOWANCE_S
    assert [name for name, _ in events][-1] == "done"
    assert_degraded_extractive(events[-1][1], "did not respond")


def test_a_stream_that_stalls_midway_keeps_its_text_and_says_it_was_cut_short(
    client: httpx.Client, stub: OpenAIStubServer
) -> None:
    stub.reply = StubReply(chunks=["Open Settings ", "and then"], chunk_delay_s=120)
    started = time.perf_counter()
    with client.stream("POST", "/v1/chat/stream", json={"kb": SAMPLE_KB, "message": QUESTION}) as r:
        events = sse_events(r)
    assert time.perf_counter() - started < LLM_TIMEOUT_S + RETRIEVAL_ALLOWANCE_S
    streamed = "".join(data["text"] for name, data in events if name == "delta")
    assert streamed.startswith("Open Settings \n\n(The answer was interrupted.")
    done = events[-1][1]
    assert done["answer"] == streamed
    assert_degraded_extractive(done, "did not respond")


def test_hung_llm_calls_do_not_hold_up_other_requests(
    client: httpx.Client, stub: OpenAIStubServer
) -> None:
    """Four chats wait on a hung model at once; searches meanwhile answer at their usual pace."""
    stub.reply = HUNG
    with ThreadPoolExecutor(max_workers=4) as pool:
        chats = [pool.submit(timed_chat, client) for _ in range(4)]
        stub.wait_for_requests(4, timeout_s=30)
        searched = client.post("/v1/search", json={"kb": SAMPLE_KB, "query": "export data"})
        assert searched.status_code == 200 and searched.json()["results"]
        assert not any(chat.done() for chat in chats), "the search did not wait for the LLM"
        outcomes = [chat.result() for chat in chats]
    for response, elapsed in outcomes:
        assert response.status_code == 200, response.text
        assert_degraded_extractive(response.json(), "did not respond")
        assert elapsed < LLM_TIMEOUT_S + RETRIEVAL_ALLOWANCE_S * 2, elapsed


def test_a_model_dripping_tokens_under_the_timeout_is_cut_off_at_the_answer_deadline(
    client: httpx.Client, stub: OpenAIStubServer
) -> None:
    stub.reply = DRIPPING
    before = scrape(client)
    bound = LLM_DEADLINE_S + RETRIEVAL_ALLOWANCE_S

    chatted, elapsed = timed_chat(client)
    assert chatted.status_code == 200, chatted.text
    assert_degraded_extractive(
        chatted.json(), f"too slow: no complete answer within {LLM_DEADLINE_S:g} s"
    )
    assert LLM_DEADLINE_S * 0.9 <= elapsed < bound, elapsed

    started = time.perf_counter()
    compat = client.post(
        "/v1/chat/completions",
        json={"model": SAMPLE_KB, "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert time.perf_counter() - started < bound
    assert compat.status_code == 200, compat.text
    assert "[1]" in compat.json()["choices"][0]["message"]["content"], "the passages answer"

    started = time.perf_counter()
    with client.stream("POST", "/v1/chat/stream", json={"kb": SAMPLE_KB, "message": QUESTION}) as r:
        assert r.status_code == 200
        events = sse_events(r)
    assert time.perf_counter() - started < bound
    streamed = "".join(data["text"] for name, data in events if name == "delta")
    kept, _, rest = streamed.partition("\n\n(The answer was interrupted.")
    assert kept.startswith("Open Settings and and "), "what was sent before the deadline stays"
    assert rest, "the stream says it was cut short"
    done = events[-1][1]
    assert done["answer"] == streamed
    assert_degraded_extractive(done, "too slow")

    assert_counted_as_degraded_llm_failures(before, scrape(client), 3)
