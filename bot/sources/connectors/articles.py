"""Helpers shared by the helpdesk article connectors (Zendesk, Intercom, Freshdesk)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from bot.errors import InvalidRequest
from bot.sources.protocol import (
    ConnectorEnv,
    ConnectorState,
    ListingItem,
    SourceDocument,
    Unchanged,
)


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp as the helpdesks send them (`2024-05-01T10:00:00Z`)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def ancestor_names(
    start: Any, nodes: Mapping[Any, Mapping[str, Any]], parent_field: str
) -> list[str]:
    """Names from the root down to `start`, following `parent_field` (cycles cut short)."""
    names: list[str] = []
    seen: set[Any] = set()
    current = nodes.get(start) if start is not None else None
    while current is not None and current["id"] not in seen:
        seen.add(current["id"])
        names.append(current.get("name") or "")
        parent = current.get(parent_field)
        current = nodes.get(parent) if parent is not None else None
    return [name for name in reversed(names) if name]


def html_article(
    state: ConnectorState,
    *,
    key: str,
    title: str | None,
    body: str | None,
    url: str,
    heading_path: tuple[str, ...],
    updated_at: datetime | None,
    locale: str | None,
) -> ListingItem:
    """The listing item for one published HTML article: `Unchanged` when the index already
    has this very version, else its current content."""
    if unchanged_since_last_sync(state, key, updated_at):
        return Unchanged(key)
    return SourceDocument(
        key=key,
        title=title or "",
        body=body or "",
        body_format="html",
        url=url,
        heading_path=heading_path,
        updated_at=updated_at,
        locale=locale,
    )


def required_secret(env: ConnectorEnv, name: str, how_to_get_it: str) -> SecretStr:
    """A credential the connector cannot work without; `InvalidRequest` says where to get it."""
    value = env.secrets.get(name)
    if not value:
        raise InvalidRequest(f"this source needs the {name} secret ({how_to_get_it})")
    return SecretStr(value)


def unchanged_since_last_sync(state: ConnectorState, key: str, updated_at: datetime | None) -> bool:
    """Whether `key` is indexed with this very `updated_at`; remembers it for the next sync.

    Article APIs return the body in the listing anyway, so this saves parsing and
    embedding, not requests; a full sync (`state.full`) re-reads everything."""
    stamp = updated_at.isoformat() if updated_at is not None else None
    seen = state.documents.get(key, {}).get("updated_at")
    state.documents[key] = {"updated_at": stamp}
    return stamp is not None and not state.full and key in state.indexed and seen == stamp
