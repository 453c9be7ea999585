"""Bytes to text, with a reason a person can act on when a file is not text."""

from __future__ import annotations

import codecs

from bot.errors import IngestionError

_SNIFF_BYTES = 8192


def decode_text(data: bytes, *, allow_empty: bool = False) -> str:
    """Decode UTF-8 (a BOM is fine, UTF-16 with a BOM too); raise IngestionError otherwise.

    Empty and whitespace-only files are refused as "empty document": a file that was
    emptied by mistake must not silently delete the article already indexed.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestionError(f"not valid UTF-16 despite its byte-order mark: {exc}") from exc
    else:
        if b"\x00" in data[:_SNIFF_BYTES]:
            raise IngestionError("binary file, not text (it contains NUL bytes)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.start + 1].hex()
            raise IngestionError(
                f"not valid UTF-8 (byte 0x{bad} at offset {exc.start}); re-save the file as UTF-8"
            ) from exc
    if not allow_empty and not text.strip():
        raise IngestionError("empty document")
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
