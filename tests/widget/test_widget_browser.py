"""The chat widget in real headless Chromium (Debian's `chromium`, driven by Playwright).

One app serves the demo page; answers are written by a local OpenAI-compatible stub model
that streams word by word, so the widget's incremental rendering is observable. A second
origin (the helpdesk stub) hosts the widget with a public key, to exercise CORS and the
key's origin restriction for real. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.api.app import create_app
from bot.helpdesk.handoff import HANDOFF_TEXT
from bot.security.keystore import KeyStore
from tests.conftest import REPO_ROOT
from tests.support.helpdesk_stub_server import HelpdeskStubServer
from tests.support.live_server import serve
from tests.support.openai_stub_server import OpenAIStubServer, StubReply
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SUPPORTBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
HANDOFF_SECRET = "handoff-secret"
ARTICLES = "https://help.lumennotes.example/"
PASSWORD_ANSWER = (
    "To reset your password:\n"
    "1. On the sign-in page, choose **Forgot password** [1].\n"
    "2. Enter your email address and open the link we send you [1].\n\n"
    "If the email doesn't arrive, check your spam folder [2]."
)


@pytest.fixture(scope="module")
def chromium():  # type: ignore[no-untyped-def]
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def helpdesk() -> Iterator[HelpdeskStubServer]:
    with HelpdeskStubServer() as stub:
        yield stub


@pytest.fixture(scope="module")
def model() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(StubReply(chunk_delay_s=0.03)) as server:
        yield server


@pytest.fixture(scope="module")
def app(
    sample_kb_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    helpdesk: HelpdeskStubServer,
    model: OpenAIStubServer,
) -> Iterator[dict]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("widget-data"))
    _, key = KeyStore(data_dir / "keys.json").create(
        "widget", kb=SAMPLE_KB, origins=(helpdesk.url,)
    )
    settings = sample_settings(
        data_dir,
        answerable_threshold=0.5,
        llm_model="openai/test-model",
        llm_base_url=model.base_url,
        llm_api_key="k",
        handoff_webhook_url=f"{helpdesk.url}/handoff",
        handoff_webhook_secret=HANDOFF_SECRET,
        rate_limit_burst=200,
        rate_limit_key_burst=3,
        rate_limit_key_per_minute=1.0,
    )
    with serve(create_app(settings)) as url:
        yield {"url": url, "key": key, "data_dir": data_dir}


@pytest.fixture
def context(chromium):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    # Citation links point at the fictional help center; answer them locally, no network.
    context.route(
        f"{ARTICLES}**",
        lambda route: route.fulfill(
            body="<!doctype html><title>Lumen Notes article</title><h1>Article</h1>",
            content_type="text/html",
        ),
    )
    yield context
    context.close()


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), animations="disabled")
    return path


WATCH_ANSWER = """() => {
  const root = document.querySelector('[data-supportbot]').shadowRoot;
  window.__seen = {lengths: [], thinking: false};
  new MutationObserver(() => {
    const bots = root.querySelectorAll('li.bot');
    const last = bots[bots.length - 1];
    if (!last) return;
    if (last.classList.contains('thinking')) window.__seen.thinking = true;
    const text = last.querySelector('.text').textContent;
    const seen = window.__seen.lengths;
    if (text && seen[seen.length - 1] !== text.length) seen.push(text.length);
  }).observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def test_visitor_asks_reads_sources_rates_reloads_and_reaches_a_person(
    app: dict,
    context,
    helpdesk: HelpdeskStubServer,
    model: OpenAIStubServer,  # type: ignore[no-untyped-def]
) -> None:
    page = context.new_page()
    page.goto(app["url"] + "/")
    page.get_by_role("button", name="Open Lumen Notes Help chat").wait_for()
    launcher = page.locator("button.launcher")  # its name flips to "Close …" when open
    shot(page, "widget-first-visit.png")

    # Host styles (pink Comic Sans buttons, brown list items) stay out of the shadow root.
    style = launcher.evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).fontFamily]"
    )
    assert style[0] == "rgb(59, 91, 219)" and "Comic Sans" not in style[1]

    # Keyboard: Tab reaches the launcher, Enter opens the dialog with focus in the textbox.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Lumen Notes Help")
    dialog.wait_for()
    assert launcher.get_attribute("aria-expanded") == "true"
    assert launcher.get_attribute("aria-label") == "Close Lumen Notes Help chat"
    focused = page.evaluate(
        "() => document.querySelector('[data-supportbot]').shadowRoot.activeElement.id"
    )
    assert focused == "input"
    assert dialog.get_by_text("I'll answer from the help center").is_visible()
    shot(page, "widget-open.png")

    page.evaluate(WATCH_ANSWER)
    model.enqueue(StubReply(text=PASSWORD_ANSWER, chunk_delay_s=0.03))
    page.keyboard.type("I forgot my password, how do I reset it?")
    page.keyboard.press("Enter")
    sources = dialog.get_by_role("list", name="Sources")
    sources.wait_for(timeout=60_000)
    answer = dialog.locator("li.bot .text").last
    # Markdown becomes a list, bold text and superscript citation links; never raw HTML.
    assert answer.locator("ol > li").count() == 2
    assert answer.locator("strong").text_content() == "Forgot password"
    assert answer.locator("sup a").count() == 3
    shown = answer.inner_text()
    assert "check your spam folder" in shown and "**" not in shown
    seen = page.evaluate("() => window.__seen")
    assert seen["thinking"] is True
    # rendered piece by piece as the deltas arrived, not all at once at the end
    assert len(seen["lengths"]) >= 5 and seen["lengths"][0] < seen["lengths"][-1] / 4, seen
    links = sources.get_by_role("link")
    assert links.count() >= 1
    first_href = links.first.get_attribute("href")
    assert first_href is not None and first_href.startswith(ARTICLES)
    assert "password" in (links.first.text_content() or "").lower()

    # A citation opens the article in a new tab.
    with context.expect_page() as opened:
        links.first.click()
    article = opened.value
    article.wait_for_load_state()
    assert article.url == first_href
    article.close()

    # "Was this helpful?" → a feedback record on the server.
    dialog.get_by_role("button", name="Yes, this helped").click()
    dialog.get_by_text("Thanks for your feedback!").wait_for()
    feedback = [
        json.loads(line) for line in (app["data_dir"] / "feedback.jsonl").read_text().splitlines()
    ]
    assert feedback[-1]["rating"] == "up" and feedback[-1]["answer"] == PASSWORD_ANSWER
    assert feedback[-1]["question"] == "I forgot my password, how do I reset it?"
    print("screenshot:", shot(page, "widget-answer.png"))

    # Reload: the conversation, its sources and the open panel survive (sessionStorage).
    page.reload()
    dialog = page.get_by_role("dialog", name="Lumen Notes Help")
    dialog.wait_for()
    assert dialog.locator("li.bot .text").last.inner_text() == shown
    assert dialog.get_by_role("list", name="Sources").get_by_role("link").count() == links.count()
    assert (
        dialog.get_by_role("button", name="Yes, this helped").get_attribute("aria-pressed")
        == "true"
    )

    # A follow-up uses the server-kept history of the same conversation.
    model.clear()
    model.enqueue(
        # First the standalone search query for the follow-up, then the answer.
        StubReply(text="reset my password in the Lumen Notes mobile app"),
        StubReply(text="Yes, the same steps work in the mobile app [1].", chunk_delay_s=0),
    )
    page.get_by_role("textbox", name="Your question").fill(
        "can I reset my password from the mobile app?"
    )
    page.get_by_role("button", name="Send").click()
    dialog.get_by_text("Yes, the same steps work in the mobile app").wait_for(timeout=60_000)
    condense, answer = model.requests
    assert "I forgot my password, how do I reset it?" in json.dumps(condense.messages)
    prompt = json.dumps(answer.messages)
    assert "I forgot my password, how do I reset it?" in prompt

    # Talk to a person: the signed transcript reaches the helpdesk, the visitor is told.
    helpdesk.clear()
    dialog.get_by_role("button", name="Talk to a person").click()
    dialog.get_by_text(HANDOFF_TEXT).wait_for()
    [delivery] = helpdesk.wait_for("/handoff")
    assert delivery.signature_ok(HANDOFF_SECRET)
    transcript = [t["content"] for t in delivery.json["transcript"]]
    assert transcript[0] == "I forgot my password, how do I reset it?" and len(transcript) == 4
    assert dialog.get_by_role("button", name="Support team notified").is_disabled()

    # Escape closes the dialog and gives focus back to the launcher.
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    assert (
        page.evaluate(
            "() => document.querySelector('[data-supportbot]').shadowRoot.activeElement.className"
        )
        == "launcher"
    )


def test_phone_width_and_an_unanswerable_question(app: dict, chromium) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(app["url"] + "/")
        page.get_by_role("button", name="Open Lumen Notes Help chat").click()
        dialog = page.get_by_role("dialog", name="Lumen Notes Help")
        box = dialog.bounding_box()
        assert box is not None and round(box["width"]) == 390 and round(box["height"]) == 844
        page.get_by_role("textbox", name="Your question").fill("what's the capital of Mongolia?")
        page.get_by_role("button", name="Send").click()
        # The app has a handoff webhook: a declined answer goes to a person straight away,
        # so the widget says so instead of offering the handoff again.
        reply = dialog.locator("li.bot .text").filter(has_text="couldn't find an answer")
        reply.wait_for(timeout=60_000)
        assert "passed your question to a person" in (reply.text_content() or "")
        assert dialog.locator("li.bot").get_by_role("button", name="Talk to a person").count() == 0
        assert dialog.get_by_role("group", name="Was this answer helpful?").count() == 0
        shot(page, "widget-phone.png")
    finally:
        context.close()


def test_embedded_on_another_origin_with_a_key(
    app: dict,
    chromium,
    helpdesk: HelpdeskStubServer,  # type: ignore[no-untyped-def]
    model: OpenAIStubServer,
) -> None:
    helpdesk.pages["/host.html"] = (
        "<!doctype html><title>Shop</title><h1>Acme shop</h1>"
        f'<script src="{app["url"]}/widget.js" data-kb="{SAMPLE_KB}" data-key="{app["key"]}" '
        'data-title="Shop help" data-open="true" async></script>'
    )
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(helpdesk.url + "/host.html")
        dialog = page.get_by_role("dialog", name="Shop help")
        dialog.wait_for()
        textbox = page.get_by_role("textbox", name="Your question")
        send = page.get_by_role("button", name="Send")

        # Cross-origin with the key: CORS preflight and the key's origin check pass.
        # Turns after the first also ask the model to rewrite the follow-up for search.
        rewrite = "how do I share a page?"
        model.clear()
        model.enqueue(model.reply, rewrite, model.reply, rewrite, model.reply)
        for turn in range(3):
            textbox.fill(f"how do I share a page? ({turn})")
            send.click()
            dialog.locator("li.bot .feedback").nth(turn).wait_for(timeout=60_000)

        # The key's bucket (3 requests) is empty: a clear rate-limited state.
        textbox.fill("one more question")
        send.click()
        dialog.get_by_text("sending messages too quickly").first.wait_for()
        banner = dialog.get_by_role("status").first
        assert "You can ask again in" in (banner.text_content() or "")
        assert send.is_disabled()

        # Offline: a banner, and no sending until back online.
        context.set_offline(True)
        dialog.get_by_text("You're offline").wait_for()
        assert send.is_disabled()
        context.set_offline(False)

        # The same key from an origin it does not allow: refused, and the widget says so.
        other = context.new_page()
        other.goto(helpdesk.url.replace("127.0.0.1", "localhost") + "/host.html")
        other.get_by_role("textbox", name="Your question").fill("hello?")
        other.get_by_role("button", name="Send").click()
        other.get_by_text("may only be used from").wait_for(timeout=30_000)
    finally:
        context.close()
