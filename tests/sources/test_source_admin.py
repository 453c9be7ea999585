"""Connected sources through the real admin API and CLI flags: a Git source set with
`PUT /admin/kbs/{kb}/source`, synced now and again, its history and secrets' handling; a
Zendesk Guide source whose token expires."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.api.app import create_app
from bot.cli.sources import parse_interval, parse_source_flags
from bot.errors import InvalidRequest
from bot.settings import Settings
from bot.sources.connectors.git import GitOptions
from bot.sources.connectors.zendesk_guide import ZendeskOptions
from tests.support.admin_client import ADMIN_KEY, AUTH, wait_job
from tests.support.git_repo import GitRemote
from tests.support.help_centers import ARTICLES, ZendeskHelpCenter
from tests.support.live_server import serve

pytestmark = pytest.mark.model
TOKEN = "glpat-very-secret-value-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Path]]:
    root = tmp_path_factory.mktemp("source-admin")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=root / "data",
        reranker="none",
        admin_api_key=ADMIN_KEY,
        embedding_batch_size=8,
    )
    with serve(create_app(settings)) as url:
        yield url, settings, root


def test_a_git_source_set_through_the_api_syncs_and_keeps_its_token_secret(
    server: tuple[str, Settings, Path],
) -> None:
    url, settings, root = server
    remote = GitRemote(root / "git")
    remote.commit({"help/refunds.md": "# Refunds\n\nRefunds take ten days.\n",
                   "help/login.md": "# Log in\n\nUse the login page.\n"})  # fmt: skip
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/admin/kbs", json={"kb": "docs"}, headers=AUTH).status_code == 201
        body = {
            "type": "git",
            "options": {"url": str(remote.bare), "folder": "help",
                        "url_template": "https://example.com/help/{path_without_ext}"},
            "secrets": {"token": {"value": TOKEN}},
            "interval_s": 3600,
        }  # fmt: skip
        response = client.put("/admin/kbs/docs/source", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        assert TOKEN not in response.text
        assert response.json()["source"]["secrets"] == {"token": "stored"}
        job = wait_job(client, response.json()["job"]["id"])
        assert job["state"] == "succeeded", job
        assert (job["result"]["new"], job["result"]["deleted"]) == (2, 0)

        remote.commit({"help/login.md": None, "help/refunds.md": "# Refunds\n\nTwelve days.\n"})
        # Options changed without the token: the stored token is kept.
        body.pop("secrets")
        assert client.put("/admin/kbs/docs/source", json={**body, "ingest": False},
                          headers=AUTH).status_code == 202  # fmt: skip
        now = client.post("/admin/kbs/docs/ingest", headers=AUTH)
        job = wait_job(client, now.json()["job"]["id"])
        assert (job["result"]["updated"], job["result"]["deleted"]) == (1, 1), job

        detail = client.get("/admin/kbs/docs", headers=AUTH).json()
        assert detail["documents"] == 1
        assert detail["connected_source"]["secrets"] == {"token": "stored"}
        history = detail["sync_history"]
        assert [run["status"] for run in history] == ["succeeded", "succeeded"]
        assert history[0]["counts"]["deleted"] == 1 and history[1]["counts"]["new"] == 2
        jobs = client.get("/admin/jobs", headers=AUTH).text
        assert TOKEN not in jobs and TOKEN not in str(detail)

        bad = client.put("/admin/kbs/docs/source", headers=AUTH,
                         json={"type": "git", "options": {"branch": "main"}})  # fmt: skip
        assert bad.status_code == 400 and "url" in bad.json()["error"]["message"]

    secret_file = settings.data_dir / "secrets" / "docs.json"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert TOKEN in secret_file.read_text()
    assert TOKEN not in (settings.data_dir / "sources.sqlite").read_bytes().decode("latin-1")


def test_cli_flags_become_the_types_options_and_secrets() -> None:
    options, secrets = parse_source_flags(
        ["--url", "https://git.example.com/help.git", "--ignore", "drafts/", "--ignore=old/",
         "--token-env", "DOCS_TOKEN"],
        GitOptions,
        ("token",),
    )  # fmt: skip
    assert options == {"url": "https://git.example.com/help.git", "ignore": ["drafts/", "old/"]}
    assert secrets["token"].env == "DOCS_TOKEN" and secrets["token"].value is None
    with pytest.raises(InvalidRequest, match="--url-template"):
        parse_source_flags(["--colour", "red"], GitOptions, ("token",))
    assert (parse_interval("30m"), parse_interval("6h"), parse_interval(None)) == (
        1800,
        21600,
        None,
    )


def test_a_zendesk_source_through_the_api_never_shows_its_token_even_when_refused(
    server: tuple[str, Settings, Path],
) -> None:
    url, settings, _ = server
    center = ZendeskHelpCenter()
    token = center.secret_value
    with center.stub, httpx.Client(base_url=url, timeout=60) as client:
        center.publish(*ARTICLES)
        assert client.post("/admin/kbs", json={"kb": "zd"}, headers=AUTH).status_code == 201
        body = {
            "type": "zendesk",
            "options": center.options(),
            "secrets": {"api_token": {"value": token}},
        }
        response = client.put("/admin/kbs/zd/source", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        assert token not in response.text
        job = wait_job(client, response.json()["job"]["id"])
        assert (job["state"], job["result"]["new"]) == ("succeeded", 5), job

        center.refuse_credentials()  # the token expired at Zendesk
        now = client.post("/admin/kbs/zd/ingest", headers=AUTH)
        failed = wait_job(client, now.json()["job"]["id"])
        assert failed["state"] == "failed"
        assert "refused the credentials (401)" in str(failed)
        detail = client.get("/admin/kbs/zd", headers=AUTH).json()
        assert detail["documents"] == 5  # nothing deleted
        assert detail["sync_history"][0]["status"] == "failed"
        shown = [str(failed), str(detail), client.get("/admin/jobs", headers=AUTH).text]
        assert all(token not in text for text in shown)
    assert token not in (settings.data_dir / "sources.sqlite").read_bytes().decode("latin-1")


def test_helpdesk_cli_flags_become_options_and_secrets() -> None:
    options, secrets = parse_source_flags(
        ["--base-url", "https://acme.zendesk.com", "--email", "bot@acme.com",
         "--locales", "en-us", "--locales", "de", "--include-restricted",
         "--api-token-env", "ZENDESK_API_TOKEN"],
        ZendeskOptions,
        ("api_token", "oauth_token"),
    )  # fmt: skip
    chosen = ZendeskOptions.model_validate(options)
    assert (chosen.locales, chosen.include_restricted) == (["en-us", "de"], True)
    assert secrets["api_token"].env == "ZENDESK_API_TOKEN"
