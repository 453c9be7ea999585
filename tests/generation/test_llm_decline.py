"""The LLM's own "the passages do not answer this" signal: a tool call where the model can
call tools, a strict marker otherwise; a parse that fails safe; declined + handoff.

litellm runs for real against tests/openai_stub_server.py on loopback, playing a model
that answers, one that declines, and one whose output is malformed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from bot.api.app import create_app
from bot.generation.decline import (
    NO_ANSWER_MARKER,
    NO_ANSWER_TOOL,
    MarkerFilter,
    ModelDeclined,
)
from bot.generation.litellm_generator import LiteLLMGenerator
from tests.generation.test_generation import PASSAGES, collect
from tests.support.live_server import serve
from tests.support.openai_stub_server import OpenAIStubServer, StubReply
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

QUESTION = "How do I change my password?"


def shown(pieces: list[str]) -> tuple[str, bool]:
    marker = MarkerFilter()
    text = "".join(marker.feed(piece) for piece in pieces) + marker.finish()
    return text, marker.declined


def test_marker_in_pieces_declines_and_is_never_shown() -> None:
    assert shown(["[[", "NO_", "ANSWER", "]]"]) == ("", True)
    assert shown([" ", NO_ANSWER_MARKER]) == (" ", True)


def test_loose_or_misplaced_marker_fails_safe() -> None:
    # Spacing and case vary; a marker after some text still declines (and is not shown).
    assert shown(["[[ no answer ]]"])[1]
    text, declined = shown(["Open Settings [1]. ", "[[NO", "_ANSWER]]"])
    assert declined and "NO_ANSWER" not in text


def test_ordinary_brackets_pass_through_untouched() -> None:
    answer = "Use [[double brackets]] for wiki links [1]. Then save [2]."
    assert shown([answer[:12], answer[12:30], answer[30:]]) == (answer, False)
    assert shown(["Click [[", "Save"]) == ("Click [[Save", False)


def llm(stub: OpenAIStubServer, signal: str) -> LiteLLMGenerator:
    return LiteLLMGenerator(
        "openai/test-model", base_url=stub.base_url, timeout_s=10, decline_signal=signal
    )  # type: ignore[arg-type]


async def test_a_model_that_answers_streams_its_answer(openai_stub: OpenAIStubServer) -> None:
    openai_stub.reply = StubReply(text="Open Settings › Account and click Change [1].")
    for signal in ("marker", "tool"):
        deltas = await collect(llm(openai_stub, signal), QUESTION, PASSAGES)
        assert "".join(deltas) == "Open Settings › Account and click Change [1]."
    marker_request, tool_request = openai_stub.requests
    assert NO_ANSWER_MARKER in marker_request.messages[0]["content"]
    assert "tools" not in marker_request.body
    assert tool_request.body["tools"][0]["function"]["name"] == NO_ANSWER_TOOL
    assert NO_ANSWER_TOOL in tool_request.messages[0]["content"]


async def test_a_model_that_declines_raises_the_signal(openai_stub: OpenAIStubServer) -> None:
    openai_stub.reply = StubReply(chunks=["[[", "NO_ANSWER", "]]"])
    with pytest.raises(ModelDeclined):
        await collect(llm(openai_stub, "marker"), QUESTION, PASSAGES)
    openai_stub.reply = StubReply(text="", tool_call=(NO_ANSWER_TOOL, '{"reason": "no 2FA"}'))
    with pytest.raises(ModelDeclined):
        await collect(llm(openai_stub, "tool"), QUESTION, PASSAGES)


async def test_malformed_output_fails_safe(openai_stub: OpenAIStubServer) -> None:
    # A tool call whose arguments are not JSON still declines.
    openai_stub.reply = StubReply(text="", tool_call=(NO_ANSWER_TOOL, '{"reason": "no 2F'))
    with pytest.raises(ModelDeclined):
        await collect(llm(openai_stub, "tool"), QUESTION, PASSAGES)
    # An answer and a marker at once: the customer gets no half-denied answer.
    openai_stub.reply = StubReply(text="Maybe open Settings [1]. [[ no answer ]]")
    with pytest.raises(ModelDeclined):
        await collect(llm(openai_stub, "marker"), QUESTION, PASSAGES)


# --- end to end: chat, stream and the OpenAI-compatible endpoint --------------------


@pytest.fixture(scope="module")
def model(sample_kb_dir: Path) -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as stub:
        yield stub


@pytest.fixture(scope="module")
def app_url(
    sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory, model: OpenAIStubServer
) -> Iterator[str]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("llm-decline"))
    settings = sample_settings(
        data_dir,
        llm_model="openai/test-model",
        llm_base_url=model.base_url,
        rate_limit_per_minute=100_000.0,
        rate_limit_burst=10_000,
    )
    with serve(create_app(settings)) as url:
        yield url


ON_TOPIC = "how do I restore a page from the trash?"


@pytest.mark.model
def test_chat_answers_then_declines_when_the_model_says_so(
    app_url: str, model: OpenAIStubServer
) -> None:
    with httpx.Client(base_url=app_url, timeout=60) as client:
        model.reply = StubReply(text="Open Trash and click Restore [1].")
        answered = client.post("/v1/chat", json={"kb": SAMPLE_KB, "message": ON_TOPIC}).json()
        assert answered["mode"] == "llm" and answered["citations"]
        assert not answered["handoff_suggested"]

        model.reply = StubReply(text=NO_ANSWER_MARKER)
        declined = client.post("/v1/chat", json={"kb": SAMPLE_KB, "message": ON_TOPIC}).json()
        assert declined["mode"] == "declined" and declined["handoff_suggested"]
        assert declined["citations"] == [] and NO_ANSWER_MARKER not in declined["answer"]
        assert declined["answerable"]  # retrieval found passages; the model judged them

        model.reply = StubReply(chunks=["[[", "no answer", "]]"])
        with client.stream(
            "POST", "/v1/chat/stream", json={"kb": SAMPLE_KB, "message": ON_TOPIC}
        ) as response:
            body = response.read().decode()
        events = [block.split("\n", 1) for block in body.strip().split("\n\n")]
        deltas = [json.loads(data[6:])["text"] for name, data in events if name == "event: delta"]
        assert not any("[[" in delta or "]]" in delta for delta in deltas)
        done = json.loads(events[-1][1].removeprefix("data: "))
        assert events[-1][0] == "event: done" and done["mode"] == "declined"


@pytest.mark.model
def test_openai_compatible_endpoint_reports_the_decline(
    app_url: str, model: OpenAIStubServer
) -> None:
    model.reply = StubReply(text="", tool_call=(NO_ANSWER_TOOL, "not json"))
    client = openai.OpenAI(base_url=f"{app_url}/v1", api_key="unused", max_retries=0)
    # The stub model is unknown to litellm, so `auto` used the marker: a stray tool call
    # is malformed output, and still declines.
    completion = client.chat.completions.create(
        model=SAMPLE_KB, messages=[{"role": "user", "content": ON_TOPIC}]
    )
    meta = (completion.model_extra or {})["supportbot"]
    assert meta["mode"] == "declined" and meta["handoff_suggested"]
