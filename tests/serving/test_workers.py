"""`supportbot serve --workers 2`, for real: two processes, and every piece of state they
must agree on (rate limits, conversations, webhook idempotency, metrics, the index) is the
same whichever of them answers. Each response names its worker (`X-Worker-PID`), so every
test checks that both workers took part, else it would prove nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.api.request_observer import WORKER_HEADER
from tests.conftest import SAMPLE_HELP_CENTER
from tests.support.helpdesk_stub_server import supportbot_headers
from tests.support.redis_fixtures import RedisServer
from tests.support.sample_kb import SAMPLE_KB, copy_sample
from tests.support.served import SUPPORTBOT, serve_env, served

pytestmark = pytest.mark.timeout(1200)  # the first test waits for two workers to load models

WORKERS = 2
ADMIN_KEY = "test-admin-key-for-workers"
WEBHOOK_SECRET = "workers-webhook-secret"
BURST = 5
ADMIN = {"X-Supportbot-Key": ADMIN_KEY}
NEW_ARTICLE = """# Quokka mode

Quokka mode turns every page background into a cheerful sand colour. Open Settings,
then Appearance, and switch on Quokka mode; it syncs to all of your devices.
"""


@dataclass
class Server:
    url: str
    env: dict[str, str]
    data_dir: Path
    log: Path


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def server(
    request: pytest.FixtureRequest, sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Two workers over a copy of the sample KB; shared state in Redis or in the data dir."""
    root = tmp_path_factory.mktemp(f"workers-{request.param}")
    data_dir = copy_sample(sample_kb_dir, root / "data")
    settings = {
        "admin_api_key": ADMIN_KEY,
        "rate_limit_per_minute": "1",
        "rate_limit_burst": str(BURST),
        "generic_webhooks": json.dumps(
            [{"name": "crm", "kb": SAMPLE_KB, "secret": WEBHOOK_SECRET}]
        ),
    }
    redis = None
    if request.param == "redis":
        redis = RedisServer()
        redis.start()
        settings["redis_url"] = redis.url
    env = serve_env(data_dir, **settings)
    log = root / "serve.log"
    try:
        with served(env, workers=WORKERS, log=log, cwd=root) as url:
            yield Server(url, env, data_dir, log)
    finally:
        if redis is not None:
            redis.stop()
            redis.cleanup()


def until_both_workers(
    call: Callable[[httpx.Client], httpx.Response], *, at_least: int = 1, limit: int = 200
) -> list[httpx.Response]:
    """Repeat `call` on fresh connections (each is accepted by whichever worker is quickest)
    until both workers answered, and at least `at_least` times."""
    responses: list[httpx.Response] = []
    while len({r.headers[WORKER_HEADER] for r in responses}) < WORKERS or len(responses) < at_least:
        assert len(responses) < limit, "one worker answered every request"
        with httpx.Client(timeout=120) as client:
            responses.append(call(client))
    return responses


def test_rate_limits_hold_across_workers(server: Server) -> None:
    responses = until_both_workers(lambda c: c.get(f"{server.url}/v1/kbs"), at_least=3 * BURST)
    allowed = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(allowed) == BURST, "each worker kept a bucket of its own"
    assert len(allowed) + len(limited) == len(responses)
    assert limited[0].json()["error"]["code"] == "rate_limited"


def test_a_conversation_continues_on_whichever_worker_answers(server: Server) -> None:
    """Turn 2 is searched with turn 1's question only if its worker can read the history."""
    crossed = 0
    for attempt in range(20):
        conversation = f"conversation-{attempt:03d}"
        first = httpx.post(
            f"{server.url}/v1/chat",
            json={
                "kb": SAMPLE_KB,
                "message": "How do I restore a page I deleted?",
                "conversation_id": conversation,
            },
            headers=ADMIN,
            timeout=120,
        )
        second = httpx.post(
            f"{server.url}/v1/chat",
            json={"kb": SAMPLE_KB, "message": "and on my phone?", "conversation_id": conversation},
            headers=ADMIN,
            timeout=120,
        )
        assert first.status_code == second.status_code == 200, second.text
        body = second.json()
        assert body["query_rewrite"] == "heuristic", body
        assert "restore a page" in body["searched_query"], body
        if first.headers[WORKER_HEADER] != second.headers[WORKER_HEADER]:
            crossed += 1
            if crossed == 2:
                return
    pytest.fail("no conversation had its turns answered by different workers")


def test_a_replayed_webhook_is_handled_once_whichever_worker_gets_it(server: Server) -> None:
    payload = {
        "question": "how can I export my workspace?",
        "conversation_id": "hook-1",
        "event_id": "evt-workers-1",
    }
    body = json.dumps(payload).encode()

    def deliver(client: httpx.Client) -> httpx.Response:
        headers = {**supportbot_headers(WEBHOOK_SECRET, body), "X-Supportbot-Integration": "crm"}
        return client.post(f"{server.url}/v1/webhooks/generic", content=body, headers=headers)

    with httpx.Client(timeout=120) as client:
        first = deliver(client)
    assert first.status_code == 200 and first.json()["citations"], first.text
    replays = until_both_workers(deliver, at_least=4)
    assert {r.json().get("status") for r in replays} == {"duplicate"}


def test_metrics_add_up_every_worker(server: Server) -> None:
    """/healthz is called by this test only: its count is exactly what was sent."""
    responses = until_both_workers(lambda c: c.get(f"{server.url}/healthz"), at_least=10)
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    counted = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "supportbot_http_requests_total"
        and sample.labels.get("route") == "/healthz"
    }
    assert counted == {"200": float(len(responses))}


def test_an_index_changed_by_another_process_is_served_by_every_worker(
    server: Server, tmp_path: Path
) -> None:
    """Both workers have the index in memory (the dense matrix) when the CLI, a third
    process, adds an article; every worker's next search finds it."""

    def search(client: httpx.Client) -> httpx.Response:
        query = {"kb": SAMPLE_KB, "query": "quokka mode sand colour background", "mode": "dense"}
        return client.post(f"{server.url}/v1/search", json=query, headers=ADMIN)

    def sources(response: httpx.Response) -> set[str]:
        assert response.status_code == 200, response.text
        return {result["source_id"] for result in response.json()["results"]}

    before = until_both_workers(search)
    assert all("quokka-mode.md" not in sources(r) for r in before)

    source = tmp_path / "help-center"
    subprocess.run(["cp", "-r", str(SAMPLE_HELP_CENTER), str(source)], check=True)
    (source / "quokka-mode.md").write_text(NEW_ARTICLE, encoding="utf-8")
    ingest = subprocess.run(
        [str(SUPPORTBOT), "ingest", str(source), "--kb", SAMPLE_KB],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr

    after = until_both_workers(search, at_least=4)
    assert all("quokka-mode.md" in sources(r) for r in after)


def test_background_jobs_are_refused_with_what_to_do_without_a_broker(server: Server) -> None:
    """Per-worker job runners would lose jobs between workers: every worker refuses them."""
    responses = until_both_workers(
        lambda c: c.get(f"{server.url}/admin/jobs", headers=ADMIN), at_least=2
    )
    for response in responses:
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "jobs_unavailable"
        assert "SUPPORTBOT_CELERY_BROKER_URL" in error["message"]
    jobs = httpx.get(f"{server.url}/readyz", timeout=30).json()["components"]["jobs"]
    assert jobs["ok"] is False and "--workers 1" in jobs["detail"]
