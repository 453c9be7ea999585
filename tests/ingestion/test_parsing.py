"""Parsing: Markdown/HTML/text structure, front matter, URLs, includes, template markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.domain import ParsedDocument, Section
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from ingestion.chunking import Chunker
from ingestion.collect import Collection, collect_documents
from ingestion.includes import IncludeExpander
from ingestion.markdown_render import HTML_TAGS
from ingestion.parsing import DocumentParser
from ingestion.sources import FolderSource, open_source
from ingestion.template_markup import TemplateMarkup
from tests.conftest import ZULIP_HELP, needs_zulip_corpus


def collect(root: Path, files: dict[str, str | bytes], base_url: str | None = None) -> Collection:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    with open_source(root) as tree:
        return collect_documents(tree, DocumentParser(), base_url=base_url)


def parse_one(root: Path, name: str, text: str, base_url: str | None = None) -> ParsedDocument:
    collection = collect(root, {name: text}, base_url)
    assert collection.failed == {}
    (doc,) = collection.documents
    return doc


def all_text(doc: ParsedDocument) -> str:
    return "\n\n".join(block for section in doc.sections for block in section.blocks)


# -- Markdown structure, titles and URLs ----------------------------------------------------


def test_markdown_heading_paths_follow_nesting(tmp_path: Path) -> None:
    doc = parse_one(
        tmp_path,
        "mute-a-topic.md",
        "# Mute a topic\n\nIntro.\n\n## On desktop\n\nStep.\n\n### Advanced\n\nMore.\n\n"
        "## On mobile\n\nTap.\n\n# Appendix\n\nLast.\n",
    )
    assert doc.title == "Mute a topic"
    assert doc.source_id == "mute-a-topic.md"
    assert [s.heading_path for s in doc.sections] == [
        (),
        ("On desktop",),
        ("On desktop", "Advanced"),
        ("On mobile",),
        ("Appendix",),
    ]
    assert doc.sections[2].blocks == ("More.",)


def test_markdown_blocks_keep_lists_tables_and_code_line_structure(tmp_path: Path) -> None:
    doc = parse_one(
        tmp_path,
        "x.md",
        "# T\n\n* one **bold** [link](/help/y)\n* two\n    1. nested\n\n"
        "| Key | Action |\n|---|---|\n| <kbd>Ctrl</kbd> + <kbd>K</kbd> | Search |\n\n"
        "```python\nprint('{tab|x}')\n```\n\nUse `{id}` here.\n",
    )
    assert doc.sections[0].blocks == (
        "- one bold link\n- two\n  1. nested",
        "| Key | Action |\n| Ctrl + K | Search |",
        "```python\nprint('{tab|x}')\n```",
        "Use `{id}` here.",
    )


def test_icons_and_reference_links_leave_no_debris(tmp_path: Path) -> None:
    doc = parse_one(
        tmp_path,
        "x.md",
        '# T\n\nClick the **gear** (<i class="zulip-icon zulip-icon-gear"></i>) icon.\n\n'
        'Ask the [notification bot][notification-bot] or go <img alt="back" src="b.svg"/>.\n',
    )
    assert doc.sections[0].blocks == (
        "Click the gear icon.",
        "Ask the notification bot or go back.",
    )


def test_front_matter_title_and_url(tmp_path: Path) -> None:
    doc = parse_one(
        tmp_path,
        "billing/refunds.md",
        "---\ntitle: Getting a refund\nurl: https://acme.test/refunds\n---\n"
        "# Getting a refund\n\nBody.\n",
        base_url="https://ignored.test/help/",
    )
    assert doc.title == "Getting a refund"
    assert doc.url == "https://acme.test/refunds"
    assert doc.sections == (Section((), ("Body.",)),)


@pytest.mark.parametrize(
    ("name", "front", "base_url", "expected"),
    [
        (
            "billing/refunds.md",
            "",
            "https://acme.test/help",
            "https://acme.test/help/billing/refunds",
        ),
        ("billing/index.md", "", "https://acme.test/help/", "https://acme.test/help/billing/"),
        ("index.md", "", "https://acme.test/help/", "https://acme.test/help/"),
        ("a b.md", "", "https://acme.test/", "https://acme.test/a%20b"),
        ("x.md", "permalink: /docs/x/\n", "https://acme.test/help/", "https://acme.test/docs/x/"),
        ("x.md", "permalink: x-page\n", "https://acme.test/help/", "https://acme.test/help/x-page"),
        ("x.md", "permalink: /docs/x/\n", None, "/docs/x/"),
        ("x.md", "", None, None),
    ],
)
def test_url_rules(
    tmp_path: Path, name: str, front: str, base_url: str | None, expected: str | None
) -> None:
    text = (f"---\n{front}---\n" if front else "") + "# X\n\nBody.\n"
    assert parse_one(tmp_path, name, text, base_url).url == expected


def test_title_falls_back_to_the_file_name(tmp_path: Path) -> None:
    doc = parse_one(tmp_path, "how-refunds_work.md", "Just a paragraph.\n\n## Details\n\nMore.\n")
    assert doc.title == "How refunds work"
    assert doc.sections[0] == Section((), ("Just a paragraph.",))


# -- includes ------------------------------------------------------------------------------


def test_includes_are_expanded_recursively_and_fragments_not_indexed(tmp_path: Path) -> None:
    collection = collect(
        tmp_path,
        {
            "article.md": "# Article\n\n{!intro.md!}\n\n1. First step.\n1. {!step.md!}\n",
            "include/intro.md": "Welcome text.\n\n{!nested.md!}\n",
            "include/nested.md": "Nested words.\n",
            "include/step.md": "Second step,\nwrapped.\n\n* detail\n",
            "shared/snippet.md": "Snippet body.\n",
            "other.md": "# Other\n\n{!shared/snippet.md!}\n",
        },
    )
    assert collection.failed == {}
    assert sorted(doc.source_id for doc in collection.documents) == ["article.md", "other.md"]
    assert collection.fragments == {
        "include/intro.md",
        "include/nested.md",
        "include/step.md",
        "shared/snippet.md",
    }
    article = next(doc for doc in collection.documents if doc.source_id == "article.md")
    assert article.sections[0].blocks == (
        "Welcome text.",
        "Nested words.",
        "1. First step.\n2. Second step, wrapped.\n   - detail",
    )


def test_include_resolves_next_to_the_including_file(tmp_path: Path) -> None:
    collection = collect(
        tmp_path,
        {"guides/a.md": "# A\n\n{!part.md!}\n", "guides/part.md": "Part text.\n"},
    )
    assert [doc.source_id for doc in collection.documents] == ["guides/a.md"]
    assert all_text(collection.documents[0]) == "Part text."


def test_missing_include_and_cycle_fail_only_their_document(tmp_path: Path) -> None:
    collection = collect(
        tmp_path,
        {
            "ok.md": "# Ok\n\nFine.\n",
            "broken.md": "# Broken\n\n{!nowhere.md!}\n",
            "loop.md": "# Loop\n\n{!a.md!}\n",
            "include/a.md": "{!b.md!}",
            "include/b.md": "{!a.md!}",
        },
    )
    assert [doc.source_id for doc in collection.documents] == ["ok.md"]
    assert "missing include 'nowhere.md'" in collection.failed["broken.md"]
    assert collection.failed["loop.md"] == (
        "include cycle: loop.md → include/a.md → include/b.md → include/a.md"
    )


# -- template markup and admonitions -------------------------------------------------------


def test_zulip_tabs_and_settings_macros_render_as_words(tmp_path: Path) -> None:
    doc = parse_one(
        tmp_path,
        "x.md",
        "# Notifications\n\n## Configure\n\n{start_tabs}\n\n{tab|desktop-web}\n\n"
        "{settings_tab|notifications}\n\n1. Toggle **Channels**.\n\n{tab|mobile}\n\n"
        "1. Tap **Settings**.\n\n{end_tabs}\n\n{relative|gear|organization-settings}\n",
    )
    assert doc.sections[0].heading_path == ("Configure",)
    assert doc.sections[0].blocks == (
        "Desktop/Web:",
        "1. Click the gear icon in the upper right corner of the web or desktop app.\n"
        "2. Select Personal settings.\n"
        "3. On the left, click Notifications.\n"
        "4. Toggle Channels.",
        "Mobile:",
        "1. Tap Settings.",
        "1. Click the gear icon in the upper right corner of the web or desktop app.\n"
        "2. Select Organization settings.",
    )


def test_unknown_macros_are_dropped_or_become_words_but_code_is_untouched() -> None:
    markup = TemplateMarkup()
    source = (
        "{emoticon_translations}\n"
        "Pick {color|dark-blue} now, keep {placeholder} and `{tab|x}`.\n"
        "```\n{settings_tab|x}\n```"
    )
    assert markup.render(source).split("\n") == [
        "",
        "Pick Dark blue now, keep {placeholder} and `{tab|x}`.",
        "```",
        "{settings_tab|x}",
        "```",
    ]


def test_admonitions_become_labelled_text_not_code(tmp_path: Path) -> None:
    doc = parse_one(
        tmp_path,
        "x.md",
        '# T\n\n!!! tip ""\n\n    Press <kbd>M</kbd> to mute.\n\n'
        '!!! warn ""\n\n    **Note**: owners only.\n\n'
        '1. Step one.\n\n    !!! keyboard_tip ""\n\n        * a\n        * b\n\n1. Step two.\n',
    )
    assert doc.sections[0].blocks == (
        "Tip: Press M to mute.",
        "Note: owners only.",
        "1. Step one.\n   Tip:\n   - a\n   - b\n2. Step two.",
    )


# -- HTML and plain text ---------------------------------------------------------------------


def test_html_title_sections_boilerplate_and_tables(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>Reset your password | Acme Help</title>
    <link rel="canonical" href="https://acme.test/help/reset"><style>p{color:red}</style></head>
    <body><header>Acme logo</header><nav><a href="/">Home</a></nav>
    <main><h1>Reset your password</h1><p>Forgot it? <b>No</b> problem.</p>
    <h2>From the app</h2><ol><li>Open <em>Settings</em>.</li><li>Tap <kbd>Reset</kbd>.
    <ul><li>Check mail</li></ul></li></ol>
    <h3>Limits</h3><table><tr><th>Plan</th><th>Resets</th></tr><tr><td>Free</td><td>3</td></tr></table>
    <pre>curl -X POST /reset
  --user me</pre><script>track()</script></main>
    <footer>© Acme</footer></body></html>"""
    doc = parse_one(tmp_path, "reset.html", html)
    assert doc.title == "Reset your password"
    assert doc.url == "https://acme.test/help/reset"
    assert doc.sections == (
        Section((), ("Forgot it? No problem.",)),
        Section(("From the app",), ("1. Open Settings.\n2. Tap Reset.\n   - Check mail",)),
        Section(
            ("From the app", "Limits"),
            ("| Plan | Resets |\n| Free | 3 |", "```\ncurl -X POST /reset\n  --user me\n```"),
        ),
    )
    assert "Acme logo" not in all_text(doc) and "track()" not in all_text(doc)


def test_html_without_h1_uses_title_tag(tmp_path: Path) -> None:
    doc = parse_one(tmp_path, "p.htm", "<title>Billing FAQ</title><p>Invoices monthly.</p>")
    assert doc.title == "Billing FAQ"
    assert doc.sections == (Section((), ("Invoices monthly.",)),)


def test_plain_text_title_from_first_line_or_file_name(tmp_path: Path) -> None:
    collection = collect(
        tmp_path,
        {
            "hours.txt": "Opening hours\n=====\n\nMonday to Friday.\n\nClosed on holidays.\n",
            "note.txt": "This is a note that starts with a sentence.\nSecond line.\n",
        },
    )
    hours, note = sorted(collection.documents, key=lambda doc: doc.source_id)
    assert hours.title == "Opening hours"
    assert hours.sections == (Section((), ("Monday to Friday.", "Closed on holidays.")),)
    assert note.title == "Note"
    assert all_text(note) == "This is a note that starts with a sentence.\nSecond line."


# -- malformed input -------------------------------------------------------------------------


def test_malformed_files_are_reported_by_name_and_the_rest_is_parsed(tmp_path: Path) -> None:
    collection = collect(
        tmp_path,
        {
            "good.md": "# Good\n\nFine.\n",
            "latin1.md": "# Caf\xe9\n\nau lait".encode("latin-1"),
            "image.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00",
            "empty.md": "",
            "yaml.md": "---\ntitle: [unclosed\n---\n# Y\n\nbody\n",
            "list.md": "---\n- a\n- b\n---\nbody\n",
            "only-heading.md": "# Just a heading\n",
            "page.html": "<html><body><script>x()</script></body></html>",
            "logo.png": b"\x89PNG\x00",
        },
    )
    assert [doc.source_id for doc in collection.documents] == ["good.md"]
    assert collection.failed == {
        "empty.md": "empty document",
        "image.md": "binary file, not text (it contains NUL bytes)",
        "latin1.md": "not valid UTF-8 (byte 0xe9 at offset 5); re-save the file as UTF-8",
        "list.md": "front matter must be a YAML mapping of keys to values",
        "only-heading.md": "no text content after parsing (only headings or markup)",
        "page.html": "no text content after parsing (only headings or markup)",
        "yaml.md": collection.failed["yaml.md"],
    }
    assert collection.failed["yaml.md"].startswith("front matter is not valid YAML at line 3")


# -- the real Zulip help center --------------------------------------------------------------

MACRO_OR_INCLUDE = re.compile(r"\{!|\{[A-Za-z_][\w-]*(?:\|[^{}]*)+\}|\{(?:start|end)_tabs\}")
HTML_TAG = re.compile(r"</?(" + "|".join(sorted(HTML_TAGS)) + r")(?:\s[^<>]*)?/?>", re.IGNORECASE)
CODE = re.compile(r"^(`{3,}|~{3,}).*?^\1\s*$|(`+).+?\2", re.DOTALL | re.MULTILINE)


def prose(text: str) -> str:
    """Text outside fenced code and code spans, where markup would be an indexing bug."""
    return CODE.sub("CODE", text)


@needs_zulip_corpus
def test_every_zulip_article_parses_without_template_or_html_debris() -> None:
    with open_source(ZULIP_HELP) as tree:
        collection = collect_documents(tree, DocumentParser())
    ids = {doc.source_id for doc in collection.documents}
    assert collection.failed == {}
    assert len(ids) >= 214
    assert not any(source_id.startswith("include/") for source_id in ids)
    assert "recent-conversations.md" in ids  # an article, though a fragment shares its name
    for doc in collection.documents:
        text = prose(all_text(doc))
        assert not MACRO_OR_INCLUDE.search(text), (doc.source_id, MACRO_OR_INCLUDE.search(text))
        assert not HTML_TAG.search(text), (doc.source_id, HTML_TAG.search(text))
        assert "!!!" not in text, doc.source_id


REAL_ARTICLES = [
    "channel-notifications.md",
    "mute-a-topic.md",
    "saml-authentication.md",
    "emoji-reactions.md",
    "star-a-message.md",
    "review-your-settings.md",
    "manage-user-groups.md",
    "view-and-edit-your-message-drafts.md",
    "resize-the-compose-box.md",
    "import-from-slack.md",
    "zulip-cloud-billing.md",
]


@needs_zulip_corpus
def test_chunks_of_real_zulip_articles_hold_only_natural_text(
    token_counter: SentenceTransformerEmbedder,
) -> None:
    tree = FolderSource(ZULIP_HELP)
    parser, includes = DocumentParser(), IncludeExpander(tree)
    chunker = Chunker(token_counter, target_tokens=256, max_tokens=320, overlap=0.15)
    chunks = [
        chunk
        for name in REAL_ARTICLES
        for chunk in chunker.chunk(parser.parse(tree, name, includes), "zulip")
    ]
    assert len(chunks) > len(REAL_ARTICLES)
    for chunk in chunks:
        text = prose(chunk.text)
        assert not MACRO_OR_INCLUDE.search(text), (chunk.chunk_id, chunk.text)
        assert not HTML_TAG.search(text), (chunk.chunk_id, chunk.text)
        assert "()" not in text and "( )" not in text, (chunk.chunk_id, chunk.text)
    notifications = " ".join(c.text for c in chunks if c.source_id == "channel-notifications.md")
    assert "Desktop/Web:" in notifications and "Mobile:" in notifications
    assert "Select Personal settings.\n3. On the left, click Notifications." in notifications
    muted = [c for c in chunks if c.source_id == "mute-a-topic.md"]
    assert "Shift + M" in " ".join(c.text for c in muted)  # from <kbd> and a keyboard tip
