"""The error statuses each route documents in OpenAPI, described once.

Every status the API can answer with is declared on the routes that can produce it, so
that clients (and the contract test, tests/api/test_openapi_contract.py) can rely on the
schema: who produces which status is noted beside each description. Bodies are always
`ErrorResponse` (see bot.api.errors).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.api.schemas import ErrorResponse

Responses = dict[int | str, dict[str, Any]]

DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be used: a body that is not JSON or not UTF-8, or content "
    "the server cannot act on (the message says what to change).",
    401: "No API key where one is required, or a key, signature or timestamp that does not verify.",
    403: "A valid key that may not do this: a widget key from another origin, for another "
    "knowledge base or endpoint, or a widget key on the admin API.",
    404: "The knowledge base, job or resource does not exist.",
    409: "The request clashes with the current state (the knowledge base exists, holds "
    "uploads, or its index was built with another embedding model).",
    413: "The request body is over the configured size limit (SUPPORTBOT_MAX_BODY_BYTES, "
    "SUPPORTBOT_UPLOAD_MAX_BYTES).",
    415: "A file type the upload does not accept.",
    422: "The request does not match this schema; the message lists each problem.",
    429: "Too many requests from this key or address; retry after `Retry-After` seconds.",
    503: "A backend (search index, cache, queue, helpdesk) is down, or this process is at "
    "capacity (code `overloaded`, bot.api.admission); retry after `Retry-After` seconds.",
}


def errors(*statuses: int) -> Responses:
    """`responses=` for a route or router: each status with its description and body."""
    return {
        status: {"model": ErrorResponse, "description": DESCRIPTIONS[status]} for status in statuses
    }


BODY = errors(400, 413, 422)
"""Any route that reads a body: unparsable (400), over the size cap (413), invalid (422)."""
KEYED = errors(401, 403, 429)
"""The /v1 routes behind bot.security.access: keys, widget scope and rate limits."""
ADMIN = errors(401, 403)
"""The /admin routes (bot.api.admin_auth)."""


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads its JSON body itself (a signed webhook
    verifies the raw bytes before parsing): the body it then validates against `model`."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": _inline(schema, definitions)}},
        }
    }


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """The schema with its local `#/$defs/...` references replaced by their targets."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node
