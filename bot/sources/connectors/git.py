"""The Git source: a docs-as-code help center read from a repository branch and folder.

Each sync fetches the branch tip (shallow, with the `git` CLI) into the source's work
folder and lists the folder's Markdown/HTML articles with today's rules: `include/`
fragments and `{!file.md!}` includes expanded, `.supportbotignore` and the source's
`ignore` patterns honoured. Incremental by content: an article whose expanded text has
the same hash as at the last successful sync is reported `Unchanged` (not re-parsed, not
re-embedded). Citations come from `url_template`, e.g.
`https://example.com/help/{path_without_ext}` (`{path}` is the file's path in the
folder; an `index` file stands for its folder).

A token (secret `token`) is sent as an HTTP Authorization header through git's
environment (`GIT_CONFIG_*`), never on the command line or in the URL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import posixpath
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import (
    IngestionError,
    InvalidRequest,
    SourceAuthFailed,
    SourceError,
    SourceUnavailable,
)
from bot.sources.protocol import (
    ConnectorEnv,
    ConnectorState,
    ConnectorType,
    Failed,
    ListingItem,
    SourceDocument,
    Unchanged,
)
from ingestion.collect import include_fragments
from ingestion.decoding import decode_text
from ingestion.ignore import IgnoreRules, source_rules
from ingestion.includes import IncludeExpander
from ingestion.parsing import HTML, document_kind
from ingestion.sources import FolderSource

GIT_TIMEOUT_S = 300.0
_AUTH_HINTS = ("authentication failed", "could not read username", "403", "401",
               "permission denied", "access denied")  # fmt: skip


class GitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Repository URL (https://, ssh, file:// or a local path).")
    branch: str = Field("main", description="Branch to follow.")
    folder: str = Field("", description="Sub-folder holding the help center ('' = the root).")
    url_template: str | None = Field(
        None,
        description="Citation link of each article, e.g. "
        "https://example.com/help/{path_without_ext} ({path} = file path in the folder).",
    )
    ignore: list[str] = Field(
        default_factory=list, description="Extra gitignore-style patterns of non-articles."
    )


@dataclass(frozen=True, slots=True)
class _Article:
    key: str
    item: SourceDocument | Failed
    digest: str | None


class GitConnector:
    kind = "git"

    def __init__(self, options: GitOptions, env: ConnectorEnv) -> None:
        self._options = options
        self._checkout = env.work_dir / "checkout"
        self._token = env.secrets.get("token")

    async def list_documents(self, state: ConnectorState) -> AsyncIterator[ListingItem]:
        await self._fetch()
        articles = await asyncio.to_thread(self._read_articles)
        for article in articles:
            remembered = state.documents.get(article.key, {}).get("sha256")
            if (
                article.digest is not None
                and not state.full
                and article.key in state.indexed
                and remembered == article.digest
            ):
                yield Unchanged(article.key)
                continue
            if article.digest is not None:
                state.documents[article.key] = {"sha256": article.digest}
            yield article.item
        state.documents = {k: v for k, v in state.documents.items() if k in _keys(articles)}

    # -- fetching -----------------------------------------------------------------------
    async def _fetch(self) -> None:
        branch = self._options.branch
        if not (self._checkout / ".git").is_dir():
            self._checkout.mkdir(parents=True, exist_ok=True)
            await self._git("init", "--quiet")
        await self._git(
            "fetch", "--quiet", "--depth", "1", "--no-tags", _fetchable(self._options.url),
            f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
        )  # fmt: skip
        await self._git("checkout", "--quiet", "--force", "--detach", f"origin/{branch}")
        await self._git("clean", "--quiet", "-ffdx")

    async def _git(self, *args: str) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._checkout.parent),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        }
        if self._token:
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            }
        try:
            process = await asyncio.create_subprocess_exec(
                "git", *args, cwd=self._checkout, env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            raise SourceError(f"cannot run git ({exc}); install git on the worker") from exc
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
        except TimeoutError as exc:
            process.kill()
            raise SourceUnavailable(f"git {args[0]} took over {GIT_TIMEOUT_S:.0f} s") from exc
        if process.returncode:
            raise self._failure(args[0], stderr.decode("utf-8", "replace").strip())

    def _failure(self, command: str, stderr: str) -> SourceError:
        lowered = stderr.lower()
        where = f"{self._options.url} (branch {self._options.branch})"
        if "couldn't find remote ref" in lowered:
            return SourceError(f"branch {self._options.branch!r} not found in {where}")
        if any(hint in lowered for hint in _AUTH_HINTS):
            return SourceAuthFailed(
                f"the repository {where} refused access; set a token with read access "
                f"(git: {stderr[-300:]})"
            )
        return SourceUnavailable(f"git {command} of {where} failed: {stderr[-500:]}")

    # -- listing ------------------------------------------------------------------------
    def _read_articles(self) -> list[_Article]:
        root = self._checkout / self._options.folder.strip("/")
        if not root.resolve().is_relative_to(self._checkout.resolve()) or not root.is_dir():
            raise SourceError(
                f"folder {self._options.folder!r} is not in {self._options.url} "
                f"(branch {self._options.branch}); check the folder option"
            )
        tree = FolderSource(root)
        try:
            rules = source_rules(tree, (), self._options.ignore)
        except IngestionError as exc:
            raise SourceError(exc.message) from exc
        return self._articles(tree, rules)

    def _articles(self, tree: FolderSource, rules: IgnoreRules) -> list[_Article]:
        paths = [path for path in tree.paths() if document_kind(path) is not None]
        ignored = frozenset(path for path in paths if rules.ignored(path))
        includes = IncludeExpander(tree)
        not_articles = include_fragments(tree, includes, paths, ignored) | ignored
        return [self._article(tree, includes, p) for p in paths if p not in not_articles]

    def _article(self, tree: FolderSource, includes: IncludeExpander, path: str) -> _Article:
        try:
            text = includes.expand(decode_text(tree.read_bytes(path)), path).text
        except IngestionError as exc:
            return _Article(path, Failed(path, exc.message), None)
        document = SourceDocument(
            key=path,
            title="",
            body=text,
            body_format="html" if document_kind(path) == HTML else "markdown",
            url=self._url(path),
            heading_path=(),
        )
        return _Article(path, document, hashlib.sha256(text.encode()).hexdigest())

    def _url(self, path: str) -> str:
        template = self._options.url_template
        if not template:
            return ""
        stem = posixpath.splitext(path)[0]
        if posixpath.basename(stem) == "index":
            stem = posixpath.dirname(stem)
        return template.format(path=path, path_without_ext=stem)


def _keys(articles: Sequence[_Article]) -> set[str]:
    return {article.key for article in articles}


def _fetchable(url: str) -> str:
    """Local paths become absolute (git runs inside the checkout)."""
    if "://" in url or url.startswith("git@") or ":" in url.split("/", 1)[0]:
        return url
    return str(Path(url).resolve())


def build(options: BaseModel, env: ConnectorEnv) -> GitConnector:
    if not isinstance(options, GitOptions):
        raise TypeError("GitConnector needs GitOptions")
    if urlsplit(options.url).password or (
        urlsplit(options.url).username
        and "://" in options.url
        and not options.url.startswith("ssh://")
    ):
        raise InvalidRequest(
            "put no credentials in the repository URL; give the token as the source's "
            "`token` secret (an environment variable name or a value stored with mode 0600)"
        )
    if options.url_template is not None:
        try:
            options.url_template.format(path="a/b.md", path_without_ext="a/b")
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidRequest(
                f"url_template {options.url_template!r} may use only {{path}} and "
                f"{{path_without_ext}} ({exc})"
            ) from exc
    return GitConnector(options, env)


GIT = ConnectorType(
    kind="git",
    options=GitOptions,
    build=build,
    secrets=("token",),
    summary="A docs-as-code help center in a Git repository (branch + folder).",
)
