"""Handing a conversation to a person: spotting the request, and the signed transcript webhook.

When a customer asks for a person, or the bot has no good answer, the configured
`SUPPORTBOT_HANDOFF_WEBHOOK_URL` receives the transcript as JSON, signed with
`SUPPORTBOT_HANDOFF_WEBHOOK_SECRET` (bot.security.signing, our scheme):

    {"event": "handoff", "id": "...", "kb": "acme", "conversation_id": "...",
     "reason": "user_request" | "no_answer", "source": "widget" | "openai" | "zendesk" | ...,
     "transcript": [{"role": "user" | "assistant", "content": "..."}],
     "created_at": "2024-06-01T12:00:00+00:00"}

Delivery is tried twice; failure is logged and reported to the caller, never raised.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx

from bot.generation.protocol import Turn
from bot.observability.protocol import NO_OBSERVER, Observer
from bot.retry import RetryableStatus, RetryPolicy, raise_for_retryable_status
from bot.security.signing import signed_headers

log = logging.getLogger(__name__)

HandoffReason = Literal["user_request", "no_answer"]
MAX_TRANSCRIPT_TURNS = 50
HANDOFF_TEXT = (
    "I'm passing this conversation to a person from our support team. "
    "They will get back to you as soon as they can."
)
NO_CHANNEL_TEXT = (
    "I can't reach a person from here right now. Please contact the support team directly."
)

_PERSON = (
    r"(?:a |an |the |some |real |live )*"
    r"(?:human|person|agent|representative|rep|operator|someone|somebody|people"
    r"|support (?:agent|team|staff))"
)
_REQUESTS = (
    # "talk to a human", "connect me with support staff"
    r"\b(?:talk|speak|chat|connect(?: me)?|put me through|get me|transfer me)\s+(?:to|with)\s+"
    + _PERSON
    + r"\b",
    # "I need a human", "I'd like a live agent" (not "I need someone to fix SSO")
    r"\b(?:i want|i need|i'd like|can i have)\s+(?:a |an |to talk to |to speak to )?"
    r"(?:human|real person|live (?:agent|person)|support agent)\b",
    # the whole message is "agent" or "human please"
    r"^\s*(?:human|agent|operator|representative|person)\s*(?:please)?[.!?]*\s*$",
)
_ASKS_FOR_PERSON = re.compile("|".join(_REQUESTS), re.IGNORECASE)


def asks_for_person(message: str) -> bool:
    """True for "talk to a human", "I need a real person", "agent please"..."""
    return bool(_ASKS_FOR_PERSON.search(message))


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    kb: str
    reason: HandoffReason
    source: str
    transcript: Sequence[Turn]
    conversation_id: str | None = None


@dataclass(frozen=True, slots=True)
class HandoffResult:
    id: str
    configured: bool
    delivered: bool
    detail: str | None = None


class HandoffNotifier:
    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str | None,
        secret: str | None,
        *,
        attempts: int = 2,
        observer: Observer = NO_OBSERVER,
    ) -> None:
        self._observer = observer
        self._http = http
        self._url = url
        self._secret = secret
        self._retry = RetryPolicy(attempts=attempts, initial_wait_s=0.2, max_wait_s=2.0)
        """Short waits: a handoff is sent while the customer waits for the reply."""

    @property
    def configured(self) -> bool:
        return bool(self._url)

    async def notify(self, request: HandoffRequest) -> HandoffResult:
        handoff_id = uuid.uuid4().hex
        if not self._url:
            return HandoffResult(handoff_id, False, False, "no handoff webhook configured")
        body = json.dumps(_payload(handoff_id, request), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "supportbot-handoff"}
        if self._secret:
            headers.update(signed_headers(self._secret, body))
        url = self._url

        async def post() -> httpx.Response:
            response = await self._http.post(url, content=body, headers=headers)
            raise_for_retryable_status(response.status_code, response.headers)
            return response

        try:
            response: httpx.Response = await self._retry.async_retrying(
                (httpx.HTTPError, RetryableStatus), logger=log, what="handoff webhook"
            )(post)
        except (httpx.HTTPError, RetryableStatus) as exc:
            detail = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return HandoffResult(handoff_id, True, True)
            detail = f"HTTP {response.status_code}"
        log.warning("handoff webhook not delivered: %s", detail)
        self._observer.webhook_error("handoff")
        return HandoffResult(handoff_id, True, False, detail)


def _payload(handoff_id: str, request: HandoffRequest) -> dict[str, object]:
    turns = list(request.transcript)[-MAX_TRANSCRIPT_TURNS:]
    return {
        "event": "handoff",
        "id": handoff_id,
        "kb": request.kb,
        "conversation_id": request.conversation_id,
        "reason": request.reason,
        "source": request.source,
        "transcript": [{"role": t.role, "content": t.content} for t in turns],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
