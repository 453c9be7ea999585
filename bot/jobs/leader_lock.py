"""LeaderLock: which API worker process runs the shared jobs, decided by the kernel.

An exclusive, non-blocking `flock` on a file in the data dir. The holder runs jobs; the
others try again every poll. The kernel drops the lock the moment its holder exits, killed
or not, so a dead runner is replaced within one poll and two live runners are impossible
(a lease with a heartbeat would hand the job to a second runner while a busy first one
still ran it). Local file systems only, like the SQLite WAL files next to it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

JOB_RUNNER_LOCK = "job_runner.lock"
"""In the data dir: held by the API worker that runs the shared jobs."""


class LeaderLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits. True while this object holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
