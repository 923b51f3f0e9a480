"""run_analysis on a simulated REV workload: finds what the simulator planted, JSON-safe."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from analytics.analyze import SECTIONS, AnalysisReport, run_analysis
from rev_analytics.core.errors import NothingToReportError
from streams.simulate.workload import Workload, synthetic_prompt_events

START = datetime(2026, 2, 1, tzinfo=UTC)


def simulated(count: int, seed: int = 0) -> pd.DataFrame:
    events = list(synthetic_prompt_events(count, seed=seed, start=START))
    frame = pd.DataFrame(events, columns=list(events[0]._fields))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="us", utc=True)
    for column in ("response_length", "execution_time", "discrimination_score",
                   "behavioral_score", "quality_score", "difficulty_level", "cost"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return frame.drop(columns=["metadata", "response_hash", "stream_id"])


@pytest.fixture(scope="module")
def report() -> AnalysisReport:
    seen: list[str] = []
    result = run_analysis(simulated(12_000), progress=seen.append)
    assert seen == list(SECTIONS)
    return result


def strict_json(report: AnalysisReport) -> dict:  # type: ignore[type-arg]
    def refuse(value: str) -> None:
        raise AssertionError(f"non-finite number {value} in JSON")

    return json.loads(json.dumps(report.to_dict(), allow_nan=False), parse_constant=refuse)


def test_every_section_present_and_json_safe(report: AnalysisReport) -> None:
    data = strict_json(report)
    assert not report.notes, report.notes
    for section in SECTIONS:
        assert data[section], section
    assert data["overview"]["n"] == 12_000
    assert set(data["timings_seconds"]) == set(SECTIONS)


def test_planted_degradation_is_found_with_its_time(report: AnalysisReport) -> None:
    truth = Workload(0, start=START).ground_truth()
    assert report.changes is not None
    degraded = report.changes.degraded
    assert [c.template_id for c in degraded] == [truth.degrading_template]
    found = degraded[0].changed_at
    assert found is not None
    span = pd.Timestamp(truth.end) - pd.Timestamp(truth.start)
    assert abs(found - pd.Timestamp(truth.change_time)) < 0.1 * span


def test_discrimination_ranking_follows_the_ground_truth(report: AnalysisReport) -> None:
    truth = Workload(0, start=START).ground_truth()
    spread = {}
    for template in {t for t, _ in truth.success}:
        rates = [rate for (t, _), rate in truth.success.items() if t == template]
        spread[template] = max(rates) - min(rates)
    assert report.discrimination is not None
    ranked = [row.template_id for row in report.discrimination.templates]
    most, least = max(spread, key=spread.__getitem__), min(spread, key=spread.__getitem__)
    assert ranked.index(most) < 2 and ranked.index(least) >= len(ranked) - 3


def test_learning_sections_are_honest(report: AnalysisReport) -> None:
    assert report.prediction is not None and report.identification is not None
    assert "quality_score" in report.prediction.excluded
    assert all(0.6 < model.roc_auc < 0.97 for model in report.prediction.models)
    ident = report.identification
    assert ident.accuracy > ident.chance and ident.p_value < 0.001
    assert np.array(ident.matrix).sum() == ident.sample_size


def test_degenerate_frame_reports_notes_instead_of_failing() -> None:
    frame = simulated(400, seed=3)
    frame["success"] = True
    result = run_analysis(frame)
    assert "prediction" in result.notes and result.prediction is None
    assert result.trends and all(not trend.significant for trend in result.trends)
    strict_json(result)


def test_empty_frame_is_nothing_to_report() -> None:
    with pytest.raises(NothingToReportError):
        run_analysis(simulated(10).iloc[0:0])
