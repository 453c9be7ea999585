"""OpenTelemetry: spans per request and per pipeline stage in one trace (in-memory
exporter, real server), off by default, and trace context carried into job messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot.api.app import create_app
from bot.observability.tracing import (
    TRACER_NAME,
    build_tracer_provider,
    context_from,
    trace_headers,
)
from bot.services import build_services
from bot.settings import Settings
from tests.support.live_server import serve
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings
from workers.tasks import trace_headers_of

pytestmark = pytest.mark.model

STAGES = {"retrieve", "bm25", "embed", "knn", "fuse", "rerank", "generate"}


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def client(
    sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory, exporter: InMemorySpanExporter
) -> Iterator[httpx.Client]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("tracing-data"))
    settings = sample_settings(data_dir)
    provider = build_tracer_provider(settings, exporter)
    services = build_services(settings, tracer_provider=provider)
    with (
        serve(create_app(settings, services)) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield c


def test_a_chat_request_is_one_trace_with_a_span_per_stage(
    client: httpx.Client, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    reply = client.post("/v1/chat", json={"kb": SAMPLE_KB, "message": "how do I restore a page?"})
    assert reply.status_code == 200, reply.text
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.name == "POST /v1/chat"]
    assert len(server) == 1, [s.name for s in spans]
    trace_id = server[0].context.trace_id
    in_trace = {s.name: s for s in spans if s.context.trace_id == trace_id}
    assert set(in_trace) >= STAGES, set(in_trace)
    retrieve = in_trace["retrieve"]
    for stage in ("bm25", "embed", "knn", "fuse"):
        assert in_trace[stage].parent is not None
        assert in_trace[stage].parent.span_id == retrieve.context.span_id, stage
    assert in_trace["rerank"].attributes is not None
    assert in_trace["rerank"].attributes["reranked"] is True
    assert {s.instrumentation_scope.name for s in in_trace.values() if s.name in STAGES} == {
        TRACER_NAME
    }


def test_tracing_is_off_without_an_endpoint(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert build_tracer_provider(settings) is None
    on = Settings(_env_file=None, data_dir=tmp_path, otlp_endpoint="http://127.0.0.1:4318")  # type: ignore[call-arg]
    assert build_tracer_provider(on) is not None


def test_job_messages_carry_the_trace_context() -> None:
    exporter = InMemorySpanExporter()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    provider = build_tracer_provider(settings, exporter)
    assert provider is not None
    tracer = provider.get_tracer(TRACER_NAME)
    app = Celery("trace-test", set_as_current=False)
    app.conf.task_always_eager = True
    seen: dict[str, object] = {}

    @app.task(bind=True)
    def job(self) -> None:  # type: ignore[no-untyped-def]
        with tracer.start_as_current_span("job", context=context_from(trace_headers_of(self))):
            seen["ok"] = True

    with tracer.start_as_current_span("POST /admin/kbs/{kb}/ingest") as request_span:
        headers = trace_headers()
    assert headers["traceparent"].split("-")[1] == format(
        request_span.get_span_context().trace_id, "032x"
    )
    job.apply(headers=headers)
    assert seen["ok"]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["job"].context.trace_id == spans["POST /admin/kbs/{kb}/ingest"].context.trace_id
    assert spans["job"].parent is not None
    assert spans["job"].parent.span_id == request_span.get_span_context().span_id
