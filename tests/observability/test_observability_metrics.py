"""GET /metrics on a real server: requests by route template, pipeline stages, answers,
declines, rerank cache, jobs and ingestion; and metric files shared by several processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.api.app import create_app
from tests.support.admin_client import ADMIN_KEY, AUTH, wait_job
from tests.support.live_server import serve
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def base_url(sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("metrics-data"))
    settings = sample_settings(
        data_dir,
        admin_api_key=ADMIN_KEY,
        rate_limit_per_minute=100_000.0,
        rate_limit_burst=10_000,
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template_and_status(client: httpx.Client) -> None:
    before = scrape(client)
    assert client.post("/v1/search", json={"kb": SAMPLE_KB, "query": "reset password"}).is_success
    assert client.get(f"/admin/kbs/{SAMPLE_KB}", headers=AUTH).is_success
    assert client.get("/admin/kbs/no-such-kb", headers=AUTH).status_code == 404
    assert client.get("/scanner/probe/12345").status_code == 404
    after = scrape(client)

    def grew(route: str, method: str, status: str) -> float:
        labels = {"route": route, "method": method, "status": status}
        name = "supportbot_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("/v1/search", "POST", "200") == 1
    assert grew("/admin/kbs/{kb}", "GET", "200") == 1
    assert grew("/admin/kbs/{kb}", "GET", "404") == 1
    assert grew("unmatched", "GET", "404") == 1
    routes = {dict(labels).get("route") for _, labels in after}
    assert "/admin/kbs/no-such-kb" not in routes and "/scanner/probe/12345" not in routes
    duration = value(
        after,
        "supportbot_http_request_duration_seconds_count",
        route="/v1/search",
        method="POST",
        status="200",
    )
    assert duration >= 1


def test_chat_reports_every_stage_and_the_answer(client: httpx.Client) -> None:
    before = scrape(client)
    reply = client.post("/v1/chat", json={"kb": SAMPLE_KB, "message": "how do I restore a page?"})
    assert reply.status_code == 200, reply.text
    after = scrape(client)
    name = "supportbot_pipeline_stage_duration_seconds_count"
    for stage in ("embed", "bm25", "knn", "fuse", "rerank", "generate"):
        assert value(after, name, stage=stage) - value(before, name, stage=stage) == 1, stage
    assert value(after, "supportbot_answers_total", mode="extractive", result="answered") > 0
    assert value(after, "supportbot_rerank_total", result="applied") > value(
        before, "supportbot_rerank_total", result="applied"
    )


def test_rerank_score_cache_hits_are_counted(client: httpx.Client) -> None:
    query = {"kb": SAMPLE_KB, "query": "export a workspace to markdown"}
    assert client.post("/v1/search", json=query).is_success
    before = scrape(client)
    assert client.post("/v1/search", json=query).is_success
    after = scrape(client)
    hits = {"cache": "rerank_scores", "result": "hit"}
    misses = {"cache": "rerank_scores", "result": "miss"}
    name = "supportbot_cache_lookups_total"
    assert value(after, name, **hits) - value(before, name, **hits) > 0
    assert value(after, name, **misses) == value(before, name, **misses)


def test_a_request_for_a_person_counts_as_a_decline(client: httpx.Client) -> None:
    before = scrape(client)
    reply = client.post("/v1/chat", json={"kb": SAMPLE_KB, "message": "let me talk to a human"})
    assert reply.json()["mode"] == "declined"
    after = scrape(client)
    name, labels = "supportbot_declines_total", {"reason": "handoff_requested"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_ingest_jobs_report_documents_chunks_and_duration(client: httpx.Client) -> None:
    before = scrape(client)
    article = b"# Night mode\n\nTurn on night mode from Settings, Appearance, Night mode.\n"
    response = client.post(
        f"/admin/kbs/{SAMPLE_KB}/uploads",
        headers=AUTH,
        files=[("files", ("appearance/night-mode.md", article, "text/markdown"))],
    )
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["job"]["id"])
    assert job["state"] == "succeeded", job
    after = scrape(client)
    docs = {"result": "new"}
    assert (
        value(after, "supportbot_ingest_documents_total", **docs)
        - value(before, "supportbot_ingest_documents_total", **docs)
        == 1
    )
    assert value(after, "supportbot_ingest_chunks_total") > value(
        before, "supportbot_ingest_chunks_total"
    )
    finished = {"kind": "ingest", "status": "succeeded"}
    assert (
        value(after, "supportbot_job_duration_seconds_count", **finished)
        - value(before, "supportbot_job_duration_seconds_count", **finished)
        == 1
    )
    assert value(after, "supportbot_jobs", state="queued") == 0


WORKER = """
import sys
from pathlib import Path
from bot.observability.prometheus import PrometheusMetrics
metrics = PrometheusMetrics(Path(sys.argv[1]))
metrics.http_request("/v1/search", "POST", 200, 0.01)
metrics.stage_timings({"rerank": 12.0})
"""

READER = """
import sys
from pathlib import Path
from bot.observability.prometheus import PrometheusMetrics
sys.stdout.write(PrometheusMetrics(Path(sys.argv[1])).render()[0].decode())
"""


def test_worker_processes_share_metric_files(tmp_path: Path) -> None:
    from bot.observability.multiprocess import ENV_VAR

    env = {**os.environ, ENV_VAR: str(tmp_path)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", WORKER, str(tmp_path)], env=env, check=True)
    text = subprocess.run(
        [sys.executable, "-c", READER, str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = {"route": "/v1/search", "method": "POST", "status": "200"}
    assert value(samples, "supportbot_http_requests_total", **labels) == 3
    assert value(samples, "supportbot_pipeline_stage_duration_seconds_count", stage="rerank") == 3


def test_the_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    import json
    import re

    from bot.observability.prometheus import PrometheusMetrics

    dashboard = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/supportbot.json"
    panels = json.loads(dashboard.read_text())["panels"]
    queried = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"supportbot_\w+", target["expr"])
    }
    exposed = set()
    for family in PrometheusMetrics().registry.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
            "gauge": ("",),
        }[family.type]
        exposed |= {family.name + suffix for suffix in suffixes}
    assert queried and queried <= exposed, queried - exposed
