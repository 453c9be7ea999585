"""The HTTP API through a real uvicorn server, on the sample help center, embedded defaults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from bot.settings import Settings
from tests.conftest import REPO_ROOT
from tests.support.live_server import serve
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

KB = SAMPLE_KB
QUESTIONS = REPO_ROOT / "examples" / "help-center-questions.jsonl"


@pytest.fixture(scope="module")
def sample_data_dir(sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's copy of the sample help center, ingested once per session."""
    return copy_sample(sample_kb_dir, tmp_path_factory.mktemp("api-data"))


def api_settings(data_dir: Path) -> Settings:
    # These tests make many requests from one address; limits have tests of their own.
    return sample_settings(data_dir, rate_limit_per_minute=100_000.0, rate_limit_burst=10_000)


@pytest.fixture(scope="module")
def base_url(sample_data_dir: Path) -> Iterator[str]:
    with serve(create_app(api_settings(sample_data_dir))) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def test_health_and_readiness_report_components(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    components = body["components"]
    assert components["search_backend"]["ok"] is True
    assert components["reranker"]["name"].startswith("late-interaction")
    assert components["generator"]["name"] == "extractive"


def test_search_returns_ranked_cited_chunks_with_stage_details(client: httpx.Client) -> None:
    response = client.post("/v1/search", json={"kb": KB, "query": "I forgot my password"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reranked"] is True and body["rerank_reason"] is None
    assert 1 <= len(body["results"]) <= 5
    first = body["results"][0]
    for field in ("source_id", "title", "url", "heading_path", "text", "bm25_rank", "dense_rank"):
        assert field in first
    assert first["rerank_score"] is not None
    scores = [r["rerank_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert {"bm25", "knn", "rerank"} <= set(body["timings"])
    assert "password" in " ".join(r["source_id"] + r["text"] for r in body["results"]).lower()


def test_single_retriever_modes_carry_only_their_rank(client: httpx.Client) -> None:
    bm25 = client.post(
        "/v1/search", json={"kb": KB, "query": "invoice", "mode": "bm25", "rerank": False}
    ).json()
    assert bm25["reranked"] is False and bm25["rerank_reason"] == "disabled by request"
    assert all(r["dense_rank"] is None and r["bm25_rank"] for r in bm25["results"])
    assert [r["bm25_rank"] for r in bm25["results"]] == sorted(
        r["bm25_rank"] for r in bm25["results"]
    )
    dense = client.post(
        "/v1/search", json={"kb": KB, "query": "invoice", "mode": "dense", "top_k": 10}
    ).json()
    assert len(dense["results"]) == 10
    assert all(r["bm25_rank"] is None and r["dense_rank"] for r in dense["results"])


def test_sample_questions_find_their_article(client: httpx.Client) -> None:
    """Hybrid + rerank puts a relevant article in the top 5 for most labelled questions."""
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    answerable = [r for r in rows if r["relevant"]]
    hits = 0
    for row in answerable:
        body = client.post("/v1/search", json={"kb": KB, "query": row["query"]}).json()
        found = {r["source_id"] for r in body["results"]}
        hits += bool(found & set(row["relevant"]))
    assert hits / len(answerable) >= 0.75, f"hit@5 {hits}/{len(answerable)}"


def test_errors_are_json_with_stable_codes(client: httpx.Client) -> None:
    missing = client.post("/v1/search", json={"kb": "no-such-kb", "query": "hello"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "kb_not_found"
    invalid = client.post("/v1/search", json={"kb": KB, "query": "x", "top_k": 500})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "validation_error"
    assert "top_k" in invalid.json()["error"]["message"]
    blank = client.post("/v1/search", json={"kb": KB, "query": "   \n\t "})  # schema: VISIBLE_TEXT
    assert blank.status_code == 422
    assert blank.json()["error"]["code"] == "validation_error"
    assert "query" in blank.json()["error"]["message"]
    nowhere = client.get("/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"
    # 405 names every method of the path, not only the first route's (one route per method)
    for path, allowed in (("/admin/kbs", "GET, POST"), ("/admin/kbs/x", "DELETE, GET")):
        refused = client.request("OPTIONS", path)
        assert refused.status_code == 405 and refused.headers["allow"] == allowed


def test_chat_without_llm_answers_extractively_with_citations(client: httpx.Client) -> None:
    response = client.post("/v1/chat", json={"kb": KB, "message": "how do I reset my password?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "extractive"
    assert body["citations"] and body["citations"][0]["number"] == 1
    assert body["cited"] and set(body["cited"]) <= {c["number"] for c in body["citations"]}
    assert "[1]" in body["answer"]
    assert {"source_id", "title", "url"} <= set(body["citations"][0])


def test_chat_stream_sends_start_deltas_and_done(client: httpx.Client) -> None:
    events: list[tuple[str, dict]] = []
    with client.stream(
        "POST", "/v1/chat/stream", json={"kb": KB, "message": "can I export my workspace?"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert event is not None
                events.append((event, json.loads(line.removeprefix("data: "))))
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done"
    assert "delta" in names
    streamed = "".join(data["text"] for name, data in events if name == "delta")
    assert streamed == events[-1][1]["answer"]
    assert events[0][1]["citations"]


def test_chat_stream_unknown_kb_is_a_plain_404(client: httpx.Client) -> None:
    response = client.post("/v1/chat/stream", json={"kb": "nope", "message": "hi"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "kb_not_found"


def test_openapi_documents_the_endpoints(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/search", "/v1/chat", "/v1/chat/stream", "/healthz", "/readyz"):
        assert path in spec["paths"]
