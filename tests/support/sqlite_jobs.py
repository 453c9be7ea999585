"""Shared job runners over a test's data dir, built the way `bot.services` builds them."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.cache.sqlite_state import STATE_FILENAME
from bot.jobs.inprocess import JobExecutor
from bot.jobs.leader_lock import JOB_RUNNER_LOCK, LeaderLock
from bot.jobs.sqlite_runner import SqliteJobRunner
from bot.jobs.sqlite_store import SqliteJobStore

POLL_S = 0.05


def runner_for(data_dir: Path, execute: JobExecutor) -> SqliteJobRunner:
    store = SqliteJobStore(data_dir / STATE_FILENAME, retention_s=3600)
    return SqliteJobRunner(
        execute, store, LeaderLock(data_dir / JOB_RUNNER_LOCK), poll_s=POLL_S, cancel_wait_s=10
    )


def runner_pid(data_dir: Path, job_id: str) -> int | None:
    """The pid the job table names as running `job_id` (None when nobody runs it)."""
    with closing(sqlite3.connect(data_dir / STATE_FILENAME)) as conn:
        row = conn.execute("SELECT runner FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None
