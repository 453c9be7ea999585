"""`supportbot`: ingest, search, ask, serve and evaluate from the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bot.cli import kb as kb_commands
from bot.cli import keys, render
from bot.cli.logs import configure_cli_logging
from bot.errors import SupportbotError
from bot.generation.protocol import Turn
from bot.settings import Settings
from ingestion.report import IngestProgress

if TYPE_CHECKING:
    from bot.retrieval.hybrid import RetrievalMode
    from bot.services import Services

app = typer.Typer(
    help="supportbot: answer customers from your help center, with citations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

KbOption = Annotated[str, typer.Option("--kb", help="Knowledge base name (e.g. acme).")]


class _CliOptions:
    verbose = False


@app.callback()
def _global_options(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Show why components degrade, and library warnings."),
    ] = False,
) -> None:
    """supportbot: answer customers from your help center, with citations."""
    _CliOptions.verbose = verbose


def _run(make: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Build settings, run the coroutine, and turn our errors into a clean exit."""
    configure_cli_logging(verbose=_CliOptions.verbose)
    try:
        return asyncio.run(make(Settings()))
    except SupportbotError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc


def _services(settings: Settings) -> Services:
    from bot.services import build_services

    with console.status("Loading models…", spinner="dots"):
        services = build_services(settings)
    if not _CliOptions.verbose:
        render.degraded_components(err_console, services.components)
    return services


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="Folder or .zip of Markdown, HTML and text.")],
    kb: KbOption,
    base_url: Annotated[
        str | None, typer.Option(help="Article URLs are BASE_URL/<path without extension>.")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Full re-index; the old index serves until done.")
    ] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="PATTERN",
            help="gitignore-style pattern of files that are not articles (repeatable); "
            "adds to SUPPORTBOT_INGEST_IGNORE and the source's .supportbotignore.",
        ),
    ] = None,
) -> None:
    """Index a help center. Re-running is incremental: only changed documents are embedded."""

    async def main(settings: Settings) -> None:
        services = _services(settings)
        try:
            with Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                tasks: dict[str, TaskID] = {}

                def on_progress(p: IngestProgress) -> None:
                    if p.phase not in tasks:
                        tasks[p.phase] = bar.add_task(p.phase, total=p.total or None)
                    bar.update(tasks[p.phase], completed=p.done, total=p.total or None)

                run = services.ingestor.rebuild if rebuild else services.ingestor.ingest
                report = await run(
                    kb, path, base_url=base_url, progress=on_progress, ignore=ignore or ()
                )
            render.ingest_summary(console, report)
        finally:
            await services.aclose()

    _run(main)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What a customer would type.")],
    kb: KbOption,
    top_k: Annotated[int, typer.Option(help="Results to show.")] = 5,
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "hybrid",
    rerank: Annotated[bool, typer.Option(help="Rerank the fused candidates.")] = True,
) -> None:
    """Show the ranked chunks a question retrieves, with every stage's rank and score."""
    if mode not in ("bm25", "dense", "hybrid"):
        raise typer.BadParameter("mode must be bm25, dense or hybrid")

    async def main(settings: Settings) -> None:
        services = _services(settings)
        try:
            outcome = await services.pipeline.search(
                kb,
                query,
                mode=cast("RetrievalMode", mode),
                rerank=rerank,
                top_k=top_k,
            )
            render.search_results(console, outcome)
        finally:
            await services.aclose()

    _run(main)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The customer's question.")],
    kb: KbOption,
) -> None:
    """Answer a question with numbered citations (streamed when an LLM is configured)."""
    from bot.answer import Answer, AnswerDelta

    async def main(settings: Settings) -> None:
        services = _services(settings)
        try:
            history: list[Turn] = []
            async for event in services.pipeline.answer_stream(kb, question, history):
                if isinstance(event, AnswerDelta):
                    console.print(event.text, end="", markup=False, highlight=False)
                elif isinstance(event, Answer):
                    console.print()
                    render.answer_footer(console, event)
        finally:
            await services.aclose()

    _run(main)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (default SUPPORTBOT_WORKERS, 1), about one per CPU core. "
            "They share limits, conversations and background jobs through Redis/Celery or "
            "the data dir; without a broker one worker at a time runs the jobs any of them "
            "accepts (README: Serving on several cores).",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from bot.api.workers import WORKER_APP, configure_server_logging, prepare_workers

    settings = Settings()
    count = workers or settings.workers
    configure_server_logging()
    try:
        prepare_workers(settings, count)
    except SupportbotError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc
    bind_host, bind_port = host or settings.host, port or settings.port
    if count == 1:
        from bot.api.app import create_app

        uvicorn.run(
            create_app(settings),
            host=bind_host,
            port=bind_port,
            timeout_keep_alive=settings.keep_alive_s,
            log_level="info",
        )
    else:
        uvicorn.run(
            WORKER_APP,
            factory=True,
            workers=count,
            timeout_worker_healthcheck=settings.worker_healthcheck_timeout_s,
            timeout_keep_alive=settings.keep_alive_s,
            host=bind_host,
            port=bind_port,
            log_level="info",
        )


@app.command(name="eval")
def evaluate(
    kb: KbOption,
    queries: Annotated[Path, typer.Option(help="JSONL: {id, query, relevant: [source_id…]}.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON here.")
    ] = None,
    folds: Annotated[
        int,
        typer.Option(
            help="K-fold cross-validation: every tunable (fusion, weights, depth, rerank blend) "
            "is chosen on K−1 folds and scored on the held-out fold. 0 = skip.",
        ),
    ] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the fold split and the bootstrap.")] = 0,
) -> None:
    """Measure bm25, dense, hybrid and hybrid+rerank on labelled questions, out of fold too."""
    from bot.evaluation.cv_run import cross_validate_pipelines, gather_records, report_to_dict
    from bot.evaluation.runner import PIPELINES, evaluate, load_queries, reports_to_json

    labelled = load_queries(queries)
    if folds == 1 or folds < 0:
        raise typer.BadParameter("use 0 (no cross-validation) or at least 2", param_hint="--folds")

    async def main(settings: Settings) -> None:
        services = _services(settings)
        try:
            with Progress(
                TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), console=console
            ) as bar:
                task = bar.add_task("eval", total=len(labelled) * len(PIPELINES))
                reports = await evaluate(
                    services.pipeline,
                    kb,
                    labelled,
                    on_query=lambda: bar.advance(task),
                    folds=folds or 5,
                    seed=seed,
                )
            render.eval_table(console, reports)
            render.calibration_in_force(console, services.pipeline.answerability.describe(kb))
            for report in reports:
                if report.suggested_calibration is not None:
                    model, declines = report.suggested_calibration
                    console.print(f"{report.name}: `supportbot calibrate` on these questions:")
                    render.decline_report(console, declines, model)
            payload: dict[str, Any] = {"pipelines": json.loads(reports_to_json(reports))}
            if folds:
                with Progress(
                    TextColumn("ranked lists"), BarColumn(), MofNCompleteColumn(), console=console
                ) as bar:
                    task = bar.add_task("records", total=len(labelled))
                    records = await gather_records(
                        settings,
                        services.backend,
                        services.pipeline,
                        services.rerank_stage,
                        kb,
                        labelled,
                        on_query=lambda: bar.advance(task),
                    )
                with console.status("cross-validating…", spinner="dots"):
                    cv = cross_validate_pipelines(settings, records, folds=folds, seed=seed)
                render.cross_validation(console, cv)
                payload["cross_validation"] = report_to_dict(cv)
            if json_out:
                json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
                console.print(f"wrote {json_out}")
        finally:
            await services.aclose()

    _run(main)


@app.command()
def calibrate(
    kb: KbOption,
    queries: Annotated[
        Path,
        typer.Option(
            help='JSONL: {id, query, relevant: [source_id…]}; "relevant": [] marks a '
            "question the help center does not answer (at least 5 of each kind)."
        ),
    ],
    folds: Annotated[int, typer.Option(min=2, help="Folds for the out-of-fold figures.")] = 5,
    max_false_decline: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.5,
            help="Share of the answerable questions the threshold may decline, aimed at on "
            "the labelled ones (new questions overshoot it a little).",
        ),
    ] = 0.04,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the figures; keep the calibration in force.")
    ] = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the KB's calibration (back to the default).")
    ] = False,
) -> None:
    """Fit when to decline (offer a person) from the KB's own labelled questions; stored
    with the KB and used from then on. Prints out-of-fold decline rates with intervals."""
    from bot.answerability.calibration import calibrate as fit
    from bot.answerability.collect import labelled_features
    from bot.evaluation.runner import load_queries

    async def main(settings: Settings) -> None:
        services = _services(settings)
        estimator = services.pipeline.answerability
        store = estimator.store
        assert store is not None
        try:
            if reset:
                removed = store.delete(kb)
                console.print(f"{kb}: calibration {'deleted' if removed else 'was not set'}")
                return
            labelled = load_queries(queries)
            await services.backend.stats(kb)  # an unknown KB fails before the long part
            with Progress(
                TextColumn("searching"), BarColumn(), MofNCompleteColumn(), console=console
            ) as bar:
                task = bar.add_task("calibrate", total=len(labelled))
                rows = await labelled_features(
                    services.pipeline, kb, labelled, on_query=lambda: bar.advance(task)
                )
            if len(rows) < len(labelled):
                console.print(
                    f"[yellow]{len(labelled) - len(rows)} questions were not reranked "
                    "(reranker failing or too slow) and are left out[/yellow]"
                )
            model, report = fit(
                rows,
                scored_by=estimator.scored_by,
                folds=folds,
                max_false_decline=max_false_decline,
            )
            render.decline_report(console, report, model)
            if dry_run:
                console.print("dry run: nothing stored")
            else:
                path = store.save(kb, model)
                console.print(f"stored {path}; in force for {kb} from now on")
        finally:
            await services.aclose()

    _run(main)


@app.command()
def kbs() -> None:
    """List knowledge bases with their document and chunk counts."""

    async def main(settings: Settings) -> None:
        from bot.services import build_backend

        backend = build_backend(settings)
        try:
            for kb in await backend.list_kbs():
                stats = await backend.stats(kb)
                console.print(f"{kb}: {stats.documents} documents, {stats.chunks} chunks")
        finally:
            await backend.close()

    _run(main)


@app.command()
def insights(
    kb: KbOption,
    since: Annotated[
        str, typer.Option(help="A duration back from now (7d, 24h, 90m) or an ISO date/time.")
    ] = "7d",
    top: Annotated[int, typer.Option(min=1, max=200, help="Entries per list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Questions asked, the deflection rate, declined questions grouped by meaning (the
    articles to write), thumbs-down answers and the most cited articles."""

    async def main(settings: Settings) -> None:
        from bot.api.insights_schemas import InsightsOut
        from bot.cli.insights import show
        from bot.insights.since import parse_since
        from bot.services import build_services

        with console.status("Loading the embedding model…", spinner="dots"):
            services = build_services(settings, warm=False)
            services.embedder.warm_up()
        try:
            assert services.insights is not None
            report = await services.insights.report(kb, parse_since(since), top=top)
        finally:
            await services.aclose()
        out = InsightsOut.from_report(report)
        if as_json:
            print(out.model_dump_json(indent=2))
        else:
            show(console, out)

    _run(main)


app.add_typer(keys.app, name="keys")
app.add_typer(kb_commands.app, name="kb")

if __name__ == "__main__":
    app()
