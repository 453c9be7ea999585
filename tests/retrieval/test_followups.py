"""Follow-up questions: condensed into a standalone query for retrieval, not for the answer.

The heuristic is checked on its own; the pipeline on the real embedded index of the
sample help center; the LLM rewrite through litellm against the local OpenAI-compatible
stub server (tests/support/openai_stub_server.py), including its fallbacks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bot.api.app import create_app
from bot.api.schemas import ChatResponse
from bot.domain import Candidate
from bot.generation.protocol import Turn
from bot.pipeline import SupportPipeline
from bot.retrieval.followup import (
    CONDENSE_MAX_TOKENS,
    AsTyped,
    HeuristicCondenser,
    LLMCondenser,
    is_followup,
)
from bot.services import Services, build_services
from tests.conftest import REPO_ROOT
from tests.support.live_server import serve
from tests.support.openai_stub_server import OpenAIStubServer, StubReply
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

module_loop = pytest.mark.asyncio(loop_scope="module")
"""For tests that use the module-scoped pipelines (their services live in that loop)."""

DIALOGUES = REPO_ROOT / "tests" / "support" / "followup_dialogues.jsonl"
CANCEL = "How do I cancel my subscription?"
CANCEL_ARTICLE = "billing/change-or-cancel-your-plan.md"
CANCEL_HISTORY = [
    Turn("user", CANCEL),
    Turn("assistant", "Go to Settings > Billing and click Cancel subscription [1]."),
]


def history_after(question: str) -> list[Turn]:
    return [Turn("user", question), Turn("assistant", "Here is how [1].")]


# --- the heuristic ---------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "and on my phone?",
        "What about Android?",
        "how about PDF",
        "also for guests?",
        "does that work for shared notebooks too?",
        "can I undo it?",
        "How long does it take?",
        "is that possible?",
        "why?",
        "Is there a limit?",
        "can I make one for my team?",
        "is that the same on Enterprise?",
        "what happens to my workspaces?",
    ],
)
def test_follow_ups_are_recognised(message: str) -> None:
    assert is_followup(message)


@pytest.mark.parametrize(
    "message",
    [
        "How do I change my password?",
        "Delete my account",
        "Is it possible to export a workspace to PDF?",
        "How do I know that my export finished?",
        "How do I delete a page that I created?",
        "Is there a way to restore a deleted page?",
        "I'm not getting push notifications on my phone",
        "Where are my invoices?",
        "What are webhooks?",
        "how do I export?",
    ],
)
def test_self_contained_questions_are_left_alone(message: str) -> None:
    assert not is_followup(message)


async def test_a_follow_up_is_searched_with_the_earlier_question() -> None:
    condensed = await HeuristicCondenser().condense("and on my phone?", history_after(CANCEL))
    assert condensed.query == f"{CANCEL} and on my phone?"
    assert condensed.rewrite == "heuristic" and condensed.note is None


async def test_a_new_question_or_a_first_question_is_searched_as_typed() -> None:
    heuristic = HeuristicCondenser()
    new_topic = await heuristic.condense("How do I change my password?", history_after(CANCEL))
    first = await heuristic.condense("and on my phone?", [])
    assistant_only = await heuristic.condense("and on my phone?", [Turn("assistant", "Hi!")])
    for condensed, asked in (
        (new_topic, "How do I change my password?"),
        (first, "and on my phone?"),
        (assistant_only, "and on my phone?"),
    ):
        assert condensed.query == asked and condensed.rewrite == "none"


async def test_a_chain_of_follow_ups_keeps_the_original_topic() -> None:
    history = [*history_after(CANCEL), *history_after("can I undo it?")]
    condensed = await HeuristicCondenser().condense("and on my phone?", history)
    assert condensed.query == f"{CANCEL} and on my phone?"


async def test_the_rewrite_fits_the_query_limit() -> None:
    long_question = "How do I export " + "a very large workspace " * 20 + "to Markdown?"
    condensed = await HeuristicCondenser(max_chars=120).condense(
        "and to PDF?", history_after(long_question)
    )
    assert len(condensed.query) <= 120
    assert condensed.query.startswith("How do I export a very large")
    assert condensed.query.endswith(" and to PDF?")


async def test_condensing_off_searches_every_message_as_typed() -> None:
    condensed = await AsTyped().condense("and on my phone?", history_after(CANCEL))
    assert condensed.query == "and on my phone?" and condensed.rewrite == "none"


# --- the LLM rewrite (litellm → local stub server) -------------------------------------


def llm_condenser(stub: OpenAIStubServer, timeout_s: float = 2.0) -> LLMCondenser:
    return LLMCondenser(
        "openai/test-model", HeuristicCondenser(), base_url=stub.base_url, timeout_s=timeout_s
    )


async def test_the_llm_rewrite_is_used(openai_stub: OpenAIStubServer) -> None:
    openai_stub.reply = StubReply(text='"Can I undo cancelling my subscription?"\n')
    condensed = await llm_condenser(openai_stub).condense("can I undo it?", CANCEL_HISTORY)
    assert condensed.query == "Can I undo cancelling my subscription?"
    assert condensed.rewrite == "llm" and condensed.note is None
    (request,) = openai_stub.requests
    assert not request.stream and request.body["max_tokens"] == CONDENSE_MAX_TOKENS
    system, user = request.messages
    assert "standalone search query" in system["content"]
    assert f"user: {CANCEL}" in user["content"]
    assert user["content"].endswith("<latest>\ncan I undo it?\n</latest>")


async def test_no_history_no_llm_call(openai_stub: OpenAIStubServer) -> None:
    condensed = await llm_condenser(openai_stub).condense("How do I cancel?", [])
    assert condensed.query == "How do I cancel?" and condensed.rewrite == "none"
    assert openai_stub.requests == []


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (StubReply(delay_s=3.0), "no reply within 0.5 s"),
        (StubReply(status=500), "HTTP 500"),
        (StubReply(text=""), "it returned no text"),
    ],
    ids=["timeout", "server-error", "empty"],
)
async def test_a_failed_llm_rewrite_falls_back_to_the_heuristic(
    openai_stub: OpenAIStubServer, reply: StubReply, reason: str
) -> None:
    openai_stub.reply = reply
    condenser = llm_condenser(openai_stub, timeout_s=0.5)
    condensed = await condenser.condense("can I undo it?", CANCEL_HISTORY)
    assert condensed.query == f"{CANCEL} can I undo it?" and condensed.rewrite == "heuristic"
    assert condensed.note is not None
    assert condensed.note.startswith("follow-up not rewritten by the language model")
    assert reason in condensed.note and condensed.note.endswith("the heuristic rewrite")


# --- the pipeline on the sample help center ------------------------------------------


@pytest.fixture(scope="module")
def data_dir(sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sample(sample_kb_dir, tmp_path_factory.mktemp("followup-data"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pipelines(data_dir: Path) -> AsyncIterator[dict[str, SupportPipeline]]:
    """The same index and models, condensing off and on (the heuristic: no LLM)."""
    built: dict[str, Services] = {
        "off": build_services(sample_settings(data_dir, condense_followups=False)),
        "heuristic": build_services(sample_settings(data_dir)),
    }
    try:
        yield {name: services.pipeline for name, services in built.items()}
    finally:
        for services in built.values():
            await services.aclose()


def sources(results: Sequence[Candidate], k: int = 5) -> list[str]:
    return [c.chunk.source_id for c in results[:k]]


@module_loop
async def test_a_follow_up_finds_its_article_only_when_condensed(
    pipelines: dict[str, SupportPipeline],
) -> None:
    off = await pipelines["off"].answer(SAMPLE_KB, "can I undo it?", CANCEL_HISTORY)
    on = await pipelines["heuristic"].answer(SAMPLE_KB, "can I undo it?", CANCEL_HISTORY)
    assert CANCEL_ARTICLE not in sources(off.search.results)
    assert sources(on.search.results, 1) == [CANCEL_ARTICLE]
    assert off.search.query == "can I undo it?" and off.query_rewrite == "none"
    assert on.search.query == f"{CANCEL} can I undo it?" and on.query_rewrite == "heuristic"
    assert "condense" in on.timings_ms and not on.degraded
    response = ChatResponse.from_answer(on)
    assert response.searched_query == on.search.query and response.query_rewrite == "heuristic"
    # The answer is still about the customer's own words: the extractive answer quotes the
    # passage on undoing a cancellation.
    assert "Keep my plan" in on.text


@module_loop
async def test_a_first_question_is_searched_as_typed(
    pipelines: dict[str, SupportPipeline],
) -> None:
    answer = await pipelines["heuristic"].answer(SAMPLE_KB, "  How do I cancel my\nsubscription?")
    assert answer.search.query == CANCEL and answer.query_rewrite == "none"
    assert "condense" not in answer.timings_ms


@module_loop
async def test_follow_up_dialogues_hit_at_5(pipelines: dict[str, SupportPipeline]) -> None:
    """Hit@5 of each follow-up's retrieval (its relevant article among the top 5 chunks)."""
    dialogues = [json.loads(line) for line in DIALOGUES.read_text().splitlines() if line]
    assert len(dialogues) >= 12
    hits: dict[str, list[bool]] = {}
    for name, pipeline in pipelines.items():
        for dialogue in dialogues:
            answer = await pipeline.answer(
                SAMPLE_KB, dialogue["followup"], history_after(dialogue["first"])
            )
            found = set(sources(answer.search.results)) & set(dialogue["relevant"])
            hits.setdefault(name, []).append(bool(found))
    rates = {name: sum(found) / len(found) for name, found in hits.items()}
    print(f"\nfollow-up Hit@5 over {len(dialogues)} dialogues: {rates}")
    assert rates["heuristic"] > rates["off"]
    lost = [
        d["id"]
        for d, off, on in zip(dialogues, hits["off"], hits["heuristic"], strict=True)
        if off > on
    ]
    assert not lost, f"condensing lost these follow-ups: {lost}"


# --- the LLM path end to end: /v1/chat, /v1/chat/completions, OpenAPI ------------------


@pytest.fixture(scope="module")
def model_stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as server:
        yield server


@pytest.fixture(scope="module")
def llm_api(data_dir: Path, model_stub: OpenAIStubServer) -> Iterator[httpx.Client]:
    settings = sample_settings(
        data_dir,
        llm_model="openai/test-model",
        llm_base_url=model_stub.base_url,
        # Long enough that a busy machine still gets the rewrite in time (the first litellm
        # call is slow), short enough to drill the fallback below without a long wait.
        condense_timeout_s=2.0,
        answerable_threshold=float("-inf"),
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def chat(client: httpx.Client, message: str, history: list[Turn], **extra: str) -> dict:
    turns = [{"role": t.role, "content": t.content} for t in history]
    body = {"kb": SAMPLE_KB, "message": message, **({"history": turns} if turns else extra)}
    response = client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_chat_searches_the_llm_rewrite_and_answers_the_question(
    llm_api: httpx.Client, model_stub: OpenAIStubServer
) -> None:
    model_stub.clear()
    rewrite = "Can I undo cancelling my subscription?"
    model_stub.enqueue(rewrite, "Click Keep my plan [1].")
    body = chat(llm_api, "can I undo it?", CANCEL_HISTORY)
    assert body["searched_query"] == rewrite and body["query_rewrite"] == "llm"
    assert body["mode"] == "llm" and not body["degraded"]
    assert body["citations"][0]["source_id"] == CANCEL_ARTICLE
    condense, generate = model_stub.requests
    assert not condense.stream and generate.stream
    prompt = generate.messages[-1]["content"]
    assert "<question>\ncan I undo it?\n</question>" in prompt and rewrite not in prompt


def test_chat_falls_back_to_the_heuristic_when_the_rewrite_times_out(
    llm_api: httpx.Client, model_stub: OpenAIStubServer
) -> None:
    model_stub.clear()
    model_stub.enqueue(StubReply(text="too late", delay_s=5.0), "Click Keep my plan [1].")
    body = chat(llm_api, "can I undo it?", CANCEL_HISTORY)
    assert body["searched_query"] == f"{CANCEL} can I undo it?"
    assert body["query_rewrite"] == "heuristic" and body["mode"] == "llm"
    assert any("no reply within 2 s" in note for note in body["degraded"])
    assert body["citations"][0]["source_id"] == CANCEL_ARTICLE


def test_a_first_message_makes_no_rewrite_call(
    llm_api: httpx.Client, model_stub: OpenAIStubServer
) -> None:
    model_stub.clear()
    body = chat(llm_api, CANCEL, [])
    assert body["searched_query"] == CANCEL and body["query_rewrite"] == "none"
    assert [r.stream for r in model_stub.requests] == [True]


def test_server_kept_history_is_condensed_too(
    llm_api: httpx.Client, model_stub: OpenAIStubServer
) -> None:
    model_stub.clear()
    rewrite = "Can I undo cancelling my subscription?"
    model_stub.enqueue("Go to Settings > Billing [1].", rewrite, "Click Keep my plan [1].")
    chat(llm_api, CANCEL, [], conversation_id="followup-conversation")
    body = chat(llm_api, "can I undo it?", [], conversation_id="followup-conversation")
    assert body["searched_query"] == rewrite and body["query_rewrite"] == "llm"
    condense = model_stub.requests[1]
    assert not condense.stream and f"user: {CANCEL}" in condense.messages[-1]["content"]


def test_openai_compatible_endpoint_reports_the_searched_query(
    llm_api: httpx.Client, model_stub: OpenAIStubServer
) -> None:
    model_stub.clear()
    model_stub.enqueue("Can I undo cancelling my subscription?", "Click Keep my plan [1].")
    messages = [{"role": t.role, "content": t.content} for t in CANCEL_HISTORY]
    messages.append({"role": "user", "content": "can I undo it?"})
    response = llm_api.post("/v1/chat/completions", json={"model": SAMPLE_KB, "messages": messages})
    assert response.status_code == 200, response.text
    meta = response.json()["supportbot"]
    assert meta["searched_query"] == "Can I undo cancelling my subscription?"


def test_openapi_documents_the_searched_query(llm_api: httpx.Client) -> None:
    schemas = llm_api.get("/openapi.json").json()["components"]["schemas"]
    chat_fields = schemas["ChatResponse"]["properties"]
    assert "follow-up" in chat_fields["searched_query"]["description"]
    assert chat_fields["query_rewrite"]["enum"] == ["none", "heuristic", "llm"]
    assert "follow-up" in schemas["SearchResponse"]["properties"]["query"]["description"]
    assert "searched_query" in schemas["SupportbotMeta"]["properties"]
