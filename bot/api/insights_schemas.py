"""Wire schema of GET /admin/insights."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from bot.insights.report import InsightsReport


class QuestionGroupOut(BaseModel):
    question: str = Field(description="The most frequent wording.")
    count: int
    variants: list[str] = Field(description="Other wordings grouped with it (similar meaning).")


class ThumbsDownOut(BaseModel):
    question: str
    answer: str
    sources: list[str] = Field(description="Source ids of the articles the answer cited.")
    comment: str | None
    at: str


class CitedArticleOut(BaseModel):
    source_id: str
    count: int


class InsightsOut(BaseModel):
    kb: str
    since: datetime
    asked: int = Field(description="Questions asked (chat turns) since `since`.")
    answered: int
    declined: int = Field(description="No good answer in the help center.")
    handoff_requested: int = Field(description="The customer asked for a person.")
    handed_off: int = Field(description="Turns where a person was reached.")
    deflection_rate: float | None = Field(description="answered / asked; null with no questions.")
    declined_questions: list[QuestionGroupOut] = Field(
        description="Declined questions, near-duplicates grouped, most frequent first: "
        "the articles worth writing."
    )
    thumbs_down: list[ThumbsDownOut] = Field(description="Answers rated unhelpful, newest first.")
    cited_articles: list[CitedArticleOut] = Field(description="Most cited articles first.")

    @classmethod
    def from_report(cls, report: InsightsReport) -> InsightsOut:
        return cls(
            kb=report.kb,
            since=datetime.fromtimestamp(report.since, UTC),
            asked=report.asked,
            answered=report.answered,
            declined=report.declined,
            handoff_requested=report.handoff_requested,
            handed_off=report.handed_off,
            deflection_rate=report.deflection_rate,
            declined_questions=[
                QuestionGroupOut(question=g.question, count=g.count, variants=g.variants)
                for g in report.declined_questions
            ],
            thumbs_down=[
                ThumbsDownOut(
                    question=t.question,
                    answer=t.answer,
                    sources=t.sources,
                    comment=t.comment,
                    at=t.at,
                )
                for t in report.thumbs_down
            ],
            cited_articles=[
                CitedArticleOut(source_id=s, count=c) for s, c in report.cited_articles
            ],
        )
