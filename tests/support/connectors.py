"""Driving a connector directly: its environment, one listing, the state a sync would keep."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.retry import RetryPolicy
from bot.sources.protocol import (
    Connector,
    ConnectorEnv,
    ConnectorState,
    Failed,
    ListingItem,
    SourceDocument,
    Unchanged,
)

USER_AGENT = "supportbot-tests/1.0 (+https://example.invalid/bot)"
FAST_RETRIES = RetryPolicy(attempts=4, initial_wait_s=0.01, max_wait_s=2.0)
"""Real backoff and Retry-After handling, with waits short enough for tests."""


def connector_env(secrets: Mapping[str, str] | None = None) -> ConnectorEnv:
    return ConnectorEnv(
        secrets=dict(secrets or {}),
        work_dir=Path("/nonexistent"),
        user_agent=USER_AGENT,
        timeout_s=5.0,
    )


async def listing(connector: Connector, state: ConnectorState | None = None) -> list[ListingItem]:
    return [item async for item in connector.list_documents(state or ConnectorState())]


def documents(items: list[ListingItem]) -> dict[str, SourceDocument]:
    return {item.key: item for item in items if isinstance(item, SourceDocument)}


def unchanged(items: list[ListingItem]) -> list[str]:
    return sorted(item.key for item in items if isinstance(item, Unchanged))


def after_sync(state: ConnectorState, items: list[ListingItem]) -> ConnectorState:
    """The state the next sync starts from once this listing was indexed successfully."""
    return ConnectorState(
        cursor=state.cursor,
        documents=state.documents,
        indexed=frozenset(item.key for item in items if not isinstance(item, Failed)),
    )
