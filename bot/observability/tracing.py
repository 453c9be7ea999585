"""OpenTelemetry traces: off unless `otlp_endpoint` is set (or a test passes an exporter).

When on, every HTTP request gets a server span (FastAPI instrumentation), every pipeline
stage a child span (condense, embed, bm25, knn, fuse, rerank, generate), and a background
job a span that continues the trace of the request that queued it: the submitting side
injects W3C `traceparent` headers into the Celery message (`trace_headers`), the worker
extracts them (`context_from`).

Off, nothing is imported from the SDK and stage code skips spans entirely (`stage_span`
with no tracer is a no-op), so tracing costs nothing when unused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.trace import Span, Tracer

from bot.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACER_NAME = "supportbot"


def build_tracer_provider(
    settings: Settings, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """A provider exporting to the OTLP/HTTP collector, or to `exporter` (tests); else None."""
    if exporter is None and not settings.otlp_endpoint:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    assert settings.otlp_endpoint is not None
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, exclude_spans=["receive", "send"], excluded_urls="metrics"
    )


@contextmanager
def stage_span(
    tracer: Tracer | None, name: str, *, current: bool = True, **attributes: str | int
) -> Iterator[Span | None]:
    """A child span for one pipeline stage, or nothing at all when tracing is off.

    `current=False` for a block that yields from an async generator: the span is not made
    the current one, since the consumer may resume the generator in another context."""
    if tracer is None:
        yield None
        return
    if current:
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span
        return
    span = tracer.start_span(name, attributes=attributes)
    try:
        yield span
    except BaseException as exc:
        span.record_exception(exc)
        raise
    finally:
        span.end()


def trace_headers() -> dict[str, str]:
    """W3C trace context of the current span, to send along with a background job."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, object]) -> Context:
    """The trace context a job was queued under (empty: a new trace)."""
    carrier = {k: v for k, v in headers.items() if isinstance(v, str)}
    return propagate.extract(carrier)
