"""`supportbot kb ...`: the admin API's operations from the command line.

Runs against the same data directory, Redis and Celery broker as the server (settings
from the environment). With a broker, jobs go to the Celery workers and `--no-wait`
returns at once; without one they run in this process, which therefore waits for them.
Ctrl-C stops following a Celery job (it keeps running) or cancels an in-process one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from bot.errors import SupportbotError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.jobs.protocol import JobState
    from bot.kb_admin import KnowledgeBaseAdmin
    from bot.services import Services

app = typer.Typer(help="Create knowledge bases, add content, re-index and follow jobs.")
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

KbArg = Annotated[str, typer.Argument(help="Knowledge base name (e.g. acme).")]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait", "--follow/--no-follow", help="Follow the job with a progress bar."
    ),
]


def _run(work: Callable[[Services, KnowledgeBaseAdmin], Awaitable[T]]) -> T:
    """Build services (models load lazily, only if a job runs here), run, exit cleanly."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    async def main() -> T:
        from bot.kb_admin import KnowledgeBaseAdmin
        from bot.services import build_services

        services = build_services(Settings(), warm=False)
        try:
            return await work(services, KnowledgeBaseAdmin(services))
        finally:
            await services.aclose()

    try:
        return asyncio.run(main())
    except SupportbotError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc


async def _finish(services: Services, job: JobState, wait: bool) -> None:
    from bot.cli.job_follow import follow, job_summary

    if not wait and services.jobs.name != "in-process":
        console.print(f"queued job {job.id}; follow it with `supportbot kb job {job.id}`")
        return
    if not wait:
        console.print("[dim]no broker configured: the job runs in this process, waiting[/dim]")
    # With SUPPORTBOT_WORKERS > 1 and no broker, following joins the servers' shared runner:
    # this process runs the job only if no server worker is running jobs, and hands back
    # to the queue a job it has not finished when it exits.
    await services.jobs.start()
    try:
        job = await follow(services.jobs, job, console)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if services.jobs.name != "in-process":
            console.print(f"stopped following; job {job.id} keeps running")
        raise
    job_summary(console, job)
    if job.state != "succeeded":
        raise typer.Exit(1)


@app.command()
def create(kb: KbArg) -> None:
    """Create an empty knowledge base."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        from bot.cli.job_follow import kb_detail

        kb_detail(console, await admin.create(kb))

    _run(work)


@app.command(name="list")
def list_kbs() -> None:
    """Knowledge bases with documents, chunks, last indexed time and source."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        from bot.cli.job_follow import kbs_table

        kbs_table(console, await admin.list())

    _run(work)


@app.command()
def show(kb: KbArg) -> None:
    """Documents, chunks, index version, source and latest jobs of one KB."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        from bot.cli.job_follow import kb_detail

        kb_detail(console, await admin.overview(kb))

    _run(work)


@app.command()
def delete(
    kb: KbArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a KB: its index, its registered source and its uploaded files."""
    if not yes:
        typer.confirm(f"Delete knowledge base {kb!r} and its uploaded files?", abort=True)

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        await admin.delete(kb)
        console.print(f"deleted {kb}")

    _run(work)


@app.command()
def upload(
    kb: KbArg,
    paths: Annotated[list[Path], typer.Argument(help="Articles, .zip files or folders of them.")],
    base_url: Annotated[str | None, typer.Option(help="Article URLs are BASE_URL/<path>.")] = None,
    wait: WaitOption = True,
) -> None:
    """Store files in the KB's upload folder (checked like API uploads), then ingest."""
    from bot.sources.cli_files import open_local_files

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        with open_local_files(paths) as files:
            stored, job = await admin.upload(kb, files, base_url)
        console.print(f"stored {len(stored.stored)} files, skipped {len(stored.skipped)}")
        await _finish(services, job, wait)

    _run(work)


@app.command(name="add-folder")
def add_folder(
    kb: KbArg,
    folder: Annotated[Path, typer.Argument(help="Help-center folder on this machine.")],
    base_url: Annotated[str | None, typer.Option(help="Article URLs are BASE_URL/<path>.")] = None,
    resync: Annotated[bool, typer.Option(help="Re-ingest it periodically (beat).")] = True,
    wait: WaitOption = True,
) -> None:
    """Make a server folder the KB's source and ingest it."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        source, job = await admin.register_folder(
            kb, str(folder), base_url=base_url, resync=resync, anywhere=True
        )
        console.print(f"{kb} now mirrors {source.path}")
        if job is not None:
            await _finish(services, job, wait)

    _run(work)


@app.command(
    name="add-source",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def add_source(
    ctx: typer.Context,
    kb: KbArg,
    kind: Annotated[str, typer.Option("--type", help="git (see --list-types).")] = "",
    every: Annotated[
        str | None, typer.Option(help="Sync schedule: 30m, 6h, 1d (default: on demand).")
    ] = None,
    now: Annotated[bool, typer.Option("--sync/--no-sync", help="Sync right away.")] = True,
    list_types: Annotated[
        bool, typer.Option("--list-types", help="Show source types and their options.")
    ] = False,
    wait: WaitOption = True,
) -> None:
    """Sync the KB from where its help center lives: `--type git --url ... --folder help`.

    Each type's options are flags (`--list-types` shows them); secrets are given as
    `--<name>-env VARIABLE` (read where syncs run) or `--<name> VALUE` (stored, mode 0600).
    """
    from bot.cli.sources import options_help, parse_interval, parse_source_flags
    from bot.sources.catalog import connector_kinds, connector_type

    if list_types or not kind:
        for name in connector_kinds():
            ctype = connector_type(name)
            console.print(f"[bold]--type {name}[/bold]  {ctype.summary}")
            for line in options_help(ctype.options, ctype.secrets):
                console.print(f"    {line}")
        if not kind:
            raise typer.Exit(0 if list_types else 2)
        return

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        ctype = connector_type(kind)
        options, secrets = parse_source_flags(ctx.args, ctype.options, ctype.secrets)
        source, job = await admin.connect_source(
            kb, kind, options, secrets, interval_s=parse_interval(every), ingest=now
        )
        schedule = f"every {source.interval_s} s" if source.interval_s else "on demand"
        console.print(f"{kb} now syncs from a {kind} source ({schedule})")
        if job is not None:
            await _finish(services, job, wait)

    _run(work)


@app.command()
def ingest(
    kb: KbArg,
    wait: WaitOption = True,
    force: Annotated[
        bool, typer.Option(help="Accept a listing far smaller than the last one.")
    ] = False,
    full: Annotated[
        bool, typer.Option(help="Connected sources: ignore cursors/ETags, fetch everything.")
    ] = False,
) -> None:
    """Sync now: incremental ingest of the KB's source (folder, uploads or connected)."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        await _finish(services, await admin.ingest(kb, force=force, full=full), wait)

    _run(work)


@app.command()
def reindex(kb: KbArg, wait: WaitOption = True) -> None:
    """Zero-downtime full re-index: the old index serves until the new one is swapped in."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        await _finish(services, await admin.reindex(kb), wait)

    _run(work)


@app.command()
def jobs(
    kb: Annotated[str | None, typer.Option("--kb", help="Only this KB's jobs.")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
) -> None:
    """Latest jobs, newest first."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        from bot.cli.job_follow import jobs_table

        jobs_table(console, await services.jobs.list(kb=kb, limit=limit))

    _run(work)


@app.command()
def job(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    wait: Annotated[bool, typer.Option("--follow/--no-follow", help="Follow until done.")] = True,
) -> None:
    """Show a job; follow it with a progress bar until it finishes."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        from bot.cli.job_follow import job_summary

        state = await services.jobs.get(job_id)
        if wait and not state.finished:
            await _finish(services, state, True)
        else:
            job_summary(console, state)

    _run(work)


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a queued or running job (a re-index keeps serving the old index)."""

    async def work(services: Services, admin: KnowledgeBaseAdmin) -> None:
        from bot.cli.job_follow import job_summary

        job_summary(console, await services.jobs.cancel(job_id))

    _run(work)
