"""`supportbot serve` keeps idle connections open for `keep_alive_s`, longer than clients do.

A server that closes an idle connection first races the client reusing it: the request
that crosses the server's FIN is lost as a connection reset (httpx `ReadError`), seen
in `make bench` at 200 users while uvicorn closed after its default 5 s, httpx's own
expiry.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from bot.settings import Settings
from tests.support.served import serve_env, served


def test_the_default_outlasts_httpx_idle_connections() -> None:
    httpx_expiry = httpx.Limits().keepalive_expiry or 0.0
    assert Settings(_env_file=None).keep_alive_s > httpx_expiry  # type: ignore[call-arg]


def _closed_within(base_url: str, seconds: float) -> float | None:
    """Send one keep-alive request, then wait for the server to close: seconds, or None."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response:
            response += conn.recv(4096)
        assert response.startswith(b"HTTP/1.1 200"), response
        answered = time.monotonic()
        conn.settimeout(seconds)
        try:
            while conn.recv(4096):  # the rest of the body, then the server's FIN
                pass
        except TimeoutError:
            return None
        return time.monotonic() - answered


def test_serve_closes_idle_connections_after_keep_alive_s(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "data", KEEP_ALIVE_S="1")
    with served(env, workers=1, log=tmp_path / "serve.log", cwd=tmp_path) as url:
        closed_after = _closed_within(url, 4.0)  # uvicorn's own default would be 5 s
    assert closed_after is not None and closed_after < 3.0, closed_after
