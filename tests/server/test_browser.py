"""The search page in a real browser: Playwright driving Debian's Chromium against a real
`flywheel serve`. Sign in, search, open a result and come back (dwell), thumbs up, more like
this, answer feedback, a rewritten query in compare mode and a vote; then the exact events in
the store. Also: nothing from the corpus runs as HTML.

Headless Chromium never hides a tab when another opens (Playwright gives every page its own
window), so "the user went to the document and came back" is played by switching
``document.visibilityState`` and firing ``visibilitychange``, the two things the page's dwell
code listens to; the dwell itself then travels by the browser's real ``sendBeacon``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from capture_helpers import RETRIEVERS, TOKEN, XSS_TITLE, seed

from flywheel.data.events import EventKind
from flywheel.server.compare import preference_pairs
from flywheel.server.process import ServerProcess
from flywheel.store import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is missing; run scripts/ensure-chromium.sh (make test does)",
)

SET_VISIBILITY = """state => {
    Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
    Object.defineProperty(document, "hidden", {configurable: true, get: () => state === "hidden"});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def wait_for_events(db: Path, count: int, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    with Store(str(db)) as store:
        while True:
            events = store.events()
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("browser") / "flywheel.db"
    with Store(str(db)) as store:
        seed(store)
    with ServerProcess(db, token=TOKEN, retrievers=RETRIEVERS) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_the_page_captures_every_signal(server, browser, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#token", TOKEN)  # the server has a token, so the page asks for it once
    page.click("#login-form button")
    page.wait_for_selector("#login", state="hidden")
    session = page.evaluate("sessionStorage.getItem('flywheel.session')")

    # 1. search; the corpus's <script> document comes back as text
    page.fill("#q", "why do cats purr")
    page.press("#q", "Enter")
    page.wait_for_selector("#results li.result")
    items = page.locator("#results li.result")
    assert items.first.get_attribute("data-chunk-id") == "cat-1"
    xss = page.locator('#results li[data-chunk-id="xss"] a.title')
    assert xss.text_content() == XSS_TITLE
    assert page.locator("#results script, #results img, #results b").count() == 0
    assert page.evaluate("window.__pwned") is None

    # 2. open the top result in a new tab, spend a while there, come back
    with context.expect_page() as opened:
        items.first.locator("a.title").click()
    document = opened.value
    document.wait_for_load_state()
    assert document.locator("h1").text_content() == "Why cats purr"  # the cookie got it in
    page.evaluate(SET_VISIBILITY, "hidden")
    page.wait_for_timeout(1200)
    page.evaluate(SET_VISIBILITY, "visible")
    document.close()

    # 3. thumbs up, more like this, answer-level feedback
    top = items.first
    top.locator("button.up").click()
    page.wait_for_selector('#results li[data-chunk-id="cat-1"] button.up[aria-pressed="true"]')
    top.locator("button.mlt").click()
    page.wait_for_selector('#results li[data-chunk-id="cat-1"] .similar li')
    assert top.locator(".similar li").count() >= 1
    page.click('.answer-vote[data-positive="true"]')
    page.wait_for_selector("#answer-status:has-text('Thanks')")
    page.screenshot(path=str(tmp_path / "search-page.png"), full_page=True)

    # 4. rewrite the query in compare mode and vote for the left column
    page.check("#compare")
    page.fill("#q", "cats sleep")
    page.press("#q", "Enter")
    page.wait_for_selector("#pair .column[data-side='1'] li.result")
    assert "rewrite of" in page.locator("#status").text_content()
    columns = [
        page.locator(f"#pair .column[data-side='{i}'] li.result").evaluate_all(
            "items => items.map(i => i.dataset.chunkId)"
        )
        for i in (0, 1)
    ]
    page.click("#pair .vote[data-side='0']")
    page.wait_for_selector("#vote-status:has-text('preferred')")
    revealed = page.locator("#pair .column[data-side='0'] .reveal").text_content()
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    assert (tmp_path / "search-page.png").stat().st_size > 10_000
    assert not problems, problems
    context.close()

    pairs = preference_pairs(columns[0], columns[1])
    assert pairs  # these two configurations disagree on "cats sleep"
    events = wait_for_events(Path(server.db), 10 + len(pairs))
    kinds = Counter(str(e.kind) for e in events)
    assert kinds == Counter({
        "retrieval": 3, "click": 1, "dwell": 1, "document_feedback": 1, "more_like_this": 1,
        "answer_feedback": 1, "reformulation": 1, "preference": len(pairs),
    })  # fmt: skip
    assert {e.session_id for e in events} == {session}
    first = next(e for e in events if e.kind == EventKind.CLICK).qid
    by_kind = {str(e.kind): e for e in events}
    assert (by_kind["click"].chunk_id, by_kind["click"].rank) == ("cat-1", 1)
    assert by_kind["dwell"].chunk_id == "cat-1" and 1000 <= by_kind["dwell"].dwell_ms < 10_000
    assert (by_kind["document_feedback"].chunk_id, by_kind["document_feedback"].positive) == (
        "cat-1",
        True,
    )
    assert by_kind["more_like_this"].chunk_id == "cat-1"
    assert by_kind["answer_feedback"].positive is True and by_kind["answer_feedback"].qid == first
    second = by_kind["reformulation"].qid
    assert by_kind["reformulation"].previous_qid == first and second != first
    retrievals = [e for e in events if e.kind == EventKind.RETRIEVAL]
    assert [e.retriever for e in retrievals if e.qid == first] == ["bm25"]
    assert sorted(e.retriever for e in retrievals if e.qid == second) == sorted(RETRIEVERS)
    stored_pairs = sorted((e.winner, e.loser) for e in events if e.kind == EventKind.PREFERENCE)
    assert stored_pairs == sorted(pairs)
    winner_side = next(e for e in retrievals if e.qid == second and
                       [c for c, _, _ in e.results] == columns[0])  # fmt: skip
    assert revealed == f"({winner_side.retriever})"
