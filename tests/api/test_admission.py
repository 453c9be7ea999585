"""Admission control: a flood gets fast 503s with Retry-After, no timeouts; normal load passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.api.admission import AdmissionControl
from bot.api.app import create_app
from bot.errors import Overloaded
from tests.support.live_server import serve
from tests.support.openai_stub_server import OpenAIStubServer, StubReply
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings


def test_one_slot_one_waiter_then_refusals() -> None:
    async def scenario() -> None:
        control = AdmissionControl(limit=1, queue=1, wait_s=0.2, retry_after_s=3)
        await control.acquire()  # the one slot
        waiter = asyncio.create_task(control.acquire())
        await asyncio.sleep(0)
        assert control.waiting == 1
        with pytest.raises(Overloaded) as full:  # queue full: refused without waiting
            await control.acquire()
        assert full.value.retry_after_s == 3
        control.release(0.01)
        await asyncio.wait_for(waiter, 1)  # the waiter got the freed slot
        started = time.perf_counter()
        with pytest.raises(Overloaded, match=r"no slot freed within 0\.2s"):
            await control.acquire()
        assert 0.15 < time.perf_counter() - started < 1.0
        assert control.waiting == 0
        control.release(0.01)
        await asyncio.wait_for(control.acquire(), 1)  # the slot is free again

    asyncio.run(scenario())


def test_a_waiter_whose_expected_wait_exceeds_the_budget_is_refused_at_once() -> None:
    async def scenario() -> None:
        control = AdmissionControl(limit=2, queue=10, wait_s=0.5, retry_after_s=1, min_samples=4)
        for _ in range(4):  # recent holds of 0.4 s: two slots free about every 0.2 s
            await control.acquire()
            control.release(0.4)
        assert control.expected_wait_s(1) == pytest.approx(0.2)
        await control.acquire()
        await control.acquire()  # both slots held
        first = asyncio.create_task(control.acquire())  # expects 0.2 s: waits
        second = asyncio.create_task(control.acquire())  # expects 0.4 s: waits
        await asyncio.sleep(0)
        assert control.waiting == 2
        started = time.perf_counter()
        with pytest.raises(Overloaded, match=r"expected in 0\.6s, longer than the 0\.5s"):
            await control.acquire()  # third in line expects 0.6 s: refused without waiting
        assert time.perf_counter() - started < 0.1
        control.release(0.4)
        control.release(0.4)
        await asyncio.wait_for(asyncio.gather(first, second), 1)  # the two waiters were served

    asyncio.run(scenario())


def test_no_early_refusal_before_enough_holds_were_seen() -> None:
    async def scenario() -> None:
        control = AdmissionControl(limit=1, queue=5, wait_s=0.5, retry_after_s=1, min_samples=4)
        for _ in range(3):
            await control.acquire()
            control.release(10.0)  # long holds, but too few to judge by
        assert control.expected_wait_s(1) is None
        await control.acquire()
        waiters = [asyncio.create_task(control.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        assert control.waiting == 3  # all queued, none refused early
        for _ in range(3):
            control.release(0.01)
            await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*waiters), 1)

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def base_url(sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("admission-data"))
    settings = sample_settings(
        data,
        max_in_flight=2,
        admission_queue=2,
        admission_wait_s=0.5,
        overload_retry_after_s=2,
        rate_limit_burst=10_000,
        request_log=False,
    )
    with serve(create_app(settings)) as url:
        yield url


async def _search(client: httpx.AsyncClient, query: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post("/v1/search", json={"kb": SAMPLE_KB, "query": query})
    return response, time.perf_counter() - started


def test_a_flood_gets_fast_503s_with_retry_after_and_no_timeouts(base_url: str) -> None:
    async def flood() -> tuple[list[tuple[httpx.Response, float]], httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
            searches = [
                _search(client, f"how do I export notebook number {i} to PDF") for i in range(40)
            ]
            results = asyncio.gather(*searches)
            await asyncio.sleep(0.05)
            health = await client.get("/healthz")  # probes are never held back
            return await results, health

    results, health = asyncio.run(flood())  # a timeout would raise here
    assert health.status_code == 200
    statuses = [response.status_code for response, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 2
    refused = [(r, s) for r, s in results if r.status_code == 503]
    assert len(refused) >= 20, statuses  # 40 at once against 2 slots + 2 places in the queue
    for response, seconds in refused:
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"]["code"] == "overloaded"
        assert seconds < 10, "an overload answer must come fast, not after the client's timeout"


def test_load_within_capacity_is_never_refused(base_url: str) -> None:
    async def steady() -> list[int]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            statuses = []
            for round_ in range(5):  # two at a time: exactly the slots
                pair = [_search(client, f"share a notebook, try {round_}-{i}") for i in range(2)]
                statuses += [response.status_code for response, _ in await asyncio.gather(*pair)]
            return statuses

    assert asyncio.run(steady()) == [200] * 10


STREAMED_ANSWER = StubReply(chunks=[f"word{n} " for n in range(9)] + ["[1]."], chunk_delay_s=0.5)
"""Ten deltas half a second apart: each answer waits ~5 s on the model."""


@pytest.fixture(scope="module")
def slow_model() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(STREAMED_ANSWER, api_key="llm-key") as server:
        yield server


@pytest.fixture(scope="module")
def five_slots(
    sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory, slow_model: OpenAIStubServer
) -> Iterator[str]:
    """Five slots and no queue; every question reaches the (slow) model."""
    data = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("admission-llm-data"))
    settings = sample_settings(
        data,
        max_in_flight=5,
        admission_queue=0,
        overload_retry_after_s=2,
        llm_model="openai/test-model",
        llm_base_url=slow_model.base_url,
        llm_api_key="llm-key",
        answerable_threshold=float("-inf"),
        rate_limit_burst=10_000,
        request_log=False,
    )
    with serve(create_app(settings)) as url:
        yield url


def _answer_calls(kb: str) -> list[tuple[str, dict[str, object]]]:
    """Every answering edge: JSON chat, SSE chat, OpenAI-compatible stream and JSON."""
    question = "how do I restore a page from the trash?"
    messages = [{"role": "user", "content": question}]
    return [
        ("/v1/chat", {"kb": kb, "message": question}),
        ("/v1/chat/stream", {"kb": kb, "message": question}),
        ("/v1/chat/completions", {"model": kb, "stream": True, "messages": messages}),
        ("/v1/chat/completions", {"model": kb, "messages": messages}),
        ("/v1/chat", {"kb": kb, "message": question + " (again)"}),
    ]


def test_answers_hold_their_slot_while_the_model_writes(
    five_slots: str, slow_model: OpenAIStubServer
) -> None:
    """Streaming a model's answer costs the event loop CPU (the LLM client parses every
    delta), so an answer keeps its slot until it ends, on every edge: with five answers
    streaming, a sixth request is refused at once with Retry-After, and served after."""

    async def scenario() -> None:
        slow_model.clear()
        async with httpx.AsyncClient(base_url=five_slots, timeout=30) as client:
            answers = []
            for n, (path, body) in enumerate(_answer_calls(SAMPLE_KB), start=1):
                answers.append(asyncio.create_task(client.post(path, json=body)))
                await asyncio.to_thread(slow_model.wait_for_requests, n, 20.0)  # now streaming
            refused, took = await _search(client, "share a notebook")
            assert not any(answer.done() for answer in answers), "still streaming"
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "2"
            assert refused.json()["error"]["code"] == "overloaded"
            assert took < 2.0, "a refusal must come at once"
            done = await asyncio.gather(*answers)
            served, _ = await _search(client, "share a notebook")
        for (path, _), answer in zip(_answer_calls(SAMPLE_KB), done, strict=True):
            assert answer.status_code == 200, (path, answer.text)
            assert "word8" in answer.text, (path, answer.text)  # the model's whole answer
        assert served.status_code == 200  # the slots came back when the answers ended

    asyncio.run(scenario())
