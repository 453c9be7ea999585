"""The connector protocol's own rules (what every connector's documents must satisfy)."""

from __future__ import annotations

import pytest

from bot.errors import InvalidRequest
from bot.sources.catalog import connector_type
from bot.sources.protocol import SourceDocument


def test_a_document_needs_a_key_and_a_known_format() -> None:
    with pytest.raises(ValueError, match="key"):
        SourceDocument(key="", title="t", body="b", body_format="markdown", url="https://x/")
    with pytest.raises(ValueError, match="body_format"):
        SourceDocument(key="k", title="t", body="b", body_format="pdf", url="https://x/")  # type: ignore[arg-type]


def test_an_unknown_source_type_names_the_offered_ones() -> None:
    with pytest.raises(InvalidRequest, match="folder, upload"):
        connector_type("gopher")
