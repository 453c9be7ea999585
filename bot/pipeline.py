"""The chat pipeline: query (condensed) → retrieve → fuse → rerank → generate.

Knows only the role protocols; `bot.services.build_services` picks the backends.
Failures of the reranker or the LLM degrade the answer and say so; they never raise.
A follow-up is searched (and reranked) as the condenser's standalone query, but the
answer is written from the customer's own message and history.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from opentelemetry.trace import Tracer

from bot.answer import Answer, AnswerDelta, AnswerEvent, AnswerStart, SearchOutcome
from bot.answerability.estimator import AnswerabilityEstimator
from bot.domain import Candidate
from bot.errors import GenerationError, InvalidRequest, KnowledgeBaseNotFound
from bot.generation.citations import Citation, citations_for, cited_numbers
from bot.generation.decline import ModelDeclined
from bot.generation.protocol import Generator, Turn
from bot.observability.protocol import NO_OBSERVER, AnswerResult, DeclineReason, Observer
from bot.observability.tracing import stage_span
from bot.rerank.stage import RerankStage
from bot.retrieval.followup import CondensedQuery, QueryCondenser
from bot.retrieval.hybrid import HybridRetriever, RetrievalMode
from bot.retrieval.protocol import SearchBackend
from bot.settings import Settings

log = logging.getLogger(__name__)

DECLINE_TEXT = (
    "I couldn't find an answer to that in the help center. "
    "Would you like me to connect you with a person from our support team?"
)


@dataclass(frozen=True, slots=True)
class PipelineParams:
    final_k: int = 5
    max_query_chars: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineParams:
        return cls(
            final_k=settings.final_k,
            max_query_chars=settings.max_query_chars,
        )


def clean_query(query: str, max_chars: int) -> str:
    """Normalise whitespace and control characters; reject empty or oversized input.

    Only control characters (and lone surrogates, which the API never lets in) go: the
    API's VISIBLE_TEXT pattern accepts any other character, as text a customer may type.
    """
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in query)
    text = " ".join(text.split())
    if not text:
        raise InvalidRequest("the query is empty; type a question")
    if len(text) > max_chars:
        raise InvalidRequest(f"the query is {len(text)} characters; the limit is {max_chars}")
    return text


class SupportPipeline:
    def __init__(
        self,
        backend: SearchBackend,
        retriever: HybridRetriever,
        rerank_stage: RerankStage,
        generator: Generator,
        fallback_generator: Generator,
        condenser: QueryCondenser,
        params: PipelineParams,
        answerability: AnswerabilityEstimator,
        observer: Observer = NO_OBSERVER,
        tracer: Tracer | None = None,
    ) -> None:
        self._backend = backend
        self._retriever = retriever
        self._rerank = rerank_stage
        self._generator = generator
        self._fallback = fallback_generator
        self._condenser = condenser
        self._params = params
        self._observer = observer
        self._tracer = tracer
        self._answerability = answerability

    @property
    def answerability(self) -> AnswerabilityEstimator:
        return self._answerability

    @property
    def generator(self) -> Generator:
        return self._generator

    @property
    def retriever(self) -> HybridRetriever:
        return self._retriever

    @property
    def max_query_chars(self) -> int:
        return self._params.max_query_chars

    async def search(
        self,
        kb: str,
        query: str,
        *,
        mode: RetrievalMode = "hybrid",
        rerank: bool = True,
        top_k: int | None = None,
    ) -> SearchOutcome:
        query = clean_query(query, self._params.max_query_chars)
        top_k = top_k or self._params.final_k
        with stage_span(self._tracer, "retrieve", mode=mode):
            retrieved = await self._retriever.retrieve(kb, query, mode=mode)
        timings = {("retrieve" if k == "total" else k): v for k, v in retrieved.timings_ms.items()}
        if not retrieved.candidates:
            await self._backend.stats(kb)  # raises KnowledgeBaseNotFound for an unknown KB
        reranked, reason = False, "disabled by request" if not rerank else None
        ranked: list[Candidate] = retrieved.candidates
        if rerank and ranked:
            with stage_span(self._tracer, "rerank", candidates=len(ranked)) as span:
                outcome = await self._rerank.rerank(query, ranked)
                if span is not None:
                    span.set_attribute("reranked", outcome.reranked)
            ranked, reranked, reason = outcome.candidates, outcome.reranked, outcome.reason
            timings.update(
                {
                    ("rerank" if k == "total" else f"rerank_{k}"): v
                    for k, v in outcome.timings_ms.items()
                }
            )
        results = ranked[:top_k]
        started = time.perf_counter()
        # Judged on every reranked candidate, not only the `top_k` returned.
        verdict = await self._answerability.estimate(kb, query, ranked, reranked)
        timings["answerability"] = (time.perf_counter() - started) * 1000
        self._observer.searched(kb, query)
        self._observer.stage_timings(timings)
        return SearchOutcome(
            kb=kb,
            query=query,
            mode=mode,
            results=results,
            reranked=reranked,
            rerank_reason=reason,
            answerable=verdict.answerable,
            answerable_score=verdict.score,
            answerability_features=verdict.features,
            timings_ms={name: round(ms, 2) for name, ms in timings.items()},
        )

    async def answer(self, kb: str, question: str, history: Sequence[Turn] = ()) -> Answer:
        final: Answer | None = None
        async for event in self.answer_stream(kb, question, history):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    async def answer_stream(
        self, kb: str, question: str, history: Sequence[Turn] = ()
    ) -> AsyncIterator[AnswerEvent]:
        """Yield AnswerStart, then AnswerDelta pieces, then the complete Answer."""
        started = time.perf_counter()
        asked = clean_query(question, self._params.max_query_chars)
        with stage_span(self._tracer, "condense", turns=len(history)):
            condensed = await self._condenser.condense(asked, history)
        condense_ms = (time.perf_counter() - started) * 1000
        search = await self.search(kb, condensed.query, top_k=self._params.final_k)
        if history:
            search.timings_ms["condense"] = round(condense_ms, 2)
            self._observer.stage_timings({"condense": condense_ms})
        if condensed.note:
            self._observer.llm_error("condense")
        passages = search.results
        citations = citations_for(passages) if search.answerable else []
        yield AnswerStart(citations=citations, search=search)

        degraded: list[str] = [condensed.note] if condensed.note else []
        if search.rerank_reason and search.rerank_reason != "disabled by request":
            degraded.append(f"reranking skipped: {search.rerank_reason}")
        if not search.answerable:
            yield AnswerDelta(DECLINE_TEXT)
            yield self._final(DECLINE_TEXT, "declined", [], search, condensed, degraded, started)
            return

        parts: list[str] = []
        generator = self._generator
        generate_started = time.perf_counter()
        try:
            with stage_span(self._tracer, "generate", current=False, generator=generator.mode):
                async for piece in generator.stream(question, passages, history):
                    parts.append(piece)
                    yield AnswerDelta(piece)
        except ModelDeclined:
            # The LLM read the passages and found no answer: hand off, cite nothing.
            yield AnswerDelta(f"\n\n{DECLINE_TEXT}" if parts else DECLINE_TEXT)
            yield self._final(DECLINE_TEXT, "declined", [], search, condensed, degraded, started)
            return
        except GenerationError as exc:
            log.warning("generation failed, answering extractively: %s", exc)
            self._observer.llm_error(exc.code)
            degraded.append(f"language model unavailable: {exc.message}")
            if parts:
                # Part of an answer already reached the user; say it is cut short.
                notice = "\n\n(The answer was interrupted. The passages below may help.)"
                parts.append(notice)
                yield AnswerDelta(notice)
            generator = self._fallback
            async for piece in generator.stream(question, passages, history):
                parts.append(piece)
                yield AnswerDelta(piece)
        text = "".join(parts)
        generate_ms = (time.perf_counter() - generate_started) * 1000
        search.timings_ms["generate"] = round(generate_ms, 2)
        self._observer.stage_timings({"generate": generate_ms})
        yield self._final(text, generator.mode, citations, search, condensed, degraded, started)

    def _final(
        self,
        text: str,
        mode: str,
        citations: list[Citation],
        search: SearchOutcome,
        condensed: CondensedQuery,
        degraded: list[str],
        started: float,
    ) -> Answer:
        timings = dict(search.timings_ms)
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        result: AnswerResult = "answered"
        decline: DeclineReason | None = None
        if mode == "declined":
            result = "declined"
            if not search.results:
                decline = "no_results"
            else:
                decline = "llm_declined" if search.answerable else "below_threshold"
        elif degraded:
            result = "degraded"
        self._observer.answer(mode, result, decline)
        return Answer(
            text=text,
            mode=mode,  # type: ignore[arg-type]
            citations=citations,
            cited=cited_numbers(text, limit=len(citations)),
            search=search,
            handoff_suggested=mode == "declined",
            degraded=degraded,
            timings_ms=timings,
            query_rewrite=condensed.rewrite,
        )


__all__ = ["DECLINE_TEXT", "KnowledgeBaseNotFound", "PipelineParams", "SupportPipeline"]
