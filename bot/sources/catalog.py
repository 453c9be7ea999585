"""The source types `supportbot kb add-source --type ...` and `PUT /admin/kbs/{kb}/source` offer.

Each entry names the module attribute holding a `ConnectorType` (see
`bot.sources.protocol`); modules are imported only when their type is used, so adding a
source type costs nothing at start-up and one line here.
"""

from __future__ import annotations

import importlib

from bot.errors import InvalidRequest
from bot.sources.protocol import ConnectorType

_TYPES: dict[str, str] = {
    # kind: "module:attribute"
    "freshdesk": "bot.sources.connectors.freshdesk_solutions:CONNECTOR_TYPE",
    "intercom": "bot.sources.connectors.intercom_articles:CONNECTOR_TYPE",
    "zendesk": "bot.sources.connectors.zendesk_guide:CONNECTOR_TYPE",
    "sitemap": "bot.sources.connectors.website.source_type:SITEMAP",
    "website": "bot.sources.connectors.website.source_type:WEBSITE",
    "git": "bot.sources.connectors.git:GIT",
}

FILE_KINDS = ("folder", "upload")
"""Today's file sources, handled by `bot.sources.registry` rather than a connector."""


def connector_kinds() -> list[str]:
    return sorted(_TYPES)


def connector_type(kind: str) -> ConnectorType:
    target = _TYPES.get(kind)
    if target is None:
        offered = ", ".join([*connector_kinds(), *FILE_KINDS])
        raise InvalidRequest(f"unknown source type {kind!r}; choose one of: {offered}")
    module_name, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(found, ConnectorType) or found.kind != kind:
        raise TypeError(f"{target} is not the ConnectorType of {kind!r}")
    return found
