"""ZendeskResponder: answer a ticket's question from the account's KB and post it on the ticket.

Both Zendesk webhook shapes end here as a `TicketQuestion`: event subscriptions
(bot.helpdesk.zendesk_events) and trigger/automation bodies (bot.helpdesk.zendesk_triggers).
Each delivery is handled once: its id is claimed in the idempotency store before anything
is posted, kept after success, and released after a failure (so Zendesk's retry can try
again). The answer goes out as an internal note unless the account allows public replies
and the answer is confident: not declined, citing passages, and with a best rerank score
of at least `public_reply_min_score`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import httpx

from bot.answer import Answer
from bot.helpdesk.idempotency import IdempotencyStore
from bot.helpdesk.render import answer_with_sources, best_rerank_score
from bot.helpdesk.turns import ConversationTurns, TurnOutcome
from bot.helpdesk.zendesk import ZendeskClient
from bot.observability.protocol import NO_OBSERVER, Observer
from bot.security.integrations import ZendeskAccount

log = logging.getLogger(__name__)

NOTE_HEADER = "Suggested answer from supportbot (internal note, not sent to the customer)"
REASON_TEXT = {
    "user_request": "The customer asked for a person, so supportbot did not answer.",
    "no_answer": "supportbot found no good answer in the help center; over to you.",
}


@dataclass(frozen=True, slots=True)
class TicketQuestion:
    """What the customer asked on a ticket, and the delivery's id (the idempotency key)."""

    ticket_id: int
    question: str
    delivery_id: str


@dataclass(frozen=True, slots=True)
class ZendeskOutcome:
    status: Literal["posted", "duplicate"]
    ticket_id: int | None = None
    public: bool = False
    mode: str | None = None
    score: float | None = None


class ZendeskResponder:
    def __init__(
        self,
        turns: ConversationTurns,
        idempotency: IdempotencyStore,
        http: httpx.AsyncClient,
        *,
        retention_s: int,
        max_question_chars: int,
        observer: Observer = NO_OBSERVER,
    ) -> None:
        self._observer = observer
        self._turns = turns
        self._idempotency = idempotency
        self._http = http
        self._retention_s = retention_s
        self._max_chars = max_question_chars

    async def answer(self, account: ZendeskAccount, asked: TicketQuestion) -> ZendeskOutcome:
        key = f"zendesk:{account.account_id}:{asked.delivery_id}"
        if not await self._idempotency.claim(key):
            log.info("zendesk delivery %s already handled; not posting again", asked.delivery_id)
            return ZendeskOutcome("duplicate", asked.ticket_id)
        try:
            outcome = await self._turns.take(
                account.kb,
                asked.question[: self._max_chars],
                conversation_id=f"zendesk:{account.account_id}:{asked.ticket_id}",
                source="zendesk",
                notify=False,
            )
            public = _is_confident(account, outcome.answer)
            body = _comment_body(outcome, public)
            await ZendeskClient(self._http, account).add_comment(
                asked.ticket_id, body, public=public
            )
        except BaseException as exc:
            if isinstance(exc, Exception):
                self._observer.webhook_error("zendesk")
            await self._idempotency.release(key)
            raise
        await self._idempotency.complete(key, self._retention_s)
        return ZendeskOutcome(
            "posted",
            asked.ticket_id,
            public,
            outcome.answer.mode,
            best_rerank_score(outcome.answer),
        )


def _is_confident(account: ZendeskAccount, answer: Answer) -> bool:
    if not account.public_replies or answer.mode == "declined" or not answer.cited:
        return False
    score = best_rerank_score(answer)
    return score is not None and score >= account.public_reply_min_score


def _comment_body(outcome: TurnOutcome, public: bool) -> str:
    answer = outcome.answer
    if outcome.handoff_reason is not None:
        return f"{REASON_TEXT[outcome.handoff_reason]}\n\nCustomer's message: {answer.search.query}"
    text = answer_with_sources(answer)
    if public:
        return text
    score = best_rerank_score(answer)
    confidence = f"best passage score {score:.2f}" if score is not None else "not reranked"
    return f"{NOTE_HEADER}; {confidence}, mode {answer.mode}:\n\n{text}"
