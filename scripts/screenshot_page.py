"""Screenshots of the search page over a real corpus, for the README and docs/capture.md.

    .venv/bin/python scripts/screenshot_page.py            # SciFact -> docs/images/*.png

Ingests the BEIR folder into a temporary store, runs `flywheel serve` on a free loopback port,
drives Debian's Chromium with Playwright (search, thumbs up, more like this; then compare
mode), and writes two PNGs. Needs /usr/bin/chromium (scripts/ensure-chromium.sh).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from flywheel.server.process import ServerProcess
from flywheel.store import Store

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def default_beir() -> Path:
    base = os.environ.get("FLYWHEEL_DATASETS") or str(ROOT.parent / "shared" / "datasets")
    return Path(base) / "scifact"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beir", type=Path, default=default_beir(), help="BEIR folder")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--query", default="vitamin D and cancer risk")
    parser.add_argument("--compare-query", default="vitamin D supplementation fractures")
    parser.add_argument(
        "--db", type=Path, help="Keep the store (and its events) here instead of a temp folder"
    )
    args = parser.parse_args()
    if not (args.beir / "corpus.jsonl").exists():
        parser.error(f"{args.beir} has no corpus.jsonl; pass --beir DIR (a BEIR folder)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "flywheel.db"
        with Store(str(db)) as store:
            store.ingest_beir(args.beir)  # a no-op when the store has it already
        retrievers = ["bm25", "bm25,k1=0.9,b=0.4"]
        with ServerProcess(db, retrievers=retrievers) as server, sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1200, "height": 980})
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready=true]")
            page.fill("#q", args.query)
            page.press("#q", "Enter")
            page.wait_for_selector("#results li.result")
            first = page.locator("#results li.result").first
            first.locator("button.up").click()
            page.locator("#results li.result").nth(2).locator("button.down").click()
            first.locator("button.mlt").click()
            page.wait_for_selector("#results li.result .similar li")
            page.wait_for_timeout(300)
            page.screenshot(path=str(args.out / "search-page.png"))
            page.check("#compare")
            page.fill("#q", args.compare_query)
            page.press("#q", "Enter")
            page.wait_for_selector("#pair .column[data-side='1'] li.result")
            page.click("#pair .vote[data-side='0']")
            page.wait_for_selector("#vote-status:has-text('preferred')")
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(200)
            page.screenshot(path=str(args.out / "search-compare.png"))
            browser.close()
        with Store(str(db)) as store:
            kinds = sorted({str(e.kind) for e in store.events()})
    print(f"wrote {args.out / 'search-page.png'} and {args.out / 'search-compare.png'}")
    print(f"events logged while taking them: {', '.join(kinds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
