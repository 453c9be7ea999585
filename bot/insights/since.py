"""`since` as admins type it: a duration back from now (`7d`, `24h`, `90m`) or a date/time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from bot.errors import InvalidRequest

DEFAULT_SINCE = "7d"
_DURATION = re.compile(r"(\d+)\s*([dhm])")
_SECONDS = {"d": 86400, "h": 3600, "m": 60}


def parse_since(text: str | None, *, now: float | None = None) -> float:
    """Unix time; naive date/times are UTC."""
    text = (text or DEFAULT_SINCE).strip()
    now = time.time() if now is None else now
    match = _DURATION.fullmatch(text)
    if match:
        return now - int(match.group(1)) * _SECONDS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"since={text!r} is neither a duration (7d, 24h, 90m) nor an ISO date/time "
            "(2026-12-01 or 2026-12-01T08:00:00Z)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
