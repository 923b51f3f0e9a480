"""Report recommendations: small samples never lead, and one reconciled recommendation
per template. Each case is a fault of the design document's implementation (and of
this one at branch start), built as a real store."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from analytics.load import load_executions
from analytics.report import build_report
from analytics.report.model import Report
from analytics.report.recommend import Finding, reconcile
from tests.analytics.prompt_data import counted_events
from tests.analytics.report_data import write_store


def report_of(tmp_path: Path, spec: list[tuple[str, str, int, int, float]]) -> Report:
    store = write_store(tmp_path / "store.db", counted_events(spec))
    return build_report(load_executions(store))


def subjects(report: Report) -> Counter[str | None]:
    return Counter(r.subject for r in report.recommendations if r.subject is not None)


def test_a_template_a_little_below_the_overall_rate_is_not_told_to_retire(
    tmp_path: Path,
) -> None:
    # 4,000 executions at 67.8 % against an overall 70.0 %: the interval lies
    # below the overall rate, but 2.2 points is under the 5-point minimum effect.
    report = report_of(tmp_path, [("big_low", "m", 4000, 2712, 0.01),
                                  ("t_a", "m", 2000, 1444, 0.01),
                                  ("t_b", "m", 2000, 1444, 0.01)])
    assert report.headline.success_rate == pytest.approx(0.70)
    templates = report.section("templates").data
    row = next(r for r in templates["all"]["rows"] if r["template_id"] == "big_low")
    assert row["ci_high"] < 0.70  # "credibly below" by the interval alone
    assert templates["underperforming"] == []
    assert not any("retire" in r.action for r in report.recommendations)
    assert not any(r.subject == "big_low" and r.severity == "high" for r in report.risks)


def test_a_cost_action_is_never_drawn_from_a_handful_of_successes(tmp_path: Path) -> None:
    # 'rare' has 2 successes (the priciest per success by noise); 'outlier' with
    # 3,388 executions really costs 5x the median per success.
    report = report_of(tmp_path, [("rare", "m", 60, 2, 0.05),
                                  ("outlier", "m", 3388, 2000, 0.02),
                                  ("c1", "m", 1000, 800, 0.005), ("c2", "m", 1000, 800, 0.005),
                                  ("c3", "m", 1000, 800, 0.005)])
    cost = [r for r in report.recommendations if "cost" in r.action]
    assert len(cost) == 1 and cost[0].subject == "outlier"
    assert "n=3,388" in cost[0].evidence and "fewer than 20 successes" in cost[0].evidence
    assert not any(r.subject == "rare" and "cost" in r.action for r in report.recommendations)


def test_one_reconciled_recommendation_per_template(tmp_path: Path) -> None:
    # code_generation is poor on average (45 %) because it separates models
    # (75 % vs 15 %): the report said both "Revise or retire code_generation" and
    # "Keep code_generation for telling models apart".
    spec = [("code_generation", "strong", 600, 450, 0.01),
            ("code_generation", "weak", 600, 90, 0.01)]
    for template in ("summaries", "recall", "translation"):
        spec += [(template, "strong", 600, 510, 0.01), (template, "weak", 600, 510, 0.01)]
    report = report_of(tmp_path, spec)
    counts = subjects(report)
    assert counts and max(counts.values()) == 1, counts
    about = [r for r in report.recommendations if r.subject == "code_generation"]
    assert len(about) == 1
    action = about[0].action
    assert "telling models apart" in action and "retire" not in action.lower()
    assert "Cramér's V" in about[0].evidence and "45.0%" in about[0].evidence
    # The risk (a fact) stays: the template does under-perform on average.
    assert any(r.subject == "code_generation" and "under-performs" in r.action
               for r in report.risks)


def test_reconcile_lets_the_most_urgent_finding_lead() -> None:
    findings = [
        Finding("pattern", "t", "Use template t as the pattern for new prompts", "best",
                "info", "use it as the pattern for new prompts"),
        Finding("changed", "t", "Find what changed for template t", "fell", "high",
                "find what changed for it"),
        Finding("cost", "t", "Review the cost of template t", "pricey", "medium",
                "review its cost"),
        Finding("prefer", "u", "Prefer template u over v", "won", "medium", "prefer it"),
    ]
    merged = {r.subject: r for r in reconcile(findings)}
    assert merged["t"].action == ("Find what changed for template t; also review its cost; "
                                  "use it as the pattern for new prompts")
    assert merged["t"].severity == "high" and merged["t"].evidence == "fell; pricey; best"
    assert merged["u"].action == "Prefer template u over v"
