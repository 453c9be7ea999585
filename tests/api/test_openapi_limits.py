"""The served schema states this server's limits, and the body cap never refuses a valid body."""

from __future__ import annotations

import math
from pathlib import Path

from bot.api.app import create_app
from bot.api.openapi import largest_bodies
from bot.settings import Settings


def _schema(tmp_path: Path, **overrides: object) -> dict:
    settings = Settings(_env_file=None, data_dir=tmp_path, **overrides)  # type: ignore[call-arg, arg-type]
    return create_app(settings).openapi()


def test_question_length_in_the_schema_is_the_configured_one(tmp_path: Path) -> None:
    document = _schema(tmp_path, max_query_chars=1234)
    components = document["components"]["schemas"]
    assert components["SearchRequest"]["properties"]["query"]["maxLength"] == 1234
    assert components["ChatRequest"]["properties"]["message"]["maxLength"] == 1234
    generic = document["paths"]["/v1/webhooks/generic"]["post"]["requestBody"]
    question = generic["content"]["application/json"]["schema"]["properties"]["question"]
    assert question["maxLength"] == 1234
    # a limit above the model's own cannot be promised: the model would refuse it first
    raised = _schema(tmp_path, max_query_chars=10_000)["components"]["schemas"]
    assert raised["SearchRequest"]["properties"]["query"]["maxLength"] == 4000


def test_default_body_cap_fits_every_bounded_body_the_schema_allows(tmp_path: Path) -> None:
    sizes = largest_bodies(_schema(tmp_path))
    bounded = {operation: size for operation, size in sizes.items() if math.isfinite(size)}
    assert {"POST /v1/chat", "POST /v1/search", "POST /v1/handoff"} <= set(bounded)
    cap = Settings(_env_file=None).max_body_bytes  # type: ignore[call-arg]
    assert max(bounded.values()) <= cap, bounded


def test_every_route_documents_its_error_statuses(tmp_path: Path) -> None:
    paths = _schema(tmp_path)["paths"]
    chat = paths["/v1/chat"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422", "429", "503"} <= set(chat)
    assert chat["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
    admin = paths["/admin/kbs"]["post"]["responses"]
    assert {"400", "401", "403", "409", "413", "422"} <= set(admin)
