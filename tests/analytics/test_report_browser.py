"""report.html in a real headless browser (Debian's chromium, driven by Playwright).

Proves what a researcher opening the file sees: it renders offline, shows the
headline numbers, every figure loads from the file itself, nothing is fetched
from anywhere else, and an event id carrying <script> or an onerror handler is
shown as text and never runs. On a realistic store (the simulator's eight
templates, five models and 3 % timeouts) at 1400 px: no word or number is
broken across lines, correlations read as numbers, the heading names the range.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

from analytics.figures import png_is_valid
from rev_analytics.cli.main import main
from storage import open_store
from streams.simulate.workload import synthetic_prompt_events
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
        assert page.title() == "REV prompt analytics report, 2026-11-14 to 2026-11-20"
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


WIDTH = 1400

# Every token (what lies between spaces) of every text node under the given
# elements must sit on one line: a token whose characters lie on two lines was
# broken mid-word ("significan/t", "-0.252/7", "llama-3-/70b").
BROKEN_TOKENS_JS = """
roots => {
  const broken = [];
  let tokens = 0;
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/[^ \\n\\t]+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                          .map(r => Math.round(r.bottom)));
        tokens += 1;
        if (lines.size > 1) broken.push(match[0] + "  in: " + root.textContent.slice(0, 60));
      }
    }
  }
  return [tokens, broken];
}
"""

# A cell that holds a number, an id, a flag or a time is one line.
MULTI_LINE_CELLS_JS = """
cells => cells.filter(cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                    .map(r => Math.round(r.bottom)));
  return lines.size > 1;
}).map(cell => cell.textContent)
"""

TEXT_ROOTS = "table th, table td, #risks li, #top-actions li, section > p, figcaption, h1, .meta"


@pytest.fixture(scope="module")
def realistic_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report on the simulator's workload: 8 templates (28 pairs), timeouts up to 90 s."""
    base = tmp_path_factory.mktemp("realistic-report")
    with open_store(base / "store.db") as db:
        db.insert_events(list(synthetic_prompt_events(
            8000, seed=3, start=datetime(2026, 2, 1, tzinfo=UTC), span_seconds=7 * 86400,
            late_fraction=0.02)))
    out = base / "report"
    assert main(["report", "--db", str(base / "store.db"), "--out", str(out)]) == 0
    return out


def open_wide(browser: Browser, html: Path) -> Page:
    page = browser.contexts[0].new_page()
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    page.goto(html.as_uri(), wait_until="load")
    # Tables folded into <details> are laid out (and measured) only when open.
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    return page


def test_no_word_or_number_is_broken_across_lines_at_1400px(
    browser: Browser, realistic_report: Path, tmp_path: Path,
) -> None:
    page = open_wide(browser, realistic_report / "report.html")
    try:
        tokens, broken = page.eval_on_selector_all(TEXT_ROOTS, BROKEN_TOKENS_JS)
        assert tokens > 1500  # every table of the report was measured
        assert broken == []
        single_line = "td.num, td.id, td.flag, td.time, th.num"
        assert page.eval_on_selector_all(single_line, MULTI_LINE_CELLS_JS) == []
        assert page.locator("td.num").count() > 500
        # The cause, not only the symptom: table text breaks only between words.
        styles = page.eval_on_selector_all(
            "th, td", "cells => [...new Set(cells.map(c => { const s = getComputedStyle(c); "
            "return s.overflowWrap + ' ' + s.wordBreak; }))]")
        assert styles == ["normal normal"]
        # Nothing overflows the page sideways: a table too wide for it scrolls in its box.
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        shot = tmp_path / "report-1400.png"
        page.screenshot(path=str(shot), full_page=True)
        assert png_is_valid(shot.read_bytes())
    finally:
        page.close()


def test_correlations_read_as_coefficients_not_percentages(
    browser: Browser, realistic_report: Path,
) -> None:
    document = json.loads((realistic_report / "report.json").read_text())
    features = next(s for s in document["sections"] if s["id"] == "correlations")
    expected = {row["feature"]: row for row in features["data"]["features"]}
    page = open_wide(browser, realistic_report / "report.html")
    try:
        headings = page.eval_on_selector_all("#correlations th", "els => els.map(e => "
                                             "e.textContent)")
        rows = page.eval_on_selector_all(
            "#correlations tbody tr", "rows => rows.map(r => [...r.cells].map(c => "
            "c.textContent))")
        assert len(rows) == len(expected) >= 5
        for cells in rows:
            shown = dict(zip(headings, cells, strict=True))
            truth = expected[shown["feature"]]
            for heading, key in (("r", "r"), ("CI low", "ci_low"), ("CI high", "ci_high")):
                assert "%" not in shown[heading]
                assert shown[heading] == f"{truth[key]:.3f}", (heading, shown)
    finally:
        page.close()


def test_heading_names_the_range_and_counts_read_truthfully(
    browser: Browser, realistic_report: Path,
) -> None:
    document = json.loads((realistic_report / "report.json").read_text())
    page = open_wide(browser, realistic_report / "report.html")
    try:
        heading = page.inner_text("h1")
        assert heading == "REV prompt analytics: 2026-02-01 to 2026-02-07"
        assert document["report_id"] not in heading
        assert document["report_id"] in page.inner_text(".meta")  # still there, for reference
        # Every pair is shown, and the text says so (not "the 28 most significant").
        comparisons = next(s for s in document["sections"] if s["id"] == "ab_tests")
        total = len(comparisons["data"]["comparisons"])
        assert total == 28
        assert f"Showing all {total}." in page.inner_text("#ab_tests")
        assert "most significant" not in page.inner_text("#ab_tests p")
        assert page.locator("#ab_tests tbody tr").count() == total
        # B - A is a difference in percentage points.
        differences = page.eval_on_selector_all(
            "#ab_tests tbody tr", "rows => rows.map(r => r.cells[6].textContent)")
        assert all(re.fullmatch(r"[+-]\d+\.\d pp", d) for d in differences), differences
        # The latency histogram folds the 90 s timeouts into a last bin and says so.
        caption = page.inner_text("#figure-latency_cost_distributions figcaption")
        assert "folded into the last, grey bin" in caption
    finally:
        page.close()


def test_experiments_section_shows_each_experiment_and_the_change(
    browser: Browser, realistic_report: Path,
) -> None:
    document = json.loads((realistic_report / "report.json").read_text())
    view = document["experiments"]
    assert [e["experiment_id"] for e in view["experiments"]] == [
        "exp-2026-02-01-a", "exp-2026-02-03-b", "exp-2026-02-05-c", "exp-2026-02-06-d"]
    page = open_wide(browser, realistic_report / "report.html")
    try:
        assert page.locator("nav a[href='#experiments']").count() == 1
        text = page.inner_text("#experiments")
        assert ("exp-2026-02-05-c against exp-2026-02-03-b: same templates and models; "
                "significant change: instruction_following") in text
        tables = page.locator("#experiments table")
        assert tables.count() == 3
        summary, changes, _ = page.eval_on_selector_all(
            "#experiments table", "tables => tables.map(t => [...t.tBodies[0].rows].map("
            "r => [...r.cells].map(c => c.textContent)))")
        assert [row[0] for row in summary] == [e["experiment_id"] for e in view["experiments"]]
        assert all(re.fullmatch(r"\d+\.\d%", row[5].replace(" ", "")) for row in summary)
        # The significant change comes first in its experiment's rows, in points.
        flagged = [row for row in changes if row[-1] == "yes" and row[1] != "all templates"]
        assert [row[1] for row in flagged] == ["instruction_following"]
        assert re.fullmatch(r"-\d+\.\d pp", flagged[0][4])
        assert flagged[0][7] == "paired"
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        tokens, broken = page.eval_on_selector_all(
            "#experiments th, #experiments td, #experiments > p", BROKEN_TOKENS_JS)
        assert tokens > 200 and broken == []
        page.locator("#experiments").screenshot(path=str(realistic_report / "experiments.png"))
        assert png_is_valid((realistic_report / "experiments.png").read_bytes())
    finally:
        page.close()
