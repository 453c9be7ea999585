"""Helpdesk webhooks and handoff, end to end: signed deliveries in, Zendesk API calls and
signed transcripts out, against a local helpdesk stub that records every call."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from bot.api.app import create_app
from bot.cache.redis_client import make_redis_client
from bot.cache.redis_guard import RedisGuard
from bot.helpdesk.handoff import asks_for_person
from bot.helpdesk.idempotency import InMemoryIdempotencyStore, RedisIdempotencyStore
from tests.support.helpdesk_stub_server import (
    HelpdeskStubServer,
    assert_one_internal_note_with_sources,
    comment_added,
    supportbot_headers,
    ticket_created,
    zendesk_headers,
)
from tests.support.live_server import serve
from tests.support.redis_fixtures import redis_url  # noqa: F401
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

ZENDESK_SECRET = "zendesk-signing-secret"
ZENDESK_TOKEN = "zd-api-token-123"
GENERIC_SECRET = "generic-shared-secret"
HANDOFF_SECRET = "handoff-secret"
INTERNAL_ACCOUNT, PUBLIC_ACCOUNT, STRICT_ACCOUNT = 1001, 1002, 1003


@pytest.fixture(scope="module")
def stub() -> Iterator[HelpdeskStubServer]:
    with HelpdeskStubServer(zendesk_email="bot@acme.example", zendesk_token=ZENDESK_TOKEN) as s:
        yield s


def account(stub: HelpdeskStubServer, account_id: int, **extra: object) -> dict[str, object]:
    return {
        "account_id": account_id,
        "kb": SAMPLE_KB,
        "base_url": stub.url,
        "email": "bot@acme.example",
        "api_token": ZENDESK_TOKEN,
        "webhook_secret": ZENDESK_SECRET,
        **extra,
    }


@pytest.fixture(scope="module")
def data_dir(sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sample(sample_kb_dir, tmp_path_factory.mktemp("webhooks-data"))


@pytest.fixture(scope="module")
def base_url(data_dir: Path, stub: HelpdeskStubServer) -> Iterator[str]:
    settings = sample_settings(
        data_dir,
        answerable_threshold=0.5,
        zendesk_accounts=[
            account(stub, INTERNAL_ACCOUNT),
            account(stub, PUBLIC_ACCOUNT, public_replies=True, public_reply_min_score=0.5),
            account(stub, STRICT_ACCOUNT, public_replies=True, public_reply_min_score=0.99),
        ],
        generic_webhooks=[
            {
                "name": "crm",
                "kb": SAMPLE_KB,
                "secret": GENERIC_SECRET,
                "callback_url_prefixes": [f"{stub.url}/callbacks/"],
            }
        ],
        handoff_webhook_url=f"{stub.url}/handoff",
        handoff_webhook_secret=HANDOFF_SECRET,
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(base_url: str, stub: HelpdeskStubServer) -> Iterator[httpx.Client]:
    stub.clear()
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def deliver(client: httpx.Client, event: dict, *, timestamp: str | None = None) -> httpx.Response:
    body = json.dumps(event).encode()
    return client.post(
        "/v1/webhooks/zendesk",
        content=body,
        headers=zendesk_headers(ZENDESK_SECRET, body, timestamp),
    )


def password_ticket(account: int, ticket: int, event_id: str) -> dict:
    return ticket_created(
        account,
        ticket,
        "Can't log in",
        "I forgot my password and need to reset it. How do I get a reset link?",
        event_id,
    )


# --- Zendesk -----------------------------------------------------------------------------------
def test_ticket_created_gets_an_internal_note_with_sources(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    response = deliver(client, password_ticket(INTERNAL_ACCOUNT, 501, "evt-note-1"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "posted",
        "detail": None,
        "ticket_id": 501,
        "public": False,
    }
    assert_one_internal_note_with_sources(stub, 501, ZENDESK_TOKEN)


def test_confident_answer_is_a_public_reply_only_where_enabled(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    public = deliver(client, password_ticket(PUBLIC_ACCOUNT, 601, "evt-public-1"))
    assert public.json()["public"] is True
    strict = deliver(client, password_ticket(STRICT_ACCOUNT, 602, "evt-strict-1"))
    assert strict.json()["public"] is False
    first, second = stub.ticket_updates()
    assert first.json["ticket"]["comment"]["public"] is True
    assert not first.json["ticket"]["comment"]["body"].startswith("Suggested answer")
    assert second.json["ticket"]["comment"]["public"] is False


def test_the_same_event_delivered_twice_posts_once(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    event = password_ticket(INTERNAL_ACCOUNT, 701, "evt-retry-1")
    assert deliver(client, event).json()["status"] == "posted"
    assert deliver(client, event).json()["status"] == "duplicate"
    # concurrent retries of a fresh event: still exactly one comment
    fresh = password_ticket(INTERNAL_ACCOUNT, 702, "evt-retry-2")
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(
            r.json()["status"] for r in pool.map(lambda _: deliver(client, fresh), range(4))
        )
    assert statuses == ["duplicate", "duplicate", "duplicate", "posted"]
    assert [u.path for u in stub.ticket_updates()] == [
        "/api/v2/tickets/701.json",
        "/api/v2/tickets/702.json",
    ]


def test_a_failed_post_is_retried_by_the_next_delivery(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    stub.fail_next.append((503, {"Retry-After": "7"}))
    event = password_ticket(INTERNAL_ACCOUNT, 801, "evt-fail-1")
    failed = deliver(client, event)
    assert failed.status_code == 503 and failed.headers["retry-after"] == "7"
    assert failed.json()["error"]["code"] == "backend_unavailable"
    assert deliver(client, event).json()["status"] == "posted"
    assert len(stub.ticket_updates()) == 2  # the refused attempt, then the real one


def test_signatures_and_timestamps_are_checked(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    event = password_ticket(INTERNAL_ACCOUNT, 901, "evt-sig-1")
    body = json.dumps(event).encode()
    forged = client.post(
        "/v1/webhooks/zendesk", content=body, headers=zendesk_headers("wrong-secret", body)
    )
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"
    headers = zendesk_headers(ZENDESK_SECRET, body)
    tampered = client.post(
        "/v1/webhooks/zendesk", content=body.replace(b"password", b"passw0rd"), headers=headers
    )
    assert tampered.status_code == 401
    old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stale = deliver(client, event, timestamp=old)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "stale_signature"
    unsigned = client.post(
        "/v1/webhooks/zendesk", content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "missing_signature"
    unknown = deliver(client, password_ticket(4242, 902, "evt-sig-2"))
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "unknown_integration"
    assert stub.ticket_updates() == []


def test_only_customer_comments_are_answered(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    question = "How do I turn on two-factor authentication?"
    agent = deliver(client, comment_added(INTERNAL_ACCOUNT, 1001, question, "evt-c-1", staff=True))
    private = deliver(
        client,
        comment_added(INTERNAL_ACCOUNT, 1001, question, "evt-c-2", staff=False, public=False),
    )
    customer = deliver(
        client, comment_added(INTERNAL_ACCOUNT, 1001, question, "evt-c-3", staff=False)
    )
    assert [r.json()["status"] for r in (agent, private, customer)] == [
        "ignored",
        "ignored",
        "posted",
    ]
    [update] = stub.ticket_updates()
    assert "two-factor" in update.json["ticket"]["comment"]["body"].lower()


def test_unanswerable_ticket_is_flagged_for_an_agent(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    event = ticket_created(
        INTERNAL_ACCOUNT, 1101, "Pizza", "What toppings go best on a pizza?", "evt-u-1"
    )
    assert deliver(client, event).json() == {
        "status": "posted", "detail": None, "ticket_id": 1101, "public": False,
    }  # fmt: skip
    body = stub.ticket_updates()[0].json["ticket"]["comment"]["body"]
    assert body.startswith("supportbot found no good answer")
    assert stub.records("/handoff") == []  # people already read the ticket; no extra webhook


# --- generic contract ---------------------------------------------------------------------------
def generic(
    client: httpx.Client, payload: dict, secret: str = GENERIC_SECRET, **headers: str
) -> httpx.Response:
    body = json.dumps(payload).encode()
    signed = {**supportbot_headers(secret, body), "X-Supportbot-Integration": "crm", **headers}
    return client.post("/v1/webhooks/generic", content=body, headers=signed)


def test_generic_answers_synchronously_with_citations(client: httpx.Client) -> None:
    response = generic(
        client, {"question": "how can I export my workspace?", "conversation_id": "c-1"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["conversation_id"] == "c-1" and body["mode"] == "extractive"
    assert body["citations"] and body["cited"] and body["handoff"] is None
    assert any("export" in c["source_id"] for c in body["citations"]), body


def test_generic_answers_by_signed_callback(client: httpx.Client, stub: HelpdeskStubServer) -> None:
    payload = {
        "question": "where do I download invoices?",
        "conversation_id": "c-2",
        "callback_url": f"{stub.url}/callbacks/answers",
        "event_id": "gen-evt-1",
    }
    accepted = generic(client, payload)
    assert accepted.status_code == 202 and accepted.json()["status"] == "accepted"
    [callback] = stub.wait_for("/callbacks/")
    assert callback.signature_ok(GENERIC_SECRET)
    assert callback.json["event_id"] == "gen-evt-1" and callback.json["citations"]
    assert generic(client, payload).json()["status"] == "duplicate"
    assert len(stub.records("/callbacks/")) == 1


def test_generic_refuses_bad_signatures_and_foreign_callbacks(client: httpx.Client) -> None:
    payload = {"question": "hi", "conversation_id": "c-3"}
    assert generic(client, payload, secret="nope").json()["error"]["code"] == "invalid_signature"
    old = json.dumps(payload).encode()
    stale = client.post(
        "/v1/webhooks/generic",
        content=old,
        headers={
            **supportbot_headers(GENERIC_SECRET, old, timestamp=1),
            "X-Supportbot-Integration": "crm",
        },
    )
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "stale_signature"
    foreign = generic(client, {**payload, "callback_url": "http://169.254.169.254/latest"})
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "callback_not_allowed"
    invalid = generic(client, {"question": "", "conversation_id": "c-3"})
    assert invalid.status_code == 400 and "question" in invalid.json()["error"]["message"]


# --- handoff ------------------------------------------------------------------------------
def test_asking_for_a_person_hands_off_with_a_signed_transcript(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    history = [
        {"role": "user", "content": "my invoices are wrong"},
        {"role": "assistant", "content": "You can download invoices from Billing [1]."},
    ]
    response = generic(
        client,
        {
            "question": "I want to talk to a human please",
            "conversation_id": "c-4",
            "history": history,
        },
    )
    body = response.json()
    assert body["handoff"] == {"reason": "user_request", "delivered": True}
    assert body["mode"] == "declined" and "person" in body["answer"]
    [delivery] = stub.wait_for("/handoff")
    assert delivery.signature_ok(HANDOFF_SECRET)
    sent = delivery.json
    assert sent["reason"] == "user_request" and sent["source"] == "generic:crm"
    assert sent["conversation_id"] == "c-4" and sent["kb"] == SAMPLE_KB
    assert [t["content"] for t in sent["transcript"]] == [
        "my invoices are wrong",
        "You can download invoices from Billing [1].",
        "I want to talk to a human please",
    ]


def test_no_good_answer_hands_off_and_says_so(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    response = generic(
        client, {"question": "what is the capital of Mongolia?", "conversation_id": "c-5"}
    )
    body = response.json()
    assert body["mode"] == "declined" and body["handoff"] == {
        "reason": "no_answer",
        "delivered": True,
    }
    assert "passed your question" in body["answer"]
    [delivery] = stub.wait_for("/handoff")
    assert delivery.json["reason"] == "no_answer" and delivery.signature_ok(HANDOFF_SECRET)


def test_widget_handoff_endpoint(client: httpx.Client, stub: HelpdeskStubServer) -> None:
    transcript = [{"role": "user", "content": "sync is broken on my phone"}]
    response = client.post(
        "/v1/handoff",
        json={"kb": SAMPLE_KB, "conversation_id": "widget-conv-1", "transcript": transcript},
    )
    assert response.status_code == 200 and response.json()["status"] == "delivered"
    [delivery] = stub.wait_for("/handoff")
    assert delivery.json["source"] == "widget" and delivery.json["transcript"] == transcript
    stub.fail_next.extend([(500, {}), (500, {})])
    failing = client.post("/v1/handoff", json={"kb": SAMPLE_KB, "transcript": transcript})
    assert failing.status_code == 503 and failing.json()["error"]["code"] == "backend_unavailable"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I want to talk to a human", True),
        ("can I speak with a real person?", True),
        ("agent please", True),
        ("connect me to support staff", True),
        ("how do I add a person to my workspace?", False),
        ("who can talk to the API?", False),
        ("I need someone to help me configure SSO", False),
        ("I need a human", True),
    ],
)
def test_asking_for_a_person_is_recognised(message: str, expected: bool) -> None:
    assert asks_for_person(message) is expected


@pytest.mark.redis
def test_replicas_sharing_redis_post_a_redelivered_event_once(
    data_dir: Path,
    stub: HelpdeskStubServer,
    redis_url: str,  # noqa: F811
) -> None:
    """Zendesk's retry may reach another API process: the claim in Redis covers both."""
    stub.clear()
    settings = sample_settings(
        data_dir, redis_url=redis_url, zendesk_accounts=[account(stub, INTERNAL_ACCOUNT)]
    )
    event = password_ticket(INTERNAL_ACCOUNT, 1201, f"evt-replica-{uuid.uuid4().hex}")
    with serve(create_app(settings)) as first, serve(create_app(settings)) as second:
        clients = [httpx.Client(base_url=url, timeout=60) for url in (first, second)]
        try:
            with ThreadPoolExecutor(2) as pool:
                responses = list(pool.map(lambda c: deliver(c, event), clients))
        finally:
            for c in clients:
                c.close()
    assert sorted(r.json()["status"] for r in responses) == ["duplicate", "posted"]
    assert len(stub.ticket_updates()) == 1


# --- idempotency store on real Redis ------------------------------------------------------------
@pytest.mark.redis
def test_redis_idempotency_is_shared_between_processes(redis_url: str) -> None:  # noqa: F811
    async def run() -> None:
        clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(2)]
        first, second = (
            RedisIdempotencyStore(c, guard=RedisGuard("t"), prefix="t:idem:") for c in clients
        )
        try:
            await clients[0].delete("t:idem:e1", "t:idem:e2")
            assert await first.claim("e1") is True
            assert await second.claim("e1") is False
            await first.complete("e1", ttl_s=60)
            assert 0 < await clients[0].ttl("t:idem:e1") <= 60
            assert await second.claim("e2") is True
            await second.release("e2")
            assert await first.claim("e2") is True
        finally:
            for c in clients:
                await c.aclose()

    asyncio.run(run())


def test_idempotency_falls_back_in_process_when_redis_is_down() -> None:
    async def run() -> None:
        dead = make_redis_client("redis://127.0.0.1:1/0", timeout_s=0.2)
        store = RedisIdempotencyStore(
            dead, guard=RedisGuard("t"), fallback=InMemoryIdempotencyStore()
        )
        try:
            assert await store.claim("e") is True
            assert await store.claim("e") is False
        finally:
            await dead.aclose()

    asyncio.run(run())
