"""A local HTTP server that plays the helpdesk side of supportbot's integrations.

- Zendesk's Tickets API: `PUT /api/v2/tickets/{id}.json` with HTTP Basic
  `{email}/token:{api_token}`, body `{"ticket": {"comment": {"body", "public"}}}`; answers
  like Zendesk (200 with the ticket and an audit, 401 for bad credentials, scripted 429/503).
- Any other `POST` path is a webhook receiver (handoff transcripts, generic callbacks):
  the request is recorded, and `signature_ok` checks supportbot's signature with the
  shared secret, computed here independently of the code under test.

It also signs requests the way Zendesk documents it (`zendesk_headers`), so tests can
deliver webhooks exactly as Zendesk would: base64(HMAC-SHA256(secret, timestamp + body)),
with event payloads (`ticket_created`, `comment_added`) or the documented trigger body
rendered (`trigger_body`).
It can serve a static HTML page too (`pages`), to host the widget on a second origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.threaded_http import ThreadedHttpServer

_TICKET_PATH = re.compile(r"^/api/v2/tickets/(\d+)\.json$")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def signature_ok(self, secret: str) -> bool:
        """supportbot's scheme: sha256=hex(HMAC(secret, "<timestamp>.<body>"))."""
        timestamp = self.header("X-Supportbot-Timestamp") or ""
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.raw, hashlib.sha256)
        given = self.header("X-Supportbot-Signature") or ""
        return hmac.compare_digest("sha256=" + expected.hexdigest(), given)

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.header("Authorization") or ""
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


class HelpdeskStubServer(ThreadedHttpServer):
    def __init__(self, *, zendesk_email: str = "bot@acme.example", zendesk_token: str = "") -> None:
        self.zendesk_email = zendesk_email
        self.zendesk_token = zendesk_token
        self.fail_next: list[tuple[int, dict[str, str]]] = []
        """Statuses (with headers) to answer the next requests with, once each."""
        self.pages: dict[str, str] = {}
        self._records: list[Recorded] = []
        self._lock = threading.Lock()

    # --- inspection ---------------------------------------------------------------------
    def records(self, path_prefix: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self._records if r.path.startswith(path_prefix)]

    def ticket_updates(self) -> list[Recorded]:
        return [r for r in self.records("/api/v2/tickets/") if r.method == "PUT"]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.fail_next.clear()

    def wait_for(self, path_prefix: str, count: int = 1, timeout_s: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.records(path_prefix)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise TimeoutError(
            f"expected {count} requests to {path_prefix}, got {self.records(path_prefix)}"
        )

    def _record(self, record: Recorded) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            self._records.append(record)
            return self.fail_next.pop(0) if self.fail_next else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def stub(self) -> HelpdeskStubServer:
        return self.server.stub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        page = self.stub.pages.get(self.path.split("?")[0])
        if page is None:
            self._send(404, {"error": "not found"})
            return
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Recorded(method, self.path, headers, raw)
        scripted = self.stub._record(record)
        if scripted is not None:
            status, extra = scripted
            self._send(status, {"error": "scripted failure"}, extra)
            return
        ticket = _TICKET_PATH.match(self.path)
        if ticket is None:
            self._send(200, {"received": True})
            return
        if method != "PUT":
            self._send(405, {"error": "MethodNotAllowed"})
            return
        if record.basic_auth() != (f"{self.stub.zendesk_email}/token", self.stub.zendesk_token):
            self._send(401, {"error": "Couldn't authenticate you"})
            return
        comment = json.loads(raw)["ticket"]["comment"]
        ticket_id = int(ticket.group(1))
        self._send(
            200,
            {
                "ticket": {"id": ticket_id, "status": "open"},
                "audit": {
                    "ticket_id": ticket_id,
                    "events": [
                        {"type": "Comment", "body": comment["body"], "public": comment["public"]}
                    ],
                },
            },
        )

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


# --- playing Zendesk's side of the webhook -------------------------------------------------
def zendesk_headers(
    secret: str, body: bytes, timestamp: str | None = None, *, account_id: int | None = None
) -> dict[str, str]:
    """What Zendesk sends: X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(ts + body)),
    and the account in X-Zendesk-Account-Id (omitted here when `account_id` is None)."""
    timestamp = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Zendesk Webhook",
        "X-Zendesk-Webhook-Id": "01GK8E6BKWMJZD2T8Y5AXJQMG5",
        "X-Zendesk-Webhook-Invocation-Id": "8350205582",
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }
    if account_id is not None:
        headers["X-Zendesk-Account-Id"] = str(account_id)
    return headers


def supportbot_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """What a generic-webhook client sends (the contract in bot.api.webhook_schemas)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Supportbot-Timestamp": ts,
        "X-Supportbot-Signature": f"sha256={digest}",
    }


def ticket_created(
    account_id: int, ticket_id: int, subject: str, description: str, event_id: str
) -> dict[str, Any]:
    """A `zen:event-type:ticket.created` event as Zendesk's webhook documentation shows it."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "zen:event-type:ticket.created",
        "account_id": account_id,
        "id": event_id,
        "time": now,
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {
            "id": str(ticket_id),
            "subject": subject,
            "description": description,
            "status": "NEW",
            "requester_id": "20978392",
            "via": {"channel": "web"},
            "created_at": now,
            "updated_at": now,
        },
        "event": {"meta": {"sequence": {"id": event_id, "position": 1}}},
    }


def comment_added(
    account_id: int, ticket_id: int, body: str, event_id: str, *, staff: bool, public: bool = True
) -> dict[str, Any]:
    """A `zen:event-type:ticket.comment_added` event."""
    event = ticket_created(account_id, ticket_id, "(subject)", "(description)", event_id)
    event["type"] = "zen:event-type:ticket.comment_added"
    event["event"] = {
        "comment": {
            "id": "3500001",
            "body": body,
            "is_public": public,
            "author": {"id": "4100001", "is_staff": staff, "name": "Sam"},
        }
    }
    return event


def trigger_body(
    ticket_id: int,
    comment: str,
    *,
    role: str = "End-user",
    subject: str = "(subject)",
    created: bool = False,
    updated_at: str | None = None,
) -> dict[str, str]:
    """The documented trigger body as Zendesk renders it: every placeholder a string.

    `created` makes it the ticket's creation (created_at equal to updated_at)."""
    updated = updated_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return {
        "ticket_id": str(ticket_id),
        "subject": subject,
        "comment": comment,
        "current_user_role": role,
        "created_at": updated if created else "2024-01-02T03:04Z",
        "updated_at": updated,
    }


def assert_one_internal_note_with_sources(
    stub: HelpdeskStubServer, ticket_id: int, token: str, source: str = "reset-password"
) -> None:
    """The one ticket update the bot made: an internal note citing `source`, as the bot."""
    [update] = stub.ticket_updates()
    assert update.path == f"/api/v2/tickets/{ticket_id}.json"
    assert update.basic_auth() == ("bot@acme.example/token", token)
    comment = update.json["ticket"]["comment"]
    assert comment["public"] is False
    assert comment["body"].startswith("Suggested answer from supportbot (internal note")
    assert "Sources:" in comment["body"] and source in comment["body"]


HelpdeskStubServer.handler = _Handler
