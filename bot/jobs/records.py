"""RedisJobRecords: what Celery does not keep about a job, in the same Redis.

Celery's result backend holds each task's state, progress and result, but cannot list
tasks, tell an unknown id from a queued one, or remember a cancel request for a task no
worker has received yet. These records add exactly that: kind, KB and creation time in a
hash per job, a sorted set for listing newest first, and a cancel flag the task polls.
Records expire after `retention_s`. Synchronous (redis-py): the worker calls it from task
code, the API through `asyncio.to_thread` alongside Celery's own blocking calls.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from bot.errors import BackendUnavailable
from bot.jobs.protocol import JobSpec

REDIS_ERRORS = (redis.exceptions.RedisError, OSError)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    spec: JobSpec
    created_at: float
    cancel_requested: bool


class RedisJobRecords:
    def __init__(
        self, client: redis.Redis, *, retention_s: int = 7 * 24 * 3600, prefix: str = "supportbot:"
    ) -> None:
        self._client = client
        self._retention_s = retention_s
        self._index = f"{prefix}jobs"
        self._prefix = f"{prefix}job:"

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 2.0, retention_s: int) -> RedisJobRecords:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        return cls(client, retention_s=retention_s)

    def create(self, job_id: str, spec: JobSpec, *, only_if_missing: bool = False) -> JobRecord:
        """Record a job; with `only_if_missing`, keep an existing record (redelivered tasks)."""
        key, now = self._prefix + job_id, time.time()
        try:
            if only_if_missing:
                existing = self.get(job_id)
                if existing is not None:
                    return existing
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(
                key,
                mapping={
                    "spec": json.dumps(spec.to_json()),
                    "created_at": repr(now),
                    "cancel": "0",
                },
            )
            pipe.expire(key, self._retention_s)
            pipe.zadd(self._index, {job_id: now})
            pipe.zremrangebyscore(self._index, "-inf", now - self._retention_s)
            pipe.execute()
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc
        return JobRecord(job_id, spec, now, False)

    def discard(self, job_id: str) -> None:
        """Forget a job that could not be queued, so it is never listed as queued."""
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(self._prefix + job_id)
            pipe.zrem(self._index, job_id)
            pipe.execute()
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc

    def get(self, job_id: str) -> JobRecord | None:
        try:
            fields = self._client.hgetall(self._prefix + job_id)
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc
        return _record(job_id, fields)

    def recent(self, limit: int, kb: str | None = None) -> list[JobRecord]:
        """Newest first; with `kb`, only that KB's jobs (among the latest 1,000)."""
        try:
            ids = self._client.zrevrange(self._index, 0, (limit if kb is None else 1000) - 1)
            pipe = self._client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(self._prefix + _text(job_id))
            rows = pipe.execute()
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc
        records = [_record(_text(job_id), fields) for job_id, fields in zip(ids, rows, strict=True)]
        found = [r for r in records if r is not None and (kb is None or r.spec.kb == kb)]
        return found[:limit]

    def request_cancel(self, job_id: str) -> None:
        try:
            self._client.hset(self._prefix + job_id, "cancel", "1")
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc

    def cancel_requested(self, job_id: str) -> bool:
        try:
            return _text(self._client.hget(self._prefix + job_id, "cancel") or b"0") == "1"
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc

    def start_run(self, job_id: str) -> int:
        """Count a run of the job starting; return how many earlier runs never finished.

        A run finishes (`finish_run`) however it ends, except when its process dies, so
        the count is the number of times in a row a worker process died running the job.
        """
        key = self._prefix + job_id
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.hincrby(key, "unfinished_runs", 1)
            pipe.expire(key, self._retention_s)  # never a key without expiry, record or not
            started, _ = pipe.execute()
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc
        return int(started) - 1

    def finish_run(self, job_id: str) -> None:
        try:
            self._client.hset(self._prefix + job_id, "unfinished_runs", 0)
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        self._client.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(job_id: str, fields: dict[bytes, bytes]) -> JobRecord | None:
    values = {_text(k): _text(v) for k, v in fields.items()}
    if "spec" not in values:
        return None
    return JobRecord(
        id=job_id,
        spec=JobSpec.from_json(json.loads(values["spec"])),
        created_at=float(values.get("created_at", 0.0)),
        cancel_requested=values.get("cancel") == "1",
    )


def _unavailable(exc: BaseException) -> BackendUnavailable:
    return BackendUnavailable(
        f"the job store (Redis) is unreachable ({type(exc).__name__}: {exc}); check "
        "SUPPORTBOT_REDIS_URL / SUPPORTBOT_CELERY_BROKER_URL and that Redis is running"
    )
