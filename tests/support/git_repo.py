"""A real local Git remote for source tests: a bare repository and a clone to commit from."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
