"""`supportbot serve --workers 2`, for real: two processes, and every piece of state they
must agree on (rate limits, conversations, webhook idempotency, metrics, the index, the
background jobs) is the same whichever of them answers. Each response names its worker
(`X-Worker-PID`), so every test checks that both workers took part, else it would prove
nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.api.request_observer import WORKER_HEADER
from tests.conftest import SAMPLE_HELP_CENTER
from tests.support.helpdesk_stub_server import supportbot_headers
from tests.support.kb_corpus import write_corpus
from tests.support.redis_fixtures import RedisServer
from tests.support.sample_kb import SAMPLE_KB, copy_sample
from tests.support.served import SUPPORTBOT, serve_env, served
from tests.support.sqlite_jobs import runner_pid

pytestmark = pytest.mark.timeout(1200)  # the first test waits for two workers to load models

WORKERS = 2
ADMIN_KEY = "test-admin-key-for-workers"
WEBHOOK_SECRET = "workers-webhook-secret"
BURST = 5
ADMIN = {"X-Supportbot-Key": ADMIN_KEY}
FINISHED = ("succeeded", "failed", "cancelled")
KILL_DOCUMENTS = 200
"""Enough that the ingest is still running when the test kills its worker."""
TAKEOVER_S = 30.0
"""Bound on a killed runner's job staying `running` (a poll is 0.25 s; the machine is busy)."""
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
    sources: Path


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def server(
    request: pytest.FixtureRequest, sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Two workers over a copy of the sample KB; shared state in Redis or in the data dir."""
    root = tmp_path_factory.mktemp(f"workers-{request.param}")
    data_dir = copy_sample(sample_kb_dir, root / "data")
    sources = root / "sources"
    settings = {
        "sources_root": str(sources),
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
            yield Server(url, env, data_dir, log, sources)
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


def poll_job(server: Server, job_id: str, timeout_s: float = 300) -> list[httpx.Response]:
    """GET the job on fresh connections (so on either worker) until it is finished."""
    polls: list[httpx.Response] = []
    deadline = time.monotonic() + timeout_s
    while not polls or polls[-1].json()["state"] not in FINISHED:
        assert time.monotonic() < deadline, polls[-1].json()
        with httpx.Client(timeout=60) as client:
            polls.append(client.get(f"{server.url}/admin/jobs/{job_id}", headers=ADMIN))
        assert polls[-1].status_code == 200, polls[-1].text
        time.sleep(0.05)
    return polls


def register_source(server: Server, kb: str) -> str:
    """Create `kb` and register its folder under the sources root; the ingest job's id."""
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
        created = client.post("/admin/kbs", json={"kb": kb})
        assert created.status_code == 201, created.text
        registered = client.put(f"/admin/kbs/{kb}/source", json={"path": kb})
    assert registered.status_code == 202, registered.text
    return str(registered.json()["job"]["id"])


def test_a_job_submitted_to_one_worker_is_run_once_and_served_by_every_worker(
    server: Server,
) -> None:
    """No broker: the ingest is accepted by one worker, polled on both, run by one, and its
    content is searchable on both."""
    kb = "wombats"
    ids = write_corpus(server.sources / kb, 6, marker="wombatling")
    job_id = register_source(server, kb)

    polls = poll_job(server, job_id)
    done = polls[-1].json()
    assert done["state"] == "succeeded", done
    assert done["result"]["new"] == len(ids) and done["result"]["failed_count"] == 0
    seen_states = [p.json()["state"] for p in polls]
    assert seen_states == sorted(seen_states, key=["queued", "running", "succeeded"].index)

    answers = until_both_workers(
        lambda c: c.get(f"{server.url}/admin/jobs/{job_id}", headers=ADMIN), at_least=4
    )
    assert all(a.json() == done for a in answers), "every worker reads the same job"
    listed = until_both_workers(
        lambda c: c.get(f"{server.url}/admin/jobs", params={"kb": kb}, headers=ADMIN)
    )
    assert all([job["id"] for job in r.json()] == [job_id] for r in listed)

    def search(client: httpx.Client) -> httpx.Response:
        query = {"kb": kb, "query": "which article mentions wombatling", "mode": "bm25"}
        return client.post(f"{server.url}/v1/search", json=query, headers=ADMIN)

    for response in until_both_workers(search, at_least=4):
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["source_id"] == "topic-000.md"
    jobs = httpx.get(f"{server.url}/readyz", timeout=30).json()["components"]["jobs"]
    assert jobs == {"name": "sqlite", "ok": True, "detail": None}


def test_a_reindex_run_by_one_worker_is_served_by_every_worker(server: Server) -> None:
    """Both workers have served the KB (its matrix cached) when a re-index through the API
    swaps in a rebuilt index; every worker's next search finds only the new content."""
    kb = "numbats"
    write_corpus(server.sources / kb, 4, marker="numbatling")
    assert poll_job(server, register_source(server, kb))[-1].json()["state"] == "succeeded"

    def hits(marker: str) -> Callable[[httpx.Client], httpx.Response]:
        def search(client: httpx.Client) -> httpx.Response:
            query = {"kb": kb, "query": f"which article mentions {marker}", "mode": "hybrid"}
            return client.post(f"{server.url}/v1/search", json=query, headers=ADMIN)

        return search

    def mentions(response: httpx.Response, marker: str) -> bool:
        assert response.status_code == 200, response.text
        return any(marker in r["text"] for r in response.json()["results"])

    assert all(mentions(r, "numbatling") for r in until_both_workers(hits("numbatling")))
    write_corpus(server.sources / kb, 4, marker="echidnaling")
    with httpx.Client(timeout=60) as client:
        queued = client.post(f"{server.url}/admin/kbs/{kb}/reindex", headers=ADMIN)
    assert queued.status_code == 202, queued.text
    done = poll_job(server, queued.json()["job"]["id"])[-1].json()
    assert done["state"] == "succeeded" and done["result"]["documents"] == 4, done
    for response in until_both_workers(hits("echidnaling"), at_least=4):
        assert mentions(response, "echidnaling") and not mentions(response, "numbatling")


def test_a_killed_job_runner_leaves_no_job_running(server: Server) -> None:
    """The worker running an ingest is killed (SIGKILL, as the OOM killer would): the other
    worker takes over within a poll and marks the job failed, saying why. Last in this
    module: the supervisor's replacement worker loads its models for a while after."""
    kb = "killed"
    write_corpus(server.sources / kb, KILL_DOCUMENTS)
    job_id = register_source(server, kb)
    deadline = time.monotonic() + 300
    while (job := httpx.get(f"{server.url}/admin/jobs/{job_id}", headers=ADMIN).json())[
        "state"
    ] != "running":
        assert job["state"] == "queued" and time.monotonic() < deadline, job
        time.sleep(0.02)
    runner = runner_pid(server.data_dir, job_id)
    assert runner is not None
    os.kill(runner, signal.SIGKILL)
    killed_at = time.monotonic()

    failed = poll_job(server, job_id, timeout_s=TAKEOVER_S)[-1].json()
    assert time.monotonic() - killed_at < TAKEOVER_S
    assert failed["state"] == "failed", failed
    assert failed["error"].startswith("job_abandoned:"), failed
    assert runner_pid(server.data_dir, job_id) == runner, "the row still names who died"
