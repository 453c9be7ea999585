"""Zendesk trigger/automation webhooks → the customer's question.

A webhook connected to a trigger ("Notify active webhook") sends whatever JSON body the
admin wrote, with Zendesk placeholders rendered as strings. This is the body to paste
(`TRIGGER_BODY`; README "With a trigger"):

    {"ticket_id": "{{ticket.id}}",
     "subject": "{{ticket.title}}",
     "comment": "{{ticket.latest_public_comment}}",
     "current_user_role": "{{current_user.role}}",
     "created_at": "{{ticket.created_at_with_timestamp}}",
     "updated_at": "{{ticket.updated_at_with_timestamp}}"}

ticket_id, comment and current_user_role are required. Like the event flow, only the
customer is answered: an update by anyone but an end-user (agents, admins, the bot posting
its own note) is ignored, so the bot never answers itself. When created_at equals
updated_at the update is the ticket's creation and the subject is part of the question.

Triggers carry no event id, so the delivery id is derived from the ticket, updated_at and
the question: Zendesk's retry of the same delivery (same rendered body) posts nothing
twice, while a new comment on the ticket is a new delivery.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import InvalidRequest
from bot.helpdesk.zendesk_flow import TicketQuestion

ACCOUNT_HEADER = "X-Zendesk-Account-Id"
"""Sent by Zendesk on every webhook request; picks the account (and its signing secret)."""
TRIGGER_BODY = (
    '{"ticket_id": "{{ticket.id}}", "subject": "{{ticket.title}}", '
    '"comment": "{{ticket.latest_public_comment}}", '
    '"current_user_role": "{{current_user.role}}", '
    '"created_at": "{{ticket.created_at_with_timestamp}}", '
    '"updated_at": "{{ticket.updated_at_with_timestamp}}"}'
)
HOW_TO_FIX = f"paste the trigger body from README.md ('With a trigger'): {TRIGGER_BODY}"
END_USER_ROLES = frozenset({"end-user", "end user", "enduser", "end_user"})
_UNRENDERED = re.compile(r"^\s*\{\{[^{}]*\}\}\s*$")


class TriggerBody(BaseModel):
    """The trigger body as Zendesk sends it: every placeholder rendered as a string."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    ticket_id: int = Field(gt=0, description="{{ticket.id}}")
    comment: str = Field(max_length=65_536, description="{{ticket.latest_public_comment}}")
    current_user_role: str = Field(max_length=100, description="{{current_user.role}}")
    subject: str = Field("", max_length=1000, description="{{ticket.title}}")
    created_at: str = Field("", max_length=40, description="{{ticket.created_at_with_timestamp}}")
    updated_at: str = Field("", max_length=40, description="{{ticket.updated_at_with_timestamp}}")


def parse_trigger(body: bytes) -> TriggerBody:
    """The validated body, or InvalidRequest naming the field to fix and the body to paste."""
    try:
        data: Any = json.loads(body)
    except ValueError as exc:
        raise InvalidRequest(f"the trigger body is not valid JSON ({exc}); {HOW_TO_FIX}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"the trigger body must be a JSON object; {HOW_TO_FIX}")
    if str(data.get("type", "")).startswith("zen:event-type:"):
        raise InvalidRequest(
            "this is a Zendesk event-subscription payload, not a trigger body; "
            "point event-subscribed webhooks at POST /v1/webhooks/zendesk"
        )
    for field in TriggerBody.model_fields:
        value = data.get(field)
        if isinstance(value, str) and _UNRENDERED.match(value):
            raise InvalidRequest(
                f"the trigger body uses an unknown placeholder: {field} arrived unrendered as "
                f"{value!r} (a misspelt placeholder, or a test send without a ticket); "
                f"{HOW_TO_FIX}"
            )
    try:
        return TriggerBody.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidRequest(f"invalid trigger body: {problems}; {HOW_TO_FIX}") from exc


def ignore_reason(body: TriggerBody) -> str | None:
    """Why this delivery needs no answer (said in the 200 response), or None to answer it."""
    if body.current_user_role.lower() not in END_USER_ROLES:
        role = body.current_user_role or "nobody"
        return f"the ticket was updated by {role!r}, not an end-user; only customers are answered"
    if not body.comment:
        return "the comment is empty; if every delivery says this, check the comment placeholder"
    return None


def trigger_question(body: TriggerBody) -> TicketQuestion:
    """The question (subject and first comment on creation, else the comment) and its id."""
    question = body.comment
    created = bool(body.created_at) and body.created_at == body.updated_at
    if created and body.subject and not body.comment.startswith(body.subject):
        question = f"{body.subject}\n\n{body.comment}"
    digest = hashlib.sha256(f"{body.ticket_id}\n{body.updated_at}\n{question}".encode())
    delivery_id = f"trigger:{body.ticket_id}:{digest.hexdigest()[:32]}"
    return TicketQuestion(body.ticket_id, question, delivery_id)
