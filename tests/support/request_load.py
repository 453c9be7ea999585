"""Background request load for fault drills: a few clients sending requests back to back,
every response recorded with when it was sent, how long it took and its status."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

Request = Callable[[httpx.Client, int], httpx.Response]
"""Sends one request; gets the client and the request's number (for unique ids)."""


@dataclass(frozen=True)
class Outcome:
    started: float
    finished: float
    status: int
    retry_after: str | None
    code: str | None
    body: dict[str, object]

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class Load:
    """`clients` threads running `request` until the block ends (times: time.monotonic)."""

    def __init__(self, base_url: str, request: Request, clients: int = 2) -> None:
        self.base_url = base_url
        self.request = request
        self.outcomes: list[Outcome] = []
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, count: int, after: float = 0.0, timeout_s: float = 30.0) -> None:
        """Until `count` requests sent after `after` have been answered."""
        deadline = time.monotonic() + timeout_s
        while len(self.sent_between(after, float("inf"))) < count:
            assert time.monotonic() < deadline, f"the load stalled: {self.outcomes[-3:]}"
            time.sleep(0.02)

    def sent_between(self, start: float, end: float) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if start <= o.started < end]

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as http:
            while not self._stop.is_set():
                with self._lock:
                    self._count += 1
                    number = self._count
                started = time.monotonic()
                response = self.request(http, number)
                finished = time.monotonic()
                body = response.json()
                error = body.get("error") if response.is_error else None
                outcome = Outcome(
                    started,
                    finished,
                    response.status_code,
                    response.headers.get("retry-after"),
                    error.get("code") if isinstance(error, dict) else None,
                    body,
                )
                with self._lock:
                    self.outcomes.append(outcome)
                time.sleep(0.02)
