"""Rich renderings of pipeline results for the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bot.answer import Answer, SearchOutcome

if TYPE_CHECKING:  # the CLI imports this module for every command: keep it light
    from bot.answerability.calibration import DeclineReport
    from bot.answerability.model import AnswerabilityModel
    from bot.evaluation.crossval import CrossValidationReport
    from bot.evaluation.runner import PipelineReport
    from bot.services import ComponentState
    from ingestion.ingest import IngestReport

MAX_LISTED_IGNORED = 10


def degraded_components(console: Console, components: Mapping[str, ComponentState]) -> None:
    """One short line per component running degraded; `--verbose` logs the reason."""
    for role, state in components.items():
        if not state.ok:
            console.print(
                f"[yellow]note[/yellow]: {role} is running as {state.name} (degraded; "
                "--verbose shows why)",
                highlight=False,
            )


def ingest_summary(console: Console, report: IngestReport) -> None:
    table = Table(title=f"Ingested into {report.kb!r}", show_header=False)
    for label, value in (
        ("new", len(report.new)),
        ("updated", len(report.updated)),
        ("unchanged", len(report.unchanged)),
        ("deleted", len(report.deleted)),
        ("ignored", len(report.ignored)),
        ("failed", len(report.failed)),
        ("chunks written", report.chunks),
        ("seconds", f"{report.seconds:.1f} (embedding {report.embed_seconds:.1f})"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    if report.ignored:
        shown = ", ".join(report.ignored[:MAX_LISTED_IGNORED])
        more = len(report.ignored) - MAX_LISTED_IGNORED
        console.print(f"[dim]ignored {shown}{f' and {more} more' if more > 0 else ''}[/dim]")
    for source_id, reason in sorted(report.failed.items()):
        console.print(f"[red]failed[/red] {source_id}: {reason}")


def search_results(console: Console, outcome: SearchOutcome) -> None:
    status = "reranked" if outcome.reranked else f"not reranked ({outcome.rerank_reason})"
    console.print(f"[bold]{len(outcome.results)} results[/bold] · {outcome.mode} · {status}")
    for rank, c in enumerate(outcome.results, start=1):
        scores = f"bm25 #{c.bm25_rank} · dense #{c.dense_rank} · fused {c.fused_score:.4f}"
        if c.rerank_score is not None:
            scores += f" · rerank {c.rerank_score:.3f}"
        console.print(f"\n[bold cyan]{rank}. {c.chunk.heading_label}[/bold cyan]")
        console.print(f"   [dim]{c.chunk.source_id} {c.chunk.url or ''}[/dim]")
        console.print(f"   [dim]{scores}[/dim]")
        snippet = " ".join(c.chunk.text.split())
        console.print(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}")
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in outcome.timings_ms.items())
    console.print(f"\n[dim]{timings}[/dim]")


def answer_footer(console: Console, answer: Answer) -> None:
    console.print()
    for citation in answer.citations:
        marker = "*" if citation.number in answer.cited else " "
        console.print(
            f"[dim]{marker}[{citation.number}] {citation.title} — "
            f"{citation.url or citation.source_id}[/dim]"
        )
    for note in answer.degraded:
        console.print(f"[yellow]note:[/yellow] {note}")
    if answer.handoff_suggested:
        console.print("[yellow]No answer found: a person should take this one.[/yellow]")


def eval_table(console: Console, reports: Sequence[PipelineReport]) -> None:
    table = Table(title="Retrieval quality (document level)")
    for column in ("pipeline", "Hit@5", "P@5", "Recall@10", "MRR@10", "nDCG@10", "p50 ms"):
        table.add_column(column, justify="left" if column == "pipeline" else "right")
    for r in reports:
        table.add_row(
            r.name,
            f"{r.hit_at_5:.3f}",
            f"{r.p_at_5:.3f}",
            f"{r.recall_at_10:.3f}",
            f"{r.mrr_at_10:.3f}",
            f"{r.ndcg_at_10:.3f}",
            f"{r.p50_ms:.0f}",
        )
    console.print(table)
    for r in reports:
        if r.decline_rate_unanswerable is not None:
            console.print(
                f"{r.name}: declined {r.decline_rate_unanswerable:.0%} of "
                f"{r.unanswerable_queries} unanswerable queries; "
                f"false declines {r.false_decline_rate or 0:.0%} of {r.queries} answerable"
            )
        if (suggestion := r.suggested_threshold) is not None:
            caught = (
                f"; it would decline {suggestion.declines} of {suggestion.unanswerable} "
                "unanswerable"
                if suggestion.unanswerable
                else "; add questions with no relevant document to see what it catches"
            )
            console.print(
                f"{r.name}: suggested SUPPORTBOT_ANSWERABLE_THRESHOLD={suggestion.threshold:.4g} "
                f"(the highest with ≤ 5% false declines: {suggestion.false_declines} of "
                f"{suggestion.answerable}{caught})"
            )
        if r.reranked_fraction is not None and r.reranked_fraction < 1:
            console.print(f"[yellow]{r.name}: reranked only {r.reranked_fraction:.0%}[/yellow]")


def cross_validation(console: Console, report: CrossValidationReport) -> None:
    """Shipped settings vs tuned out of fold, with 95% bootstrap intervals."""
    table = Table(
        title=f"Out-of-fold quality ({report.folds} folds, {report.answerable} answerable "
        "questions, 95% bootstrap intervals)"
    )
    for column in ("pipeline", "settings", "nDCG@10", "Hit@5", "MRR@10"):
        table.add_column(column, justify="left" if column in ("pipeline", "settings") else "right")
    for result in report.pipelines:
        for label, scores in (
            ("shipped", result.shipped_scores),
            ("tuned OOF", result.out_of_fold),
        ):
            table.add_row(
                result.name,
                label,
                *(str(scores[name]) for name in ("ndcg_at_10", "hit_at_5", "mrr_at_10")),
            )
    console.print(table)
    for result in report.pipelines:
        console.print(
            f"{result.name}: shipped = {result.shipped.describe()}; tuning out of fold "
            f"changes nDCG@10 by {result.gain_over_shipped} (paired)"
        )
        picks = sorted({config.describe() for config in result.chosen})
        if picks != [result.shipped.describe()]:
            console.print("  folds chose: " + " | ".join(picks))
    names = [result.name for result in report.pipelines]
    for first, second in (("hybrid", "dense"), ("hybrid", "bm25"), ("hybrid+rerank", "hybrid")):
        if first in names and second in names:
            console.print(
                f"{first} − {second}, nDCG@10 out of fold (paired): {report.compare(first, second)}"
            )


def calibration_in_force(console: Console, described: dict[str, object]) -> None:
    """Say which answerability calibration produced the decline figures."""
    origin = described.get("origin")
    if origin == "threshold":
        console.print(
            f"declines: best rerank score below {described['best_rerank_threshold']} "
            "(SUPPORTBOT_ANSWERABLE_THRESHOLD)"
        )
    elif origin == "none":
        console.print(
            f"declines: no calibration for {described.get('scored_by')} (never declines); "
            "run `supportbot calibrate` to fit one"
        )
    else:
        console.print(
            f"declines: {origin} calibration ({described.get('questions')} questions, "
            f"fitted {described.get('fitted_at')}), threshold {described.get('threshold')}"
        )


def decline_report(console: Console, report: DeclineReport, model: AnswerabilityModel) -> None:
    """Out-of-fold decline rates (95 % bootstrap intervals) and the fitted model."""
    table = Table(title=f"When to decline, out-of-fold ({report.folds} folds)")
    for column in ("questions", "declined", "rate", "95 % interval"):
        table.add_column(column, justify="left" if column == "questions" else "right")
    for label, rate in (
        ("unanswerable", report.declined_unanswerable),
        ("answerable (false declines)", report.declined_answerable),
    ):
        table.add_row(
            label,
            f"{rate.count} of {rate.of}",
            f"{rate.value:.0%}",
            f"{rate.low:.0%}–{rate.high:.0%}",
        )
    console.print(table)
    weights = ", ".join(
        f"{name} {weight:+.2f}"
        for name, weight in zip(model.features, model.fit.weights, strict=True)
    )
    console.print(
        f"model on {model.questions} questions ({model.scored_by}): standardised weights "
        f"{weights}; declines below score {model.threshold:.3f}"
    )
