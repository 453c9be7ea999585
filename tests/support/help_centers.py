"""One small help center, served as Zendesk Guide, Intercom or Freshdesk would serve it.

The same five published articles and one draft, in the same places (Account › Sign-in,
Account › Sign-in › Two-factor, Billing › Payments), rendered into each vendor's JSON on
its stub server (`tests.support.helpdesk_articles`), so one end-to-end suite checks every
helpdesk connector. Edits bump the article's `updated_at` as the vendors do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tests.support.helpdesk_articles import (
    ArticlesApiStub,
    FreshdeskStub,
    IntercomStub,
    ZendeskGuideStub,
)

PLACES: dict[str, tuple[str, ...]] = {
    "signin": ("Account", "Sign-in"),
    "2fa": ("Account", "Sign-in", "Two-factor"),
    "payments": ("Billing", "Payments"),
}


@dataclass(frozen=True)
class Article:
    id: int
    title: str
    text: str
    place: str
    published: bool = True
    version: int = 0


ARTICLES = (
    Article(101, "Reset your password", "Use the forgot password link on the login page; "
            "the reset email arrives within five minutes.", "signin"),
    Article(102, "Sign in with Google", "Choose Continue with Google on the login page to "
            "use your Google account.", "signin"),
    Article(103, "Turn on two-factor authentication", "Scan the QR code with an "
            "authenticator app, then type the six-digit code.", "2fa"),
    Article(104, "Download invoices", "Invoices are PDF files under Settings, Billing, "
            "History; each month has its own.", "payments"),
    Article(105, "Request a refund", "Refunds reach your card within ten business days "
            "of the request.", "payments"),
    Article(190, "Upcoming pricing", "The confidential new tariff costs ninety-nine "
            "dollars a seat.", "payments", published=False),
)  # fmt: skip
BASE_TIME = 1_790_000_000
PLACE_IDS = {"signin": 10, "2fa": 11, "payments": 20}
"""The section / collection / folder id of each place, in every vendor's rendering."""


@dataclass
class HelpCenter:
    """A vendor's stub plus the neutral articles it serves."""

    kind: str
    stub: ArticlesApiStub
    secret_name: str
    secret_value: str
    articles: dict[int, Article] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def citation(self, article_id: int) -> str:
        raise NotImplementedError

    def key(self, article_id: int) -> str:
        return str(article_id)

    def render(self) -> None:
        raise NotImplementedError

    def refuse_credentials(self) -> None:
        """The token the bot holds is revoked or expired at the vendor."""
        raise NotImplementedError

    # --- edits between syncs ------------------------------------------------------------
    def publish(self, *articles: Article) -> None:
        for article in articles:
            self.articles[article.id] = article
        self.render()

    def edit(self, article_id: int, text: str) -> None:
        old = self.articles[article_id]
        self.articles[article_id] = replace(old, text=text, version=old.version + 1)
        self.render()

    def remove(self, article_id: int) -> None:
        del self.articles[article_id]
        self.render()

    def _body(self, article: Article) -> str:
        return f"<h2>{article.title}</h2><p>{article.text}</p>"

    def _unix(self, article: Article) -> int:
        return BASE_TIME + article.id * 10 + article.version

    def _iso(self, article: Article) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self._unix(article), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ZendeskHelpCenter(HelpCenter):
    def __init__(self) -> None:
        token = "zd-e2e-token-3b8d0f"
        super().__init__("zendesk", ZendeskGuideStub(email="bot@acme.example", token=token),
                         "api_token", token)  # fmt: skip

    def options(self) -> dict[str, Any]:
        return {"base_url": self.stub.url, "email": "bot@acme.example", "locales": ["en-us"]}

    def citation(self, article_id: int) -> str:
        return f"https://help.acme.example/hc/en-us/articles/{article_id}"

    def refuse_credentials(self) -> None:
        assert isinstance(self.stub, ZendeskGuideStub)
        self.stub.credentials.clear()

    def render(self) -> None:
        stub = self.stub
        assert isinstance(stub, ZendeskGuideStub)
        stub.categories["en-us"] = [{"id": 1, "name": "Account"}, {"id": 2, "name": "Billing"}]
        stub.sections["en-us"] = [
            {"id": 10, "name": "Sign-in", "category_id": 1, "parent_section_id": None},
            {"id": 11, "name": "Two-factor", "category_id": 1, "parent_section_id": 10},
            {"id": 20, "name": "Payments", "category_id": 2, "parent_section_id": None},
        ]
        stub.articles["en-us"] = [
            {
                "id": a.id,
                "html_url": self.citation(a.id),
                "title": a.title,
                "body": self._body(a),
                "locale": "en-us",
                "section_id": PLACE_IDS[a.place],
                "draft": not a.published,
                "user_segment_id": None,
                "updated_at": self._iso(a),
            }
            for a in self.articles.values()
        ]


class IntercomHelpCenter(HelpCenter):
    def __init__(self) -> None:
        token = "ic-e2e-token-71c2aa"
        super().__init__("intercom", IntercomStub(token=token), "access_token", token)

    def options(self) -> dict[str, Any]:
        return {"base_url": self.stub.url}

    def citation(self, article_id: int) -> str:
        return f"https://intercom.help/acme/en/articles/{article_id}"

    def refuse_credentials(self) -> None:
        assert isinstance(self.stub, IntercomStub)
        self.stub.token = "rotated-elsewhere"

    def render(self) -> None:
        stub = self.stub
        assert isinstance(stub, IntercomStub)
        stub.collections = [
            {"id": "1", "name": "Account", "parent_id": None},
            {"id": "10", "name": "Sign-in", "parent_id": "1"},
            {"id": "11", "name": "Two-factor", "parent_id": "10"},
            {"id": "2", "name": "Billing", "parent_id": None},
            {"id": "20", "name": "Payments", "parent_id": "2"},
        ]
        stub.articles = [
            {
                "type": "article",
                "id": str(a.id),
                "workspace_id": "ws1",
                "title": a.title,
                "body": self._body(a),
                "author_id": 1,
                "state": "published" if a.published else "draft",
                "created_at": BASE_TIME,
                "updated_at": self._unix(a),
                "url": self.citation(a.id) if a.published else None,
                "parent_id": PLACE_IDS[a.place],
                "parent_type": "collection",
                "default_locale": "en",
            }
            for a in self.articles.values()
        ]


class FreshdeskHelpCenter(HelpCenter):
    PORTAL = "https://support.acme.example"

    def __init__(self) -> None:
        key = "fd-e2e-key-9e41c7"
        super().__init__("freshdesk", FreshdeskStub(api_key=key), "api_key", key)

    def options(self) -> dict[str, Any]:
        return {"base_url": self.stub.url, "portal_url": self.PORTAL}

    def citation(self, article_id: int) -> str:
        return f"{self.PORTAL}/support/solutions/articles/{article_id}"

    def refuse_credentials(self) -> None:
        assert isinstance(self.stub, FreshdeskStub)
        self.stub.api_key = "rotated-elsewhere"

    def render(self) -> None:
        stub = self.stub
        assert isinstance(stub, FreshdeskStub)

        def folder(id: int, name: str, subfolders: int = 0) -> dict[str, Any]:
            return {"id": id, "name": name, "visibility": 1, "sub_folders_count": subfolders}

        stub.categories = [{"id": 1, "name": "Account"}, {"id": 2, "name": "Billing"}]
        stub.folders = {1: [folder(10, "Sign-in", 1)], 2: [folder(20, "Payments")]}
        stub.subfolders = {10: [folder(11, "Two-factor")]}
        stub.articles = {}
        for a in self.articles.values():
            stub.articles.setdefault(PLACE_IDS[a.place], []).append(
                {
                    "id": a.id,
                    "title": a.title,
                    "description": self._body(a),
                    "status": 2 if a.published else 1,
                    "folder_id": PLACE_IDS[a.place],
                    "updated_at": self._iso(a),
                }
            )


HELP_CENTERS = {
    "zendesk": ZendeskHelpCenter,
    "intercom": IntercomHelpCenter,
    "freshdesk": FreshdeskHelpCenter,
}
