"""report.html in a real headless browser (Debian's chromium, driven by Playwright).

Proves what a researcher opening the file sees: it renders offline, shows the
headline numbers, every figure loads from the file itself, nothing is fetched
from anywhere else, and an event id carrying <script> or an onerror handler is
shown as text and never runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

from rev_analytics.cli.main import main
from tests.analytics.report_data import make_events, write_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCRIPT_ID = '<script>window.__pwned = "script"; document.title = "PWNED"</script>'
ONERROR_ID = '"><img src=x onerror="window.__pwned=\'img\'">'
REMOTE_ID = "<img src='http://127.0.0.1:9/track.png'><link rel=stylesheet href=https://x.invalid/a.css>"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    # .ci/run installs Debian's chromium; never `playwright install` (no downloads here).
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        assert context.browser is not None
        yield context.browser
        context.close()


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("browser-report")
    events = make_events(900)
    hostile = [e._replace(event_id=f"hostile-{i}", template_id=name, model_id="m_alpha")
               for i, name in enumerate((SCRIPT_ID, ONERROR_ID, REMOTE_ID))
               for e in events[i * 40:(i + 1) * 40]]
    db = write_store(base / "store.db", events[120:] + hostile)
    out = base / "report"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    return out


def open_report(browser: Browser, html: Path) -> tuple[Page, list[str], list[str]]:
    """Open ``html`` offline; return the page, every request URL, and console errors."""
    page = browser.contexts[0].new_page()
    requests: list[str] = []
    errors: list[str] = []

    def record(route: Route, request: Request) -> None:
        requests.append(request.url)
        if request.url.startswith(("file:", "data:")):
            route.continue_()
        else:  # anything else would be a network fetch: refuse it (and fail below)
            route.abort()

    page.route("**/*", record)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri(), wait_until="load")
    return page, requests, errors


def test_report_renders_headline_numbers_offline(browser: Browser, report_dir: Path) -> None:
    document: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    page, requests, errors = open_report(browser, report_dir / "report.html")
    try:
        assert page.title() == "REV prompt analytics report"
        executions = document["headline"]["executions"]
        assert page.inner_text("#headline-executions") == f"{executions:,}"
        assert page.inner_text("#headline-success-rate") == \
            f"{document['headline']['success_rate']:.1%}"
        assert page.locator("#summary").is_visible()
        # Every figure is embedded and decodes to a real image.
        sizes = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.src.slice(0, 22), e.complete, e.naturalWidth])")
        assert len(sizes) == len(document["figures"]) >= 4
        assert all(src == "data:image/png;base64," and done and width > 100
                   for src, done, width in sizes)
        # Nothing but the file itself (and its inline data) was requested.
        assert all(url.startswith(("file:", "data:")) for url in requests), requests
        assert [url for url in requests if url.startswith("file:")] == \
            [(report_dir / "report.html").as_uri()]
        assert errors == []
    finally:
        page.close()


def test_hostile_ids_are_shown_as_text_and_never_run(browser: Browser, report_dir: Path) -> None:
    page, requests, errors = open_report(browser, report_dir / "report.html")
    try:
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.title() != "PWNED"
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        # Only the figures are images: the ids' <img> and <link> were never parsed as tags.
        assert page.evaluate("document.querySelectorAll('img').length") == \
            page.evaluate("document.querySelectorAll('figure img').length")
        assert page.evaluate("document.querySelectorAll('link').length") == 0
        cells = page.eval_on_selector_all("#templates td", "els => els.map(e => e.textContent)")
        for hostile in (SCRIPT_ID, ONERROR_ID, REMOTE_ID):
            assert hostile in cells, f"{hostile!r} not shown verbatim"
        assert not any("127.0.0.1:9" in url or "x.invalid" in url for url in requests)
        assert errors == []
        # report.json keeps the ids verbatim (it is data, not markup).
        document = json.loads((report_dir / "report.json").read_text())
        listed = {row["template_id"] for row in document["sections"][0]["data"]["all"]["rows"]}
        assert {SCRIPT_ID, ONERROR_ID, REMOTE_ID} <= listed
    finally:
        page.close()
