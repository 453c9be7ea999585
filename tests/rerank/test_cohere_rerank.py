"""CohereReranker: the real `cohere` SDK against a local server that follows /v2/rerank."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from bot.cache.memory import InMemoryScoreCache
from bot.domain import Candidate, Chunk
from bot.errors import ConfigurationError, RerankError
from bot.rerank.cohere_rerank import CohereReranker
from bot.rerank.inputs import rerank_text
from bot.rerank.stage import RerankStage
from tests.support.cohere_stub_server import CohereStubServer, overlap_score

QUERY = "how do I reset my password"
TEXTS = [
    "Use Forgot password on the login page to get a reset link.",
    "Invoices are emailed on the first of each month.",
    "Your identity provider manages passwords when SAML is on; reset it there.",
    "Upload a square avatar image from Personal settings.",
]


def make_chunks(texts: list[str]) -> list[Chunk]:
    return [
        Chunk(
            kb="help",
            source_id=f"doc{i}",
            ordinal=0,
            title="Help",
            heading_path=("Account",),
            text=text,
            url=None,
            doc_hash=f"h{i}",
        )
        for i, text in enumerate(texts)
    ]


def expected_scores(chunks: list[Chunk], max_tokens: int = 512) -> list[float]:
    return [overlap_score(QUERY, rerank_text(c), max_tokens) for c in chunks]


@pytest.fixture
def stub() -> Iterator[CohereStubServer]:
    with CohereStubServer(max_documents=10) as server:
        yield server


def reranker_for(stub: CohereStubServer, **kwargs: object) -> CohereReranker:
    options: dict[str, object] = {
        "base_url": stub.url,
        "timeout_s": 5.0,
        "backoff_s": 0.02,
        "max_documents_per_request": 10,
    }
    options.update(kwargs)
    return CohereReranker(stub.api_key, "rerank-v3.5", **options)  # type: ignore[arg-type]


def test_request_follows_the_contract_and_scores_come_back_in_input_order(
    stub: CohereStubServer,
) -> None:
    chunks = make_chunks(TEXTS)
    scores = reranker_for(stub).score(QUERY, chunks)

    assert scores == pytest.approx(expected_scores(chunks))
    assert scores.index(max(scores)) == 0
    [request] = stub.requests
    assert request.path == "/v2/rerank"
    assert request.headers["authorization"] == f"Bearer {stub.api_key}"
    assert request.body == {
        "model": "rerank-v3.5",
        "query": QUERY,
        "documents": [rerank_text(c) for c in chunks],
        "top_n": len(chunks),
        "max_tokens_per_doc": 512,
    }


def test_documents_are_cut_to_the_character_budget(stub: CohereStubServer) -> None:
    long_text = "password reset " * 500
    reranker_for(stub, max_chars_per_doc=120).score(QUERY, make_chunks([long_text, "short"]))
    sent = stub.requests[0].body["documents"]
    assert [len(doc) for doc in sent] == [120, len(rerank_text(make_chunks(["short"])[0]))]


def test_more_documents_than_the_limit_are_split_and_merged(stub: CohereStubServer) -> None:
    texts = [f"{TEXTS[i % len(TEXTS)]} (copy {i})" for i in range(25)]
    chunks = make_chunks(texts)

    scores = reranker_for(stub).score(QUERY, chunks)

    assert [len(r.body["documents"]) for r in stub.requests] == [10, 10, 5]
    assert scores == pytest.approx(expected_scores(chunks))


def test_over_the_servers_limit_is_a_clear_error_not_a_retry(stub: CohereStubServer) -> None:
    reranker = reranker_for(stub, max_documents_per_request=1000)
    with pytest.raises(RerankError, match="too many documents"):
        reranker.score(QUERY, make_chunks([f"doc {i}" for i in range(11)]))
    assert len(stub.requests) == 1


def test_rate_limit_waits_for_retry_after_then_succeeds(stub: CohereStubServer) -> None:
    stub.fail_next(429, "You are past the per minute request limit", headers={"Retry-After": "1"})
    chunks = make_chunks(TEXTS)

    scores = reranker_for(stub).score(QUERY, chunks)

    assert scores == pytest.approx(expected_scores(chunks))
    first, second = stub.requests
    assert second.received_at - first.received_at >= 0.95


def test_retry_after_beyond_our_patience_fails_fast(stub: CohereStubServer) -> None:
    stub.fail_next(429, "slow down", headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(RerankError, match="retry after 30s"):
        reranker_for(stub, max_retry_wait_s=2.0).score(QUERY, make_chunks(TEXTS))
    assert time.monotonic() - started < 1.0
    assert len(stub.requests) == 1


def test_server_errors_are_retried_with_backoff(stub: CohereStubServer) -> None:
    stub.fail_next(500, "internal error", times=2)
    scores = reranker_for(stub, max_retries=3).score(QUERY, make_chunks(TEXTS))
    assert len(stub.requests) == 3
    assert scores == pytest.approx(expected_scores(make_chunks(TEXTS)))


def test_retries_are_bounded(stub: CohereStubServer) -> None:
    stub.fail_next(500, "internal error", times=5)
    with pytest.raises(
        RerankError, match=r"still failing after 3 attempts \(500\): internal error"
    ):
        reranker_for(stub, max_retries=2).score(QUERY, make_chunks(TEXTS))
    assert len(stub.requests) == 3


def test_wrong_api_key_says_which_setting_to_fix(stub: CohereStubServer) -> None:
    reranker = CohereReranker("wrong-key", base_url=stub.url, backoff_s=0.01)
    with pytest.raises(RerankError, match="SUPPORTBOT_COHERE_API_KEY"):
        reranker.score(QUERY, make_chunks(TEXTS))
    assert len(stub.requests) == 1


def test_timeout_is_a_rerank_error_without_retry(stub: CohereStubServer) -> None:
    stub.delay_next(2.0)
    started = time.monotonic()
    with pytest.raises(RerankError, match=r"timed out after 0\.3s"):
        reranker_for(stub, timeout_s=0.3).score(QUERY, make_chunks(TEXTS))
    assert time.monotonic() - started < 1.5
    assert len(stub.requests) == 1


def test_unreachable_server_is_a_rerank_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reranker = CohereReranker(
        "key", base_url=f"http://127.0.0.1:{port}", max_retries=1, backoff_s=0.01
    )
    with pytest.raises(RerankError, match="cannot reach Cohere"):
        reranker.score(QUERY, make_chunks(TEXTS))


async def test_through_the_stage_a_timeout_falls_back_to_fused_order(
    stub: CohereStubServer,
) -> None:
    chunks = make_chunks(TEXTS)
    candidates = [Candidate(chunk=c, fused_score=1.0 / (61 + i)) for i, c in enumerate(chunks)]

    stub.delay_next(2.0)
    stage = RerankStage(
        reranker_for(stub, timeout_s=0.3), InMemoryScoreCache(), timeout_s=3.0, cache_ttl_s=60
    )
    outcome = await stage.rerank(QUERY, candidates)
    assert not outcome.reranked
    assert (outcome.reason or "").startswith("reranker error: Cohere rerank timed out")
    assert [c.chunk for c in outcome.candidates] == chunks

    applied = await stage.rerank(QUERY, candidates)
    assert applied.reranked
    assert applied.candidates[0].chunk == chunks[0]
    assert applied.candidates[0].rerank_score == pytest.approx(expected_scores(chunks)[0])


def test_name_is_a_cache_key_part(stub: CohereStubServer) -> None:
    assert reranker_for(stub, max_tokens_per_doc=256).name == "cohere:rerank-v3.5:256"


def test_missing_key_or_bad_limits_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="SUPPORTBOT_COHERE_API_KEY"):
        CohereReranker("")
    with pytest.raises(ConfigurationError, match="max_documents_per_request"):
        CohereReranker("key", max_documents_per_request=5000)
