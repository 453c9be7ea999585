"""Zendesk webhook events → the customer's question.

Zendesk's event webhooks (ticket events) share one envelope:

    {"type": "zen:event-type:ticket.created", "account_id": 12514403,
     "id": "<event id, stable across retries>", "time": "...",
     "subject": "zen:ticket:35436",
     "detail": {"id": "35436", "subject": "...", "description": "...", ...},
     "event": {...}}

We answer two of them: a new ticket (its subject and description) and a public comment
added by the requester (`ticket.comment_added` with `event.comment.author.is_staff` false).
Agent comments, internal notes (ours included) and every other event type are ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.helpdesk.zendesk_flow import TicketQuestion

TICKET_CREATED = "zen:event-type:ticket.created"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"


class ZendeskEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    account_id: int
    id: str = Field(min_length=1, max_length=200)
    time: str | None = None
    subject: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    event: dict[str, Any] = Field(default_factory=dict)


def ticket_question(event: ZendeskEvent) -> TicketQuestion | None:
    """What the customer asked, or None when the event needs no answer."""
    ticket_id = _ticket_id(event)
    if ticket_id is None:
        return None
    if event.type == TICKET_CREATED:
        subject = str(event.detail.get("subject") or "").strip()
        description = str(event.detail.get("description") or "").strip()
        if description.startswith(subject):
            subject = ""
        question = "\n\n".join(part for part in (subject, description) if part)
        return TicketQuestion(ticket_id, question, event.id) if question else None
    if event.type == COMMENT_ADDED:
        comment = event.event.get("comment") or {}
        author = comment.get("author") or {}
        if not comment.get("is_public", False) or author.get("is_staff", True):
            return None
        body = str(comment.get("body") or "").strip()
        return TicketQuestion(ticket_id, body, event.id) if body else None
    return None


def _ticket_id(event: ZendeskEvent) -> int | None:
    raw = event.detail.get("id")
    if raw is None and event.subject and event.subject.startswith("zen:ticket:"):
        raw = event.subject.removeprefix("zen:ticket:")
    try:
        return int(str(raw))
    except ValueError:
        return None
