"""`supportbot insights`: the admin report in the terminal (or as JSON)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bot.api.insights_schemas import InsightsOut


def show(console: Console, report: InsightsOut) -> None:
    rate = "n/a" if report.deflection_rate is None else f"{report.deflection_rate:.0%}"
    console.print(
        f"[bold]{report.kb}[/bold] since {report.since:%Y-%m-%d %H:%M} UTC: "
        f"{report.asked} questions, {report.answered} answered, {report.declined} declined, "
        f"{report.handoff_requested} asked for a person, {report.handed_off} handed off; "
        f"deflection {rate}"
    )
    if report.declined_questions:
        table = Table(title="Declined questions (articles to write)", title_justify="left")
        table.add_column("times", justify="right")
        table.add_column("question")
        table.add_column("also asked as", style="dim")
        for group in report.declined_questions:
            table.add_row(str(group.count), group.question, "; ".join(group.variants[:3]))
        console.print(table)
    if report.thumbs_down:
        table = Table(title="Thumbs-down answers", title_justify="left")
        table.add_column("when", style="dim")
        table.add_column("question")
        table.add_column("articles cited")
        table.add_column("comment", style="dim")
        for vote in report.thumbs_down:
            table.add_row(vote.at, vote.question, ", ".join(vote.sources), vote.comment or "")
        console.print(table)
    if report.cited_articles:
        table = Table(title="Most cited articles", title_justify="left")
        table.add_column("times", justify="right")
        table.add_column("article")
        for article in report.cited_articles:
            table.add_row(str(article.count), article.source_id)
        console.print(table)
