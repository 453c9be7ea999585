"""A real local Git remote for source tests: a bare repository and a clone to commit from."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.support.live_server import free_port

_IDENTITY = ("-c", "user.name=Docs Team", "-c", "user.email=docs@example.com")


class GitRemote:
    def __init__(self, root: Path, branch: str = "main") -> None:
        self.bare = root / "remote.git"
        self.work = root / "authoring"
        self.branch = branch
        root.mkdir(parents=True, exist_ok=True)
        _git(root, "init", "--quiet", "--bare", "-b", branch, str(self.bare))
        _git(root, "clone", "--quiet", str(self.bare), str(self.work))
        _git(self.work, "checkout", "--quiet", "-B", branch)

    def commit(self, files: dict[str, str | None], message: str = "docs") -> None:
        """Write (str) or delete (None) files, commit and push."""
        for name, content in files.items():
            path = self.work / name
            if content is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
        _git(self.work, "add", "--all")
        _git(self.work, *_IDENTITY, "commit", "--quiet", "-m", message)
        _git(self.work, "push", "--quiet", "origin", f"HEAD:{self.branch}")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


class GitDaemon:
    """`git daemon` serving the bare repositories under `root` over git:// on a free
    loopback port (read-only), for sources fetched over the network; a context manager."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, remote: GitRemote) -> str:
        return f"git://127.0.0.1:{self.port}/{remote.bare.relative_to(self.root)}"

    def __enter__(self) -> GitDaemon:
        self.process = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
             f"--port={self.port}", f"--base-path={self.root}", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"git daemon did not listen on port {self.port}") from None
                time.sleep(0.05)

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
