"""Zendesk trigger/automation webhooks, end to end: the documented body rendered and signed the
way Zendesk does, answered on the helpdesk stub through the real Tickets API client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from bot.helpdesk.zendesk_triggers import (
    TRIGGER_BODY,
    TriggerBody,
    ignore_reason,
    trigger_question,
)
from tests.support.helpdesk_stub_server import (
    HelpdeskStubServer,
    assert_one_internal_note_with_sources,
    ticket_created,
    trigger_body,
    zendesk_headers,
)
from tests.support.live_server import serve
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

EVENT_SECRET = "event-webhook-secret"
TRIGGER_SECRET = "trigger-webhook-secret"
TOKEN = "zd-api-token-456"
TRIGGER_ACCOUNT, FALLBACK_ACCOUNT = 2001, 2002
PASSWORD = "I forgot my password and need to reset it. How do I get a reset link?"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def stub() -> Iterator[HelpdeskStubServer]:
    with HelpdeskStubServer(zendesk_email="bot@acme.example", zendesk_token=TOKEN) as s:
        yield s


@pytest.fixture(scope="module")
def base_url(
    sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory, stub: HelpdeskStubServer
) -> Iterator[str]:
    common = {
        "kb": SAMPLE_KB,
        "base_url": stub.url,
        "email": "bot@acme.example",
        "api_token": TOKEN,
        "webhook_secret": EVENT_SECRET,
    }
    settings = sample_settings(
        copy_sample(sample_kb_dir, tmp_path_factory.mktemp("trigger-data")),
        answerable_threshold=0.5,
        zendesk_accounts=[
            {**common, "account_id": TRIGGER_ACCOUNT, "trigger_webhook_secret": TRIGGER_SECRET},
            # no trigger secret: the trigger webhook is signed with webhook_secret
            {
                **common,
                "account_id": FALLBACK_ACCOUNT,
                "public_replies": True,
                "public_reply_min_score": 0.5,
            },
        ],
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(base_url: str, stub: HelpdeskStubServer) -> Iterator[httpx.Client]:
    stub.clear()
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def send(
    client: httpx.Client,
    payload: dict[str, object] | bytes,
    *,
    account: int | None = TRIGGER_ACCOUNT,
    secret: str = TRIGGER_SECRET,
    timestamp: str | None = None,
    path: str = "/v1/webhooks/zendesk/trigger",
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = zendesk_headers(secret, body, timestamp, account_id=account)
    return client.post(path, content=body, headers=headers)


def render(template: str, values: dict[str, str]) -> dict[str, object]:
    """Zendesk's side: replace each placeholder in the pasted body, JSON-escaped."""

    def value(match: re.Match[str]) -> str:
        return json.dumps(values[match.group(1)])[1:-1]

    return json.loads(re.sub(r"\{\{([\w.]+)\}\}", value, template))


def error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    return str(response.json()["error"]["message"])


# --- answering --------------------------------------------------------------------------------
def test_the_documented_body_gets_an_internal_note_with_sources(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
    payload = render(
        TRIGGER_BODY,
        {
            "ticket.id": "3001",
            "ticket.title": "Can't log in",
            "ticket.latest_public_comment": PASSWORD,
            "current_user.role": "End-user",
            "ticket.created_at_with_timestamp": now,
            "ticket.updated_at_with_timestamp": now,
        },
    )
    response = send(client, payload)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "posted",
        "detail": None,
        "ticket_id": 3001,
        "public": False,
    }
    assert_one_internal_note_with_sources(stub, 3001, TOKEN)


def test_a_follow_up_comment_signed_with_webhook_secret_gets_a_public_reply(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    """No trigger_webhook_secret: webhook_secret verifies; public_replies works as for events."""
    response = send(
        client, trigger_body(3002, PASSWORD), account=FALLBACK_ACCOUNT, secret=EVENT_SECRET
    )
    assert response.json() == {
        "status": "posted",
        "detail": None,
        "ticket_id": 3002,
        "public": True,
    }
    [update] = stub.ticket_updates()
    assert update.json["ticket"]["comment"]["public"] is True
    assert "reset-password" in update.json["ticket"]["comment"]["body"]


def test_only_end_user_updates_are_answered_so_the_bot_never_answers_itself(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    question = "How do I turn on two-factor authentication?"
    customer = trigger_body(3101, question, updated_at="2024-05-01T10:00Z")
    assert send(client, customer).json()["status"] == "posted"
    # The bot's note updates the ticket: a trigger without conditions fires again, with the
    # bot (an agent) as current user and the customer's comment still the latest public one.
    refire = trigger_body(3101, question, role="Agent", updated_at="2024-05-01T10:01Z")
    ignored = send(client, refire).json()
    assert ignored["status"] == "ignored" and "'Agent', not an end-user" in ignored["detail"]
    for role in ("Admin", "Light agent", ""):
        assert send(client, trigger_body(3102, question, role=role)).json()["status"] == "ignored"
    empty = send(client, trigger_body(3103, "  ")).json()
    assert empty["status"] == "ignored" and "comment is empty" in empty["detail"]
    [update] = stub.ticket_updates()
    assert update.path == "/api/v2/tickets/3101.json"
    assert "two-factor" in update.json["ticket"]["comment"]["body"].lower()


def test_a_redelivered_trigger_posts_once(client: httpx.Client, stub: HelpdeskStubServer) -> None:
    body = trigger_body(3201, PASSWORD, updated_at="2024-05-02T09:30Z")
    assert send(client, body).json()["status"] == "posted"
    assert send(client, body).json()["status"] == "duplicate"
    fresh = trigger_body(3202, PASSWORD, updated_at="2024-05-02T09:31Z")
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(
            r.json()["status"] for r in pool.map(lambda _: send(client, fresh), range(4))
        )
    assert statuses == ["duplicate", "duplicate", "duplicate", "posted"]
    # a new comment on the ticket, or the same words at a later update, is a new delivery
    follow_up = trigger_body(3201, "Where do I download invoices?", updated_at="2024-05-02T09:40Z")
    assert send(client, follow_up).json()["status"] == "posted"
    again = trigger_body(3201, PASSWORD, updated_at="2024-05-02T09:50Z")
    assert send(client, again).json()["status"] == "posted"
    assert [u.path for u in stub.ticket_updates()] == [
        "/api/v2/tickets/3201.json",
        "/api/v2/tickets/3202.json",
        "/api/v2/tickets/3201.json",
        "/api/v2/tickets/3201.json",
    ]


# --- refusing ---------------------------------------------------------------------------------
def test_signatures_timestamps_and_accounts_are_checked(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    body = trigger_body(3301, PASSWORD)

    def code(response: httpx.Response) -> str:
        assert response.status_code == 401, response.text
        return str(response.json()["error"]["code"])

    assert code(send(client, body, secret="wrong-secret")) == "invalid_signature"
    # this account has a trigger secret: the event webhook's secret does not sign triggers
    assert code(send(client, body, secret=EVENT_SECRET)) == "invalid_signature"
    raw = json.dumps(body).encode()
    headers = zendesk_headers(TRIGGER_SECRET, raw, account_id=TRIGGER_ACCOUNT)
    tampered = client.post(
        "/v1/webhooks/zendesk/trigger",
        content=raw.replace(b"password", b"passw0rd"),
        headers=headers,
    )
    assert code(tampered) == "invalid_signature"
    old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert code(send(client, body, timestamp=old)) == "stale_signature"
    assert code(send(client, body, account=None)) == "unknown_integration"
    assert code(send(client, body, account=4242)) == "unknown_integration"
    unsigned = client.post(
        "/v1/webhooks/zendesk/trigger",
        content=raw,
        headers={"Content-Type": "application/json", "X-Zendesk-Account-Id": str(TRIGGER_ACCOUNT)},
    )
    assert code(unsigned) == "missing_signature"
    assert stub.ticket_updates() == []


def test_a_malformed_body_names_the_field_and_the_documented_body(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    good = trigger_body(3401, PASSWORD)
    missing = error(send(client, {k: v for k, v in good.items() if k != "comment"}))
    assert "comment: Field required" in missing
    assert "With a trigger" in missing and "{{ticket.latest_public_comment}}" in missing
    assert "ticket_id:" in error(send(client, {**good, "ticket_id": "ticket 3401"}))
    assert "current_user_role: Field required" in error(
        send(client, {k: v for k, v in good.items() if k != "current_user_role"})
    )
    assert "not valid JSON" in error(send(client, b'{"ticket_id": "3401", "comment": "a "quote""}'))
    assert "must be a JSON object" in error(send(client, b'["3401"]'))
    # each shape at the other's endpoint says where it belongs
    event = ticket_created(TRIGGER_ACCOUNT, 3402, "Can't log in", PASSWORD, "evt-trigger-1")
    assert "POST /v1/webhooks/zendesk" in error(send(client, event))
    misrouted = send(client, good, secret=EVENT_SECRET, path="/v1/webhooks/zendesk")
    assert "/v1/webhooks/zendesk/trigger" in error(misrouted)
    assert stub.ticket_updates() == []


def test_an_unrendered_placeholder_is_refused(
    client: httpx.Client, stub: HelpdeskStubServer
) -> None:
    good = trigger_body(3501, PASSWORD)
    literal = error(send(client, {**good, "ticket_id": "{{ticket.id}}"}))
    assert literal.startswith("the trigger body uses an unknown placeholder: ticket_id")
    misspelt = error(send(client, {**good, "comment": "{{ticket.latest_public_coment}}"}))
    assert "unknown placeholder: comment" in misspelt and "latest_public_coment" in misspelt
    # a customer may write braces inside a comment: that is text, not a placeholder
    braces = {**good, "comment": "How do I use {{user.name}} in my note templates?"}
    assert send(client, braces).status_code == 200
    assert len(stub.ticket_updates()) == 1


# --- the contract, without a server -----------------------------------------------------------
def body(**values: str) -> TriggerBody:
    return TriggerBody.model_validate({"ticket_id": "7", "current_user_role": "End-user", **values})


def test_on_creation_the_subject_is_part_of_the_question() -> None:
    created = body(
        subject="Billing", comment="Where are invoices?", created_at="t1", updated_at="t1"
    )
    assert trigger_question(created).question == "Billing\n\nWhere are invoices?"
    later = body(subject="Billing", comment="Still nothing", created_at="t1", updated_at="t2")
    assert trigger_question(later).question == "Still nothing"
    repeated = body(
        subject="Billing", comment="Billing page is blank", created_at="t", updated_at="t"
    )
    assert trigger_question(repeated).question == "Billing page is blank"
    assert trigger_question(body(subject="Billing", comment="Hi")).question == "Hi"


def test_the_delivery_id_follows_ticket_update_and_question() -> None:
    first = trigger_question(body(comment="Where are invoices?", updated_at="t1"))
    assert first.ticket_id == 7 and first.delivery_id.startswith("trigger:7:")
    assert trigger_question(body(comment="Where are invoices?", updated_at="t1")) == first
    others = {
        trigger_question(body(comment="Where are invoices?", updated_at="t2")).delivery_id,
        trigger_question(body(comment="Where is my invoice?", updated_at="t1")).delivery_id,
        trigger_question(
            body(ticket_id="8", comment="Where are invoices?", updated_at="t1")
        ).delivery_id,
    }
    assert first.delivery_id not in others and len(others) == 3


@pytest.mark.parametrize(
    ("role", "answered"),
    [("End-user", True), (" end-user ", True), ("End user", True), ("Agent", False),
     ("Admin", False), ("Administrator", False), ("", False)],
)  # fmt: skip
def test_only_end_users_are_answered(role: str, answered: bool) -> None:
    assert (ignore_reason(body(comment="hello", current_user_role=role)) is None) is answered


def test_the_readme_documents_the_body_the_code_expects() -> None:
    section = README.read_text().split("With a trigger", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README 'With a trigger' needs a ```json block with the body"
    assert json.loads(block.group(1)) == json.loads(TRIGGER_BODY)
