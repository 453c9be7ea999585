"""Latency at the API edge: key checks, the Zendesk webhook, the OpenAI-compatible endpoint.

    .venv/bin/python -m benchmarks.edge_latency [DATA_DIR]

DATA_DIR holds an already ingested `sample` KB (examples/help-center); without it the
sample is ingested into a temporary folder first (10-20 s). Runs the real app under
uvicorn, a local Zendesk stub, and the 24 questions of examples/help-center-questions.jsonl.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

from bot.api.app import create_app
from bot.security.keystore import KeyStore
from tests.support.helpdesk_stub_server import HelpdeskStubServer, ticket_created, zendesk_headers
from tests.support.live_server import serve
from tests.support.sample_kb import copy_sample, ingest_sample, sample_settings

QUESTIONS = Path("examples/help-center-questions.jsonl")
SHOP = "https://shop.example.com"


def summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    p50 = statistics.median(ordered)
    return f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms (n={len(ordered)})"


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    data = copy_sample(Path(sys.argv[1]), scratch) if len(sys.argv) > 1 else ingest_sample(scratch)
    store = KeyStore(data / "keys.json")
    _, key = store.create("widget", kb="sample", origins=(SHOP,))
    checks = 2000
    started = time.perf_counter()
    for _ in range(checks):
        store.authenticate(key)
    print(f"KeyStore.authenticate: {(time.perf_counter() - started) / checks * 1e6:.1f} µs per key")

    questions = [json.loads(line)["query"] for line in QUESTIONS.read_text().splitlines() if line]
    with HelpdeskStubServer(zendesk_token="tok") as stub:
        account = {
            "account_id": 1,
            "kb": "sample",
            "base_url": stub.url,
            "email": "bot@acme.example",
            "api_token": "tok",
            "webhook_secret": "sec",
        }
        settings = sample_settings(data, rate_limit_burst=10_000, zendesk_accounts=[account])
        with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
            http.post("/v1/search", json={"kb": "sample", "query": "warm up"})
            webhook = []
            for i, question in enumerate(questions):
                body = json.dumps(
                    ticket_created(1, 100 + i, "Question", question, f"e{i}")
                ).encode()
                headers = zendesk_headers("sec", body)
                webhook.append(
                    timed(
                        lambda b=body, h=headers: http.post(
                            "/v1/webhooks/zendesk", content=b, headers=h
                        )
                    )
                )
            print("Zendesk webhook (verify, answer, PUT note):", summary(webhook))

            keyed_headers = {"Authorization": f"Bearer {key}", "Origin": SHOP}
            cold, anonymous, keyed = [], [], []
            for question in questions:  # first sight: embedding and reranking computed
                payload = {"kb": "sample", "query": question}
                cold.append(timed(lambda p=payload: http.post("/v1/search", json=p)))
            print("/v1/search, a question not seen before:", summary(cold))
            # Now cached: rerank scores and the query's vectors (recent-query cache).
            for question in questions:
                payload = {"kb": "sample", "query": question}
                anonymous.append(timed(lambda p=payload: http.post("/v1/search", json=p)))
                keyed.append(
                    timed(lambda p=payload: http.post("/v1/search", json=p, headers=keyed_headers))
                )
            print("/v1/search anonymous, asked again:", summary(anonymous))
            print("/v1/search, widget key (auth, origin, KB scope, 2 buckets):", summary(keyed))

            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            whole, first_delta = [], []
            for question in questions:
                messages = [{"role": "user", "content": question}]
                whole.append(
                    timed(
                        lambda m=messages: client.chat.completions.create(
                            model="sample", messages=m
                        )
                    )  # type: ignore[arg-type]
                )
                started = time.perf_counter()
                for chunk in client.chat.completions.create(
                    model="sample", messages=messages, stream=True
                ):  # type: ignore[arg-type]
                    if chunk.choices and chunk.choices[0].delta.content:
                        first_delta.append(time.perf_counter() - started)
                        break
            print("/v1/chat/completions (extractive):", summary(whole))
            print("streaming, time to first content delta:", summary(first_delta))


if __name__ == "__main__":
    main()
