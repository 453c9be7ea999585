"""Helpdesk webhooks: Zendesk ticket events and triggers, and the generic signed JSON contract.

All verify an HMAC signature over the raw body before parsing anything, and reject stale
timestamps. Contracts: bot.helpdesk.zendesk_events (event subscriptions),
bot.helpdesk.zendesk_triggers (the body admins paste into a trigger), bot.api.webhook_schemas.
"""

from __future__ import annotations

import json
import logging
from typing import TypeVar

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bot.api.deps import ServicesDep
from bot.api.edge_deps import EdgeDep, SettingsDep
from bot.api.responses import errors, json_body
from bot.api.webhook_schemas import Accepted, GenericRequest, GenericResult
from bot.errors import InvalidRequest, SupportbotError, Unauthorized
from bot.generation.protocol import Turn
from bot.helpdesk.generic import (
    INTEGRATION_HEADER,
    authenticate_generic,
    check_callback_url,
    deliver_callback,
)
from bot.helpdesk.zendesk_events import ZendeskEvent, ticket_question
from bot.helpdesk.zendesk_triggers import (
    ACCOUNT_HEADER,
    TriggerBody,
    ignore_reason,
    parse_trigger,
    trigger_question,
)
from bot.security.integrations import GenericWebhook, ZendeskAccount, zendesk_account
from bot.security.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ZENDESK_SIGNATURE,
    ZENDESK_TIMESTAMP,
    verify_zendesk,
)
from bot.services import Services
from bot.settings import Settings

log = logging.getLogger(__name__)
M = TypeVar("M", ZendeskEvent, GenericRequest)
router = APIRouter(prefix="/v1/webhooks", tags=["helpdesk webhooks"])
ERRORS = errors(400, 401, 404, 409, 413, 503)
"""Webhooks validate their own bodies after the signature: a bad body is a 400, not a 422."""


@router.post(
    "/zendesk",
    response_model=Accepted,
    responses=ERRORS,
    openapi_extra=json_body(ZendeskEvent, "A Zendesk event subscription's ticket event."),
    summary="Zendesk ticket events: answer the ticket as an internal note or public reply",
)
async def zendesk(request: Request, edge: EdgeDep, settings: SettingsDep) -> Accepted:
    body = await request.body()
    account_id = _peek_account_id(body)
    account = zendesk_account(settings.zendesk_accounts, account_id)
    if account is None:
        raise Unauthorized(
            f"Zendesk account {account_id} is not configured (SUPPORTBOT_ZENDESK_ACCOUNTS)",
            "unknown_integration",
        )
    verify_zendesk(
        account.webhook_secret.get_secret_value(),
        body,
        request.headers.get(ZENDESK_SIGNATURE),
        request.headers.get(ZENDESK_TIMESTAMP),
        max_skew_s=settings.webhook_max_skew_s,
    )
    asked = ticket_question(_parse(ZendeskEvent, body))
    if asked is None:
        return Accepted(status="ignored")
    outcome = await edge.zendesk.answer(account, asked)
    return Accepted(status=outcome.status, ticket_id=outcome.ticket_id, public=outcome.public)


@router.post(
    "/zendesk/trigger",
    response_model=Accepted,
    responses=ERRORS,
    openapi_extra=json_body(TriggerBody, "The body pasted into the trigger's webhook action."),
    summary="Zendesk trigger/automation webhook (the documented body): answer the ticket",
)
async def zendesk_trigger(request: Request, edge: EdgeDep, settings: SettingsDep) -> Accepted:
    body = await request.body()
    account = _trigger_account(settings, request.headers.get(ACCOUNT_HEADER))
    verify_zendesk(
        account.trigger_secret(),
        body,
        request.headers.get(ZENDESK_SIGNATURE),
        request.headers.get(ZENDESK_TIMESTAMP),
        max_skew_s=settings.webhook_max_skew_s,
    )
    payload = parse_trigger(body)
    reason = ignore_reason(payload)
    if reason is not None:
        return Accepted(status="ignored", detail=reason, ticket_id=payload.ticket_id)
    outcome = await edge.zendesk.answer(account, trigger_question(payload))
    return Accepted(status=outcome.status, ticket_id=outcome.ticket_id, public=outcome.public)


@router.post(
    "/generic",
    response_model=GenericResult,
    responses={**ERRORS, 202: {"model": Accepted}},
    openapi_extra=json_body(GenericRequest, "The generic contract (bot.api.webhook_schemas)."),
    summary="Generic signed webhook: answer now, or later by signed callback",
)
async def generic(
    request: Request, background: BackgroundTasks, services: ServicesDep, settings: SettingsDep
) -> GenericResult | JSONResponse:
    edge = services.edge
    body = await request.body()
    integration = authenticate_generic(
        settings.generic_webhooks,
        request.headers.get(INTEGRATION_HEADER),
        body,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
        max_skew_s=settings.webhook_max_skew_s,
    )
    payload = _parse(GenericRequest, body)
    if payload.callback_url:
        check_callback_url(integration, payload.callback_url)
    key = f"generic:{integration.name}:{payload.event_id}" if payload.event_id else None
    if key is not None and not await edge.idempotency.claim(key):
        return JSONResponse(Accepted(status="duplicate").model_dump(), status_code=200)
    if payload.callback_url:
        background.add_task(_answer_by_callback, services, integration, payload, key, settings)
        accepted = Accepted(status="accepted", detail="the answer will be POSTed to callback_url")
        return JSONResponse(accepted.model_dump(), status_code=202)
    try:
        result = await _answer(services, integration, payload)
    except BaseException:
        if key is not None:
            await edge.idempotency.release(key)
        raise
    if key is not None:
        await edge.idempotency.complete(key, settings.webhook_idempotency_ttl_s)
    return result


async def _answer(
    services: Services, integration: GenericWebhook, payload: GenericRequest
) -> GenericResult:
    """Without `history` in the request, the server-kept conversation is the history."""
    kb, conversation_id = integration.kb, payload.conversation_id
    history = [Turn(role=t.role, content=t.content) for t in payload.history]
    if not history:
        history = await services.conversations.load(kb, conversation_id) or []
    outcome = await services.edge.turns.take(
        kb,
        payload.question,
        history,
        conversation_id=conversation_id,
        source=f"generic:{integration.name}",
    )
    answer = outcome.answer
    await services.conversations.append(
        kb, conversation_id, [Turn("user", payload.question), Turn("assistant", answer.text)]
    )
    return GenericResult.from_outcome(outcome, conversation_id, payload.event_id)


async def _answer_by_callback(
    services: Services,
    integration: GenericWebhook,
    payload: GenericRequest,
    key: str | None,
    settings: Settings,
) -> None:
    assert payload.callback_url is not None
    try:
        result: dict[str, object] = (await _answer(services, integration, payload)).model_dump()
    except SupportbotError as exc:
        result = {
            "conversation_id": payload.conversation_id,
            "event_id": payload.event_id,
            "error": {"code": exc.code, "message": exc.message},
        }
    body = json.dumps(result, ensure_ascii=False).encode()
    edge = services.edge
    delivered = await deliver_callback(edge.http, integration, payload.callback_url, body)
    if not delivered:
        services.observer.webhook_error("callback")
    if key is not None:
        if delivered:
            await edge.idempotency.complete(key, settings.webhook_idempotency_ttl_s)
        else:
            await edge.idempotency.release(key)


def _peek_account_id(body: bytes) -> int:
    """The account id picks the signing secret; nothing else is trusted before verifying."""
    try:
        value = json.loads(body).get("account_id")
        return int(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidRequest(
            "the body is not a Zendesk event (no numeric account_id); webhooks connected to "
            "a trigger or automation go to POST /v1/webhooks/zendesk/trigger"
        ) from exc


def _trigger_account(settings: Settings, header: str | None) -> ZendeskAccount:
    """Trigger bodies are the admin's; the account comes from Zendesk's own header."""
    if not header or not header.strip().isdigit():
        raise Unauthorized(
            f"{ACCOUNT_HEADER} header is missing or not a number; Zendesk sends it with "
            "every webhook request",
            "unknown_integration",
        )
    account = zendesk_account(settings.zendesk_accounts, int(header))
    if account is None:
        raise Unauthorized(
            f"Zendesk account {header.strip()} is not configured (SUPPORTBOT_ZENDESK_ACCOUNTS)",
            "unknown_integration",
        )
    return account


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidRequest(f"invalid webhook body: {problems}") from exc
