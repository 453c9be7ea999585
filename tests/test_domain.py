"""Chunk's derived identifiers: computed once at construction, kept in step by `replace`."""

from __future__ import annotations

from dataclasses import replace

from bot.domain import Chunk


def _chunk(**changes: object) -> Chunk:
    base = Chunk(
        kb="help",
        source_id="billing/refunds",
        ordinal=3,
        title="Refunds",
        heading_path=("Cards",),
        text="Refunds take five days.",
        url=None,
        doc_hash="d" * 64,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_chunk_id_names_kb_source_and_ordinal() -> None:
    assert _chunk().chunk_id == "help:billing/refunds#3"


def test_replace_recomputes_the_derived_identifiers() -> None:
    moved = _chunk(ordinal=4, text="Refunds take a week.")
    assert moved.chunk_id == "help:billing/refunds#4"
    assert moved.content_hash != _chunk().content_hash


def test_derived_identifiers_stay_out_of_repr() -> None:
    assert "chunk_id" not in repr(_chunk()) and "content_hash" not in repr(_chunk())
