"""The per-request JSON log line, on its own logger so it can be shipped as is.

`install_request_log()` (called once per process by the API lifespan) gives the
`supportbot.request` logger a handler that writes the bare JSON, one object a line, to
stderr, unless the deployment configured handlers for it already.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from bot.observability.request_record import RequestRecord

REQUEST_LOGGER = "supportbot.request"
log = logging.getLogger(REQUEST_LOGGER)


def install_request_log() -> None:
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def request_line(
    record: RequestRecord,
    *,
    method: str,
    route: str,
    path: str,
    status: int,
    seconds: float,
    customer_text: bool,
) -> dict[str, object]:
    line: dict[str, object] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        "event": "request",
        "request_id": record.request_id,
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    if record.kb is not None:
        line["kb"] = record.kb
    if record.timings_ms:
        line["timings_ms"] = record.timings_ms
    if record.result is not None:
        line["result"] = record.result
        line["mode"] = record.mode
    if record.decline is not None:
        line["decline_reason"] = record.decline
    if record.llm_errors:
        line["llm_errors"] = record.llm_errors
    if record.prompt_tokens or record.completion_tokens:
        line["llm_usage"] = {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "cost_usd": record.cost_usd,
        }
    if customer_text and record.query is not None:
        line["query"] = record.query
    return line


def write_request_line(
    record: RequestRecord,
    *,
    method: str,
    route: str,
    path: str,
    status: int,
    seconds: float,
    customer_text: bool,
) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    line = request_line(
        record,
        method=method,
        route=route,
        path=path,
        status=status,
        seconds=seconds,
        customer_text=customer_text,
    )
    log.info("%s", json.dumps(line, ensure_ascii=False))
