"""The report command and its three outputs, on real SQLite stores."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from analytics.figures import png_is_valid
from analytics.load import Selection, load_executions
from analytics.report import REPORT_SCHEMA_VERSION, build_report, generate_report
from analytics.report.render import md_text
from analytics.report.write import inside, write_report
from rev_analytics.cli.main import main
from rev_analytics.core.errors import ConfigError, NothingToReportError
from storage.sqlite.store import SqliteStore
from tests.analytics.report_data import MISSING_CELL, make_events, write_store

SECTIONS = ["templates", "models", "heatmap", "discrimination", "trends", "experiments", "cost",
            "ab_tests", "correlations", "prediction", "identification"]


def strict_json(path: Path) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path.name} contains {token}")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("report") / "store.db", make_events(2400))


@pytest.fixture(scope="module")
def report_dir(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "nested" / "report"
    assert main(["report", "--db", str(store), "--out", str(out)]) == 0
    return out


def test_writes_every_output(report_dir: Path) -> None:
    assert sorted(p.name for p in report_dir.iterdir()) == \
        ["figures", "report.html", "report.json", "summary.md"]
    document = strict_json(report_dir / "report.json")
    assert document["schema_version"] == REPORT_SCHEMA_VERSION
    assert [s["id"] for s in document["sections"]] == SECTIONS
    files = sorted((report_dir / "figures").iterdir())
    assert sorted(f"figures/{p.name}" for p in files) == \
        sorted(f["file"] for f in document["figures"])
    assert {p.stem for p in files} >= {"success_heatmap", "success_time_series",
                                       "network_graph", "latency_cost_distributions"}
    assert all(png_is_valid(p.read_bytes()) for p in files)


def test_headline_and_rankings_match_the_store(report_dir: Path, store: Path) -> None:
    document = strict_json(report_dir / "report.json")
    frame = load_executions(store)
    headline = document["headline"]
    assert headline["executions"] == len(frame) == 2400
    assert headline["successes"] == int(frame["success"].sum())
    assert headline["ci_low"] < headline["success_rate"] < headline["ci_high"]
    assert headline["total_cost"] == pytest.approx(frame["cost"].sum())
    templates = document["sections"][0]["data"]
    assert templates["top"][0]["template_id"] == "tpl_good"
    assert templates["underperforming"][0]["template_id"] == "tpl_bad"
    # The template x model cell that never ran is absent, not reported as 0 %.
    cells = {(r["template_id"], r["model_id"]) for r in document["sections"][2]["data"]["rows"]}
    assert MISSING_CELL not in cells and len(cells) == 11
    # Every recommendation carries evidence with numbers.
    assert document["recommendations"]
    assert all(any(ch.isdigit() for ch in r["evidence"]) for r in document["recommendations"])
    assert any(r["subject"] == "tpl_bad" for r in document["risks"])


def test_summary_has_headline_numbers_risks_and_actions(report_dir: Path) -> None:
    summary = (report_dir / "summary.md").read_text()
    document = strict_json(report_dir / "report.json")
    assert f"**{document['headline']['executions']:,}**" in summary
    assert f"**{document['headline']['success_rate']:.1%}**" in summary
    assert "## Risks" in summary and "## Actions" in summary
    assert summary.startswith(
        "# REV prompt analytics: executive summary, 2026-11-14 to 2026-11-20\n")


class _Rendered(HTMLParser):
    """The text and the tags of rendered HTML (entities decoded, as a reader sees it)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def render_markdown(text: str) -> _Rendered:
    # CommonMark plus GitHub's strikethrough: what GitHub, GitLab and editors render.
    return _Rendered(MarkdownIt("commonmark").enable("strikethrough").render(text))


def test_summary_reads_as_plain_markdown_raw_and_rendered(report_dir: Path) -> None:
    summary = (report_dir / "summary.md").read_text()
    document = strict_json(report_dir / "report.json")
    # Raw: no HTML entity, no backslash escape; ids, p-values and units verbatim.
    assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", summary, re.I), summary
    assert "\\" not in summary
    assert "Template tpl_bad under-performs" in summary
    assert "p < 0.0001" in summary
    # A difference of two success rates is in percentage points, not a percentage.
    assert re.search(r"difference \d+\.\d pp; p", summary), summary
    assert not re.search(r"difference \d+\.\d%", summary)
    items = document["risks"] + document["recommendations"]
    assert len(items) >= 3
    for item in items:
        assert item["action"] in summary and item["evidence"] in summary
    # Rendered: the same words, and no markup came out of the text.
    rendered = render_markdown(summary)
    text = "".join(rendered.text)
    for item in items:
        assert f"{item['action']} — {item['evidence']}" in text
    assert rendered.tags <= {"h1", "h2", "p", "ul", "ol", "li", "strong", "code"}


HOSTILE_IDS = ("**bold**", "<script>alert(1)</script>", "_under_", "[link](http://x)",
               "a`b", "x &amp; y", "~~gone~~", "# heading", "1. item", "back\\slash")


def test_ids_that_look_like_markup_render_verbatim_in_summary(tmp_path: Path) -> None:
    # Each hostile id replaces the bad template, so each one is named in a risk.
    events = [e._replace(template_id=HOSTILE_IDS[i % len(HOSTILE_IDS)] if
                         e.template_id == "tpl_bad" else e.template_id)
              for i, e in enumerate(make_events(1600))]
    _, written = generate_report(write_store(tmp_path / "hostile.db", events), tmp_path / "o")
    rendered = render_markdown(written.summary.read_text())
    assert rendered.tags <= {"h1", "h2", "p", "ul", "ol", "li", "strong", "code"}
    text = "".join(rendered.text)
    document = strict_json(written.json)
    for item in document["risks"] + document["recommendations"]:
        assert f"{item['action']} — {item['evidence']}" in text


# Markdown's own characters often, any other printable character too.
MARKDOWN_TEXT = st.text(st.sampled_from(list("_*`[]()<>&#;!\\~-+=.:1a ")) |
                        st.characters(codec="utf-8", exclude_categories=("C", "Z")), max_size=40)


@given(MARKDOWN_TEXT)
def test_markdown_escaping_renders_any_text_verbatim(text: str) -> None:
    # As a list item's text, md_text(x) renders as x: nothing becomes markup.
    for prefix, label in (("1. ", ""), ("- **HIGH**: ", "HIGH: ")):
        rendered = render_markdown(prefix + md_text(text))
        shown = " ".join("".join(rendered.text).split())
        assert shown == " ".join((label + text).split()), (text, md_text(text))


def test_markdown_escaping_leaves_plain_text_alone() -> None:
    for plain in ("adversarial_jailbreak", "p < 0.0001", "llama-3-70b", "47.6% (n=1,586)",
                  "AT&T", "Cramér's V 0.50 (CI 0.47–0.54)", "2 > 1", "a_b_c", "x #1"):
        assert md_text(plain) == plain
    assert md_text("<script>x</script>") == "\\<script>x\\</script>"
    assert md_text("[link](http://x)") == "\\[link\\](http://x)"
    assert md_text("**bold** `code`") == "\\*\\*bold\\*\\* \\`code\\`"
    assert md_text("_x_ x_") == "\\_x\\_ x\\_"


def test_filters_and_range_restrict_the_report(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "filtered"
    assert main(["report", "--db", str(store), "--out", str(out), "--templates",
                 "tpl_good,tpl_bad", "--models", "m_alpha", "--since", "2026-11-16",
                 "--until", "2026-11-19T00:00:00Z"]) == 0
    document = strict_json(out / "report.json")
    selection = Selection(since=pd.Timestamp("2026-11-16", tz="UTC").to_pydatetime(),
                          until=pd.Timestamp("2026-11-19", tz="UTC").to_pydatetime(),
                          templates=["tpl_good", "tpl_bad"], models=["m_alpha"])
    expected = load_executions(store, selection)
    assert document["headline"]["executions"] == len(expected) > 0
    assert document["headline"]["templates"] == 2 and document["headline"]["models"] == 1
    assert document["selection"]["templates"] == ["tpl_good", "tpl_bad"]


@pytest.mark.parametrize("args", [["--since", "2030-01-01"], ["--templates", "nope"]])
def test_empty_range_says_nothing_to_report(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    out = tmp_path / "empty"
    assert main(["report", "--db", str(store), "--out", str(out), *args]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nothing to report")
    assert not out.exists()


def test_empty_store_says_nothing_to_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    SqliteStore(empty).close()
    assert main(["report", "--db", str(empty), "--out", str(tmp_path / "o")]) == 0
    assert capsys.readouterr().out.startswith("nothing to report")
    with pytest.raises(NothingToReportError):
        build_report(load_executions(empty))


def test_bad_usage_is_one_line_exit_2(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        ["report", "--db", str(store), "--out", str(a_file)],
        ["report", "--db", str(tmp_path / "missing.db"), "--out", str(tmp_path / "o")],
        ["report", "--db", str(store), "--out", str(tmp_path / "o"), "--days", "-3"],
        ["report", "--db", str(store), "--out", str(tmp_path / "o"), "--days", "2",
         "--since", "2026-01-01"],
        ["report", "--db", str(store), "--out", str(tmp_path / "o"), "--alpha", "1.5"],
        ["report", "--db", str(store), "--out", str(tmp_path / "o"), "--min-effect", "1.5"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert a_file.read_text() == "x"


def test_paths_never_escape_the_output_directory(tmp_path: Path) -> None:
    assert inside(tmp_path, "figures/a.png") == (tmp_path / "figures" / "a.png").resolve()
    for name in ("../escape.png", "/etc/passwd", "figures/../../x", "."):
        with pytest.raises(ConfigError, match="outside"):
            inside(tmp_path, name)


def test_degenerate_data_still_gives_a_nan_free_report(tmp_path: Path) -> None:
    # One template, one model, every execution successful, no cost: most tests are undefined.
    events = [e._replace(template_id="only", model_id="one", success=True, cost=None)
              for e in make_events(60)]
    db = write_store(tmp_path / "degenerate.db", events)
    report, written = generate_report(db, tmp_path / "out")
    document = strict_json(written.json)
    assert document["headline"]["success_rate"] == 1.0
    assert document["headline"]["cost_per_success"] is None
    cost = next(s for s in document["sections"] if s["id"] == "cost")
    assert cost["available"] is False
    assert report.section("ab_tests").available is False
    assert written.html.read_text().count("<script") == 0


def test_rewriting_into_the_same_directory_replaces_the_report(tmp_path: Path) -> None:
    report = build_report(load_executions(write_store(tmp_path / "s.db", make_events(300))))
    out = tmp_path / "out"
    write_report(report, out)
    (out / "report.json").write_text("stale")
    second = write_report(report, out)
    assert strict_json(second.json)["report_id"] == report.report_id
    assert strict_json(second.json)["headline"]["executions"] == 300
    # Ids carry a random part: two reports in the same second never overwrite each other.
    assert re.fullmatch(r"report-\d{8}T\d{6}Z-[0-9a-f]{8}", report.report_id)
    assert not [p for p in out.rglob("*partial*")]


def test_repeated_prompts_are_the_unit_and_unadjusted_sections_say_so(report_dir: Path) -> None:
    # The store runs 97 prompts many times each, on every template and model.
    document = strict_json(report_dir / "report.json")
    sections = {s["id"]: s for s in document["sections"]}
    rows = sections["templates"]["data"]["all"]["rows"]
    assert all(r["prompts"] == 97 and r["design_effect"] is not None for r in rows)
    assert "effective sample size" in sections["templates"]["data"]["all"]["interval"]
    assert "Rao-Scott" in sections["discrimination"]["data"]["test"]
    assert {c["design"] for c in sections["ab_tests"]["data"]["comparisons"]} == {"paired"}
    for section in ("correlations", "prediction", "identification"):
        assert any("Not adjusted for repeated prompts" in p
                   for p in sections[section]["paragraphs"]), section
    # Each template is the subject of at most one recommendation.
    subjects = [r["subject"] for r in document["recommendations"] if r["subject"]]
    assert len(subjects) == len(set(subjects))


def test_per_experiment_view_in_json_summary_and_experiment_filter(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from streams.simulate.workload import synthetic_prompt_events

    db = tmp_path / "sim.db"
    with SqliteStore(db) as store:
        store.insert_events(list(synthetic_prompt_events(
            6000, seed=2, start=datetime(2026, 3, 1, tzinfo=UTC))))
    out = tmp_path / "all"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    document = strict_json(out / "report.json")
    assert document["schema_version"] == REPORT_SCHEMA_VERSION == 2
    view = document["experiments"]
    section = next(s for s in document["sections"] if s["id"] == "experiments")
    assert section["available"] and section["data"] == view
    ids = [e["experiment_id"] for e in view["experiments"]]
    assert len(ids) == 4 and [c["experiment_id"] for c in view["changes"]] == ids[1:]
    assert [c["significant_templates"] for c in view["changes"]] == [
        [], ["instruction_following"], []]
    summary = (out / "summary.md").read_text()
    assert "## Experiments" in summary
    assert (f"- {ids[2]} against {ids[1]}: instruction\\_following -" in summary
            or f"- {ids[2]} against {ids[1]}: instruction_following -" in summary)
    # One experiment selected: its own view, nothing to compare it with.
    one = tmp_path / "one"
    assert main(["report", "--db", str(db), "--out", str(one), "--experiment", ids[2]]) == 0
    document = strict_json(one / "report.json")
    assert document["selection"]["experiments"] == [ids[2]]
    assert [e["experiment_id"] for e in document["experiments"]["experiments"]] == [ids[2]]
    assert document["experiments"]["changes"] == []
    assert "What changed" not in (one / "summary.md").read_text()


def test_a_store_without_experiment_ids_says_so(report_dir: Path) -> None:
    document = strict_json(report_dir / "report.json")
    assert document["experiments"] is None
    section = next(s for s in document["sections"] if s["id"] == "experiments")
    assert not section["available"] and "experiment_id" in section["paragraphs"][0]
    assert "## Experiments" not in (report_dir / "summary.md").read_text()
