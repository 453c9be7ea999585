"""Helpdesk integrations: Zendesk, the generic webhook contract, and handoff to a person.

idempotency.py  "have we handled this delivery?" (Redis SET NX, in-process fallback)
zendesk.py      Zendesk Tickets API client (internal notes, public replies)
zendesk_events.py  Zendesk webhook events → the customer's question
zendesk_triggers.py  Zendesk trigger/automation bodies (the documented one) → the question
zendesk_flow.py    answer a ticket's question and post the result back
generic.py      the generic webhook contract: answer now, or by signed callback
handoff.py      "talk to a person": intent, and the signed transcript webhook
turns.py        one conversational turn with handoff rules, shared by the edges
render.py       answers as plain text with numbered sources, for tickets and callbacks
"""
