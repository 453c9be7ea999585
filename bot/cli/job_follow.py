"""Follow a job with a live progress bar until it finishes; render jobs and KBs as tables."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.jobs.protocol import JobRunner, JobState
from bot.kb_admin import KbOverview

POLL_S = 0.25


async def follow(runner: JobRunner, job: JobState, console: Console) -> JobState:
    """Poll the job, one bar per phase (parsing, embedding, ...), until it is finished."""
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[current]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        waiting = bar.add_task(job.state, total=None, current=f"job {job.id}")
        phases: dict[str, TaskID] = {}
        while not job.finished:
            await asyncio.sleep(POLL_S)
            job = await runner.get(job.id)
            progress = job.progress
            if progress is None:
                bar.update(waiting, description=job.state)
                continue
            if progress.phase not in phases:
                bar.update(waiting, visible=False)
                phases[progress.phase] = bar.add_task(
                    progress.phase, total=progress.total or None, current=""
                )
            bar.update(
                phases[progress.phase],
                completed=progress.done,
                total=progress.total or None,
                current=(progress.current or "")[-50:],
            )
    return job


def job_summary(console: Console, job: JobState) -> None:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(job.state, "cyan")
    console.print(f"job [bold]{job.id}[/bold] ({job.kind} {job.kb or ''}): [{colour}]{job.state}")
    if job.error:
        console.print(f"[red]{job.error}[/red]")
    if job.result:
        console.print_json(json.dumps(job.result, default=str))


def jobs_table(console: Console, jobs: list[JobState]) -> None:
    table = Table("id", "kind", "kb", "state", "progress", "created")
    for job in jobs:
        p = job.progress
        progress = f"{p.phase} {p.done}/{p.total}" if p else ""
        table.add_row(job.id, job.kind, job.kb or "", job.state, progress, _time(job.created_at))
    console.print(table)


def kbs_table(console: Console, overviews: list[KbOverview]) -> None:
    table = Table("kb", "documents", "chunks", "last indexed", "model", "source")
    for o in overviews:
        source = f"{o.source.kind}: {o.source.path}" if o.source else "(none)"
        if o.connected:
            where = o.connected.options.get("url") or o.connected.options.get("subdomain") or ""
            source = f"{o.connected.kind}: {where}".rstrip(": ")
        model = o.stats.index.embedding_model if o.stats.index else ""
        table.add_row(
            o.stats.kb,
            str(o.stats.documents),
            str(o.stats.chunks),
            o.stats.last_indexed or "",
            model,
            source,
        )
    console.print(table)


def kb_detail(console: Console, o: KbOverview) -> None:
    kbs_table(console, [o])
    if o.stats.index:
        info = o.stats.index
        console.print(
            f"index: {info.embedding_model}, dimension {info.dimension}, "
            f"schema v{info.schema_version}"
        )
    if o.source and o.source.last_synced_at:
        console.print(f"source last synced: {_time(o.source.last_synced_at)}")
    if o.connected:
        sync_history(console, o)
    if o.jobs:
        jobs_table(console, o.jobs)


def sync_history(console: Console, o: KbOverview) -> None:
    source = o.connected
    assert source is not None
    schedule = f"every {source.interval_s} s" if source.interval_s else "on demand"
    secrets = ", ".join(
        f"{name} from ${ref['env']}" if "env" in ref else f"{name} stored"
        for name, ref in source.secrets.items()
    )
    console.print(
        f"source: {source.kind} {source.options}, synced {schedule}"
        + (f"; secrets: {secrets}" if secrets else "")
    )
    if source.last_synced_at:
        console.print(f"last complete sync: {_time(source.last_synced_at)}")
    if not o.history:
        return
    table = Table(title="sync history (newest first)")
    for column in ("started", "status", "new", "updated", "unchanged", "deleted", "failed",
                   "seconds", "error"):  # fmt: skip
        table.add_column(column)
    for run in o.history:
        c = run.counts
        table.add_row(
            _time(run.started_at),
            run.status + (" (forced)" if run.forced else ""),
            *(str(c.get(k, 0)) for k in ("new", "updated", "unchanged", "deleted", "failed")),
            f"{run.seconds:.1f}",
            (run.error or "")[:120],
        )
    console.print(table)


def _time(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
