"""A loopback TCP proxy that can play a service outage for fault drills.

The drills need a real Elasticsearch (or any TCP service) to vanish and come back while
other tests share it. Stopping the shared node would break them; this proxy sits between
the app and the node instead:

    with TcpProxy("127.0.0.1", 9200) as proxy:   # point the app at proxy.url
        proxy.stop_service()   # listener closed, open connections reset: "connection refused"
        proxy.hang()           # accepts connections, never answers: a stuck or partitioned node
        proxy.restore()        # forwards again, on the same port
        proxy.stop_on(b"/_bulk")  # stop_service() the moment a request naming /_bulk passes
        proxy.stall_on(b"want ")  # that one connection stops relaying, mid-exchange; the
                                  # others (and new ones) are served: a transfer that hangs

Bytes are relayed unchanged, so the client and the server speak their own protocol.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal
from urllib.parse import urlsplit

from tests.support.live_server import free_port

Mode = Literal["forward", "down", "hang"]


def reset(sock: socket.socket) -> None:
    """Close with an RST (linger 0), as a dying host's kernel does, not a polite FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class TcpProxy:
    @classmethod
    def to(cls, url: str) -> TcpProxy:
        """A proxy (not started) to the host and port of `url`."""
        parts = urlsplit(url)
        assert parts.hostname and parts.port, url
        return cls(parts.hostname, parts.port)

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.mode: Mode = "forward"
        self.accepted = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = threading.Event()
        self._trip: bytes | None = None
        self.tripped = threading.Event()
        """Set when a `stop_on` marker went by and the service was stopped."""
        self._stall: bytes | None = None
        self.stalled = threading.Event()
        """Set when a `stall_on` marker went by and its connection stopped relaying."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- outages ----------------------------------------------------------------------
    def stop_service(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self._lock:
            self.mode = "down"
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self._reset_all()

    def hang(self) -> None:
        """Keep accepting, never answer; open connections stop relaying mid-exchange."""
        with self._lock:
            self.mode = "hang"
        if self._listener is None:
            self._listen()

    def stop_on(self, marker: bytes) -> None:
        """Stop the service when the client next sends bytes containing `marker`, before
        relaying them: an outage that strikes in the middle of that request (a bulk write)."""
        self.tripped.clear()
        with self._lock:
            self._trip = marker

    def stall_on(self, marker: bytes) -> None:
        """Relay the bytes containing `marker` (the client's next such request), then stop
        relaying on that connection alone, in both directions, until `restore()` or
        `close()`: the server never answers it, the client waits. Once."""
        self.stalled.clear()
        with self._lock:
            self._stall = marker

    def restore(self) -> None:
        """Forward again; connections held during a hang are reset (their clients gave up)."""
        self._reset_all()
        with self._lock:
            self.mode = "forward"
        if self._listener is None:
            self._listen()

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listen()
        return self

    def close(self) -> None:
        self._closed.set()
        self.stop_service()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _reset_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            reset(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closed.is_set() and listener is self._listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed: the service is "down"
            with self._lock:
                stopped = listener is not self._listener  # stop_service() won the race
                if not stopped:
                    self.accepted += 1
                    self._sockets.add(client)
                forward = self.mode == "forward"
            if stopped:
                reset(client)
                return
            if forward:
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()
            # "hang": the connection stays open, unread and unanswered, until restore().

    def _tripped_by(self, data: bytes) -> bool:
        with self._lock:
            marker = self._trip
            hit = marker is not None and marker in data
            if hit:
                self._trip = None
        if hit:
            self.stop_service()
            self.tripped.set()
        return hit

    def _stalled_by(self, data: bytes) -> bool:
        with self._lock:
            marker = self._stall
            hit = marker is not None and marker in data
            if hit:
                self._stall = None
        if hit:
            self.stalled.set()
        return hit

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            reset(client)
            return
        self._track(upstream)
        peers = {client: upstream, upstream: client}
        try:
            while not self._closed.is_set():
                if self.mode != "forward":
                    self._closed.wait(0.02)  # frozen: bytes wait in the kernel's buffers
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and self._tripped_by(data):
                        return
                    peers[sock].sendall(data)
                    if sock is client and self._stalled_by(data):
                        self._closed.wait()  # held open, silent, until the proxy closes
                        return
        except (OSError, ValueError):
            return  # reset by an outage, or closed by either side
        finally:
            for sock in peers:
                sock.close()
