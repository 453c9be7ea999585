"""Ignore patterns: gitignore semantics (checked against git itself), where patterns come
from (.supportbotignore, settings, --ignore), ignored documents leaving the index, the
report's count, and includes that still resolve from ignored files."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import IngestionError
from bot.jobs.work import report_result
from bot.retrieval.embedded.search import EmbeddedSearch
from ingestion.collect import Collection, collect_documents
from ingestion.ignore import IGNORE_FILE, IgnoreRules, source_rules
from ingestion.parsing import DocumentParser
from ingestion.sources import open_source
from tests.ingestion.test_ingest import make_ingestor, top_source

KB = "acme"

HELP_CENTER = {
    "SOURCE.md": "Repository: https://github.com/zulip/zulip\n\n"
    "License: Apache License 2.0 covers this help center content.\n",
    "mute-a-topic.md": "# Mute a topic\n\n{!mute-intro.md!}\n\n## How\n\nPress Shift + M.\n",
    "include/mute-intro.md": "Muting a topic hides its unread counts from the left sidebar.\n",
    "billing/refunds.md": "# Refunds\n\nRefunds reach your card within ten days.\n",
    "opening-hours.txt": "Opening hours\n\nSupport answers on weekdays from nine to five.\n",
}
ARTICLES = {"SOURCE.md", "billing/refunds.md", "mute-a-topic.md", "opening-hours.txt"}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def collect(
    source: Path, *, defaults: list[str] | None = None, extra: list[str] | None = None
) -> Collection:
    with open_source(source) as tree:
        rules = source_rules(tree, defaults or (), extra or ())
        return collect_documents(tree, DocumentParser(), ignore=rules)


def indexed(collection: Collection) -> set[str]:
    return {doc.source_id for doc in collection.documents}


# --- pattern semantics -----------------------------------------------------------------

SEMANTICS = [
    (["SOURCE.md"], {"SOURCE.md": True, "docs/SOURCE.md": True, "SOURCE.mdx": False}),
    (["/SOURCE.md"], {"SOURCE.md": True, "docs/SOURCE.md": False}),
    (["drafts/"], {"drafts/a.md": True, "guides/drafts/b.md": True, "drafts.md": False}),
    (["docs/*.md"], {"docs/a.md": True, "docs/sub/a.md": False, "x/docs/a.md": False}),
    (["**/internal/*.md"], {"internal/a.md": True, "x/y/internal/a.md": True, "a.md": False}),
    (["a/**/b.md"], {"a/b.md": True, "a/x/y/b.md": True, "c/a/b.md": False}),
    (["legal/**"], {"legal/terms.md": True, "legal/old/terms.md": True, "legal.md": False}),
    (["*.txt", "!keep.txt"], {"notes.txt": True, "keep.txt": False, "dir/keep.txt": False}),
    (["drafts/", "!drafts/keep.md"], {"drafts/keep.md": True}),  # parent folder stays out
    (["drafts/*", "!drafts/keep.md"], {"drafts/keep.md": False, "drafts/other.md": True}),
    (["?.md", "[xy]z.md"], {"a.md": True, "ab.md": False, "xz.md": True, "az.md": False}),
    (["# comment", "", "\\#hash.md", "\\!bang.md"], {"#hash.md": True, "!bang.md": True}),
    (["*.md"], {"dir.md/inner.txt": True, "a.html": False}),
    (["*.md   "], {"a.md": True}),  # trailing spaces are not part of the pattern
]


@pytest.mark.parametrize(("patterns", "expected"), SEMANTICS)
def test_patterns_follow_gitignore_semantics(
    patterns: list[str], expected: dict[str, bool]
) -> None:
    rules = IgnoreRules(patterns)
    assert {path: rules.ignored(path) for path in expected} == expected


def test_no_patterns_ignore_nothing() -> None:
    assert not IgnoreRules(["# only a comment", "   "])
    assert not IgnoreRules().ignored("SOURCE.md")


GIT_PATHS = [
    "SOURCE.md", "a.md", "abc.md", "keep.md", "docs/a.md", "docs/keep.md", "docs/sub/b.md",
    "sub/docs/c.md", "x/y/docs/d.md", "include/i.md", "drafts/x.md", "a/drafts/y.md",
    "notes/README.md", "README.txt", "dir.md/inner.txt", "foo/baz.md", "foo/x/y/baz.md",
    "b1.md", "bx.md", "a b.md",
]  # fmt: skip
GIT_CASES = [
    ["SOURCE.md"], ["/SOURCE.md"], ["docs/"], ["docs"], ["/docs/"], ["docs/sub"],
    ["*.md", "!keep.md"], ["docs/", "!docs/keep.md"], ["docs/*", "!docs/keep.md"],
    ["**/docs/*.md"], ["foo/**/baz.md"], ["foo/**"], ["**/README.*"], ["*.txt"], ["*"],
    ["**"], ["*/"], ["d*/"], ["**/sub/**"], ["*.md/"], ["/*.md"], ["a*.md", "!abc.md"],
    ["b[0-9].md"], ["b[!0-9].md"], ["?.md"], ["a\\ b.md"], ["*.md", "!*/"],
    ["docs/**/*.md", "!docs/sub/"],
]  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_patterns_agree_with_git(tmp_path: Path) -> None:
    """What `git ls-files --ignored` leaves out of a real tree, for each pattern list."""
    write_tree(tmp_path / "repo", {path: "x" for path in GIT_PATHS})
    repo = tmp_path / "repo"
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    for patterns in GIT_CASES:
        (repo / ".gitignore").write_text("\n".join(patterns) + "\n")
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "-z"],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        by_git = {path for path in listed.split("\0") if path and path != ".gitignore"}
        rules = IgnoreRules(patterns)
        assert {path for path in GIT_PATHS if rules.ignored(path)} == by_git, patterns


# --- where patterns come from ----------------------------------------------------------


def test_supportbotignore_at_the_root_keeps_files_out(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    assert indexed(collect(source)) == ARTICLES
    (source / IGNORE_FILE).write_text("# provenance, not an article\nSOURCE.md\n*.txt\n")
    (source / "billing" / IGNORE_FILE).write_text("refunds.md\n")  # only the root's counts
    collection = collect(source)
    assert indexed(collection) == {"billing/refunds.md", "mute-a-topic.md"}
    assert collection.ignored == ["SOURCE.md", "opening-hours.txt"]


def test_supportbotignore_is_read_from_a_zip_with_a_top_folder(tmp_path: Path) -> None:
    archive = tmp_path / "help.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, content in HELP_CENTER.items():
            zipped.writestr(f"help/{name}", content)
        zipped.writestr(f"help/{IGNORE_FILE}", "SOURCE.md\n")
    with open_source(archive) as tree:
        assert IGNORE_FILE not in tree.paths()
        assert tree.read_root_file(IGNORE_FILE) == b"SOURCE.md\n"
    collection = collect(archive)
    assert indexed(collection) == ARTICLES - {"SOURCE.md"}
    assert collection.ignored == ["SOURCE.md"]


def test_settings_then_file_then_run_patterns_last_one_wins(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    assert collect(source, defaults=["*.txt"]).ignored == ["opening-hours.txt"]
    (source / IGNORE_FILE).write_text("!opening-hours.txt\n")
    assert collect(source, defaults=["*.txt"]).ignored == []
    run = collect(source, defaults=["*.txt"], extra=["opening-hours.txt", "SOURCE.md"])
    assert run.ignored == ["SOURCE.md", "opening-hours.txt"]


def test_an_unreadable_ignore_file_stops_the_ingest(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    (source / IGNORE_FILE).write_bytes(b"SOURCE.md\n\xff\n")
    with pytest.raises(IngestionError, match=r"cannot read \.supportbotignore.*UTF-8"):
        collect(source)


def test_settings_read_patterns_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import Settings

    monkeypatch.delenv("SUPPORTBOT_INGEST_IGNORE", raising=False)
    assert Settings(_env_file=None).ingest_ignore == []
    monkeypatch.setenv("SUPPORTBOT_INGEST_IGNORE", '["SOURCE.md", "drafts/"]')
    assert Settings(_env_file=None).ingest_ignore == ["SOURCE.md", "drafts/"]


# --- includes ---------------------------------------------------------------------------


def test_ignored_files_still_resolve_as_includes(tmp_path: Path) -> None:
    source = write_tree(
        tmp_path / "help",
        {
            "notifications.md": "# Notifications\n\n{!snippets/dnd.md!}\n",
            "snippets/dnd.md": "Do not disturb silences every alert.\n\n{!shared/footer.md!}\n",
            "shared/footer.md": "Still stuck? Write to the support team.\n",
            "drafts/pricing.md": "# Pricing draft\n\nNot public yet.\n\n{!billing/refunds.md!}\n",
            "billing/refunds.md": "# Refunds\n\nRefunds reach your card within ten days.\n",
        },
    )
    collection = collect(source, extra=["snippets/", "drafts/", "include/"])
    assert indexed(collection) == {"notifications.md", "billing/refunds.md"}
    (notifications,) = (d for d in collection.documents if d.source_id == "notifications.md")
    text = " ".join(block for section in notifications.sections for block in section.blocks)
    assert "Do not disturb silences every alert." in text
    assert "Still stuck? Write to the support team." in text  # included by an ignored fragment
    # Fragments are never articles, so they do not count as ignored; the draft does.
    assert collection.ignored == ["drafts/pricing.md"]
    assert {"snippets/dnd.md", "shared/footer.md"} <= collection.fragments
    # The ignored draft's include does not turn a real article into a fragment.
    assert "billing/refunds.md" not in collection.fragments


# --- ingest: removal, report, rebuild, refusal ------------------------------------------


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[EmbeddedSearch]:
    search = EmbeddedSearch(tmp_path / "data")
    yield search
    await search.close()


async def test_a_document_that_becomes_ignored_is_removed_and_counted(
    tmp_path: Path, backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, embedder)
    first = await ingestor.ingest(KB, source)
    assert set(first.new) == ARTICLES and first.ignored == []
    assert await top_source(backend, "Apache License") == "SOURCE.md"

    (source / IGNORE_FILE).write_text("SOURCE.md\ninclude/\n")
    report = await ingestor.ingest(KB, source)

    assert report.deleted == ["SOURCE.md"]
    assert report.ignored == ["SOURCE.md"]  # `include/` matches only fragments
    assert sorted(report.unchanged) == sorted(ARTICLES - {"SOURCE.md"})
    assert (report.new, report.updated, report.failed, report.chunks) == ([], [], {}, 0)
    assert set(await backend.document_hashes(KB)) == ARTICLES - {"SOURCE.md"}
    assert await top_source(backend, "Apache License") is None
    assert await top_source(backend, "unread counts sidebar") == "mute-a-topic.md"
    assert "1 deleted, 1 ignored, 0 failed" in report.summary()
    assert report_result(report)["ignored"] == 1

    again = await ingestor.ingest(KB, source)  # stays out, nothing left to delete
    assert (again.ignored, again.deleted) == (["SOURCE.md"], [])


async def test_settings_and_run_patterns_reach_ingest_and_rebuild(
    tmp_path: Path, backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    await make_ingestor(backend, embedder).ingest(KB, source)

    ingestor = make_ingestor(backend, embedder, ignore=["*.txt"])
    report = await ingestor.rebuild(KB, source, ignore=["SOURCE.md"])
    assert report.ignored == ["SOURCE.md", "opening-hours.txt"]
    assert report.deleted == ["SOURCE.md", "opening-hours.txt"]
    assert set(await backend.document_hashes(KB)) == {"billing/refunds.md", "mute-a-topic.md"}
    assert await top_source(backend, "weekdays nine five") is None


async def test_ignoring_everything_does_not_wipe_the_kb(
    tmp_path: Path, backend: EmbeddedSearch, embedder: SentenceTransformerEmbedder
) -> None:
    source = write_tree(tmp_path / "help", HELP_CENTER)
    ingestor = make_ingestor(backend, embedder)
    await ingestor.ingest(KB, source)
    with pytest.raises(IngestionError, match=r"4 matched an ignore pattern.*refusing to delete"):
        await ingestor.ingest(KB, source, ignore=["*"])
    assert set(await backend.document_hashes(KB)) == ARTICLES


def test_cli_ignore_adds_to_the_settings_patterns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: environment → Settings → services → Ingestor, plus `--ignore`."""
    source = write_tree(tmp_path / "help", {**HELP_CENTER, "drafts/new.md": "# New\n\nSoon.\n"})
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_SEARCH_BACKEND": "embedded",
        "SUPPORTBOT_RERANKER": "none",
        "SUPPORTBOT_INGEST_IGNORE": json.dumps(["drafts/"]),
    }
    args = ["ingest", str(source), "--kb", KB, "--ignore", "SOURCE.md", "--ignore", "*.txt"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "│ ignored │ 3 │" in output
    assert "ignored SOURCE.md, drafts/new.md, opening-hours.txt" in output

    async def documents() -> set[str]:
        search = EmbeddedSearch(tmp_path / "data")
        try:
            return set(await search.document_hashes(KB))
        finally:
            await search.close()

    assert asyncio.run(documents()) == {"billing/refunds.md", "mute-a-topic.md"}
