"""The OpenAPI document as this server is configured, and the body sizes it allows.

The pydantic models are static; two promises depend on settings:
- a string marked `x-max-length-setting: <setting>` (bot.api.schemas.QuestionText) gets
  `maxLength` = the smaller of the model's and the setting's, so a question the pipeline
  would refuse as too long (`max_query_chars`) is outside the published schema too;
- `largest_body_bytes`: the longest JSON body a request schema allows. The body cap
  (`max_body_bytes`, bot.security.body_limit) must be at least that for every bounded
  body, or the API would answer 413 to a request its schema accepts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from bot.settings import Settings

log = logging.getLogger(__name__)
SETTING_KEY = "x-max-length-setting"
BYTES_PER_CHAR = 12
"""Worst case of one code point in JSON: an astral character sent as `\\ud83d\\ude00`."""
SCALAR_BYTES = 32
"""A number, boolean or null with its separators."""


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve the schema with this server's configured limits (built once, on first use)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = apply_setting_limits(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def apply_setting_limits(node: Any, settings: Settings) -> Any:
    """Set `maxLength` from the settings wherever a schema names one (in place)."""
    if isinstance(node, dict):
        setting = node.get(SETTING_KEY)
        if isinstance(setting, str):
            configured = int(getattr(settings, setting))
            node["maxLength"] = min(node.get("maxLength", configured), configured)
        for value in node.values():
            apply_setting_limits(value, settings)
    elif isinstance(node, list):
        for item in node:
            apply_setting_limits(item, settings)
    return node


def warn_if_body_cap_refuses_valid_requests(app: FastAPI, max_body_bytes: int) -> None:
    too_big = {
        operation: size
        for operation, size in largest_bodies(app.openapi()).items()
        if math.isfinite(size) and size > max_body_bytes
    }
    if too_big:
        log.warning(
            "SUPPORTBOT_MAX_BODY_BYTES=%d is below the largest body the schema allows for %s "
            "(%d bytes); such valid requests will get 413",
            max_body_bytes,
            ", ".join(sorted(too_big)),
            max(too_big.values()),
        )


def largest_bodies(document: dict[str, Any]) -> dict[str, float]:
    """`"POST /v1/chat"` → the longest JSON body its schema allows (inf when unbounded)."""
    components = document.get("components", {}).get("schemas", {})
    sizes: dict[str, float] = {}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = content["application/json"].get("schema", {})
                sizes[f"{method.upper()} {path}"] = largest_body_bytes(schema, components)
    return sizes


def largest_body_bytes(schema: dict[str, Any], components: dict[str, Any]) -> float:
    """Upper bound on the JSON encoding of any value `schema` accepts."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return largest_body_bytes(components[ref.rsplit("/", 1)[-1]], components)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return max(largest_body_bytes(choice, components) for choice in choices)
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return max(len(repr(value)) * BYTES_PER_CHAR for value in values) + 2
    kind = schema.get("type")
    if kind == "string":
        return schema.get("maxLength", math.inf) * BYTES_PER_CHAR + 2
    if kind == "array":
        item = largest_body_bytes(schema.get("items", {}), components)
        return schema.get("maxItems", math.inf) * (item + 1) + 2
    if kind == "object":
        if schema.get("additionalProperties", True) is not False:
            return math.inf
        return 2 + sum(
            (len(name) + 4) * BYTES_PER_CHAR + largest_body_bytes(value, components)
            for name, value in schema.get("properties", {}).items()
        )
    if kind in ("integer", "number", "boolean", "null"):
        return SCALAR_BYTES
    return math.inf
