"""The facade's own promises beyond the design document's examples."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis

import rev_analytics.prompt_analytics as facade
from analytics.figures import png_is_valid, success_heatmap
from analytics.rates import success_rates
from rev_analytics.core.decode import decode_entry
from rev_analytics.core.errors import InvalidEventError, NothingToReportError
from tests.analytics.report_data import make_events


@pytest.fixture
def system(tmp_path: Path) -> Iterator[facade.PromptAnalyticsSystem]:
    with facade.create_analytics_system(tmp_path / "a.db", output_dir=tmp_path / "out") as made:
        yield made


def seed(system: facade.PromptAnalyticsSystem, count: int = 300) -> None:
    end = datetime.now(UTC) - timedelta(minutes=1)
    system.store.insert_events(make_events(count, end=end, span=timedelta(days=3)))


def test_direct_recording_validates_and_keeps_absent_values_absent(
    system: facade.PromptAnalyticsSystem,
) -> None:
    event_id = system.metrics_collector.record_prompt_execution(
        "p1", "t1", "m1", True, execution_time=1.25, metadata={"k": [1, 2]})
    frame = system.load()
    assert len(frame) == 1 and frame.loc[0, "event_id"] == event_id
    assert frame.loc[0, "execution_time"] == 1.25
    # Not given means not known: NaN, never a made-up 0.0.
    assert frame[["cost", "discrimination_score", "response_length"]].isna().all(axis=None)
    before = system.store.count()
    for bad in ({"discrimination_score": 1.5}, {"cost": -1.0}, {"difficulty_level": 9}):
        with pytest.raises(InvalidEventError):
            system.metrics_collector.record_prompt_execution("p", "t", "m", True, **bad)
    with pytest.raises(InvalidEventError, match="template_id"):
        system.metrics_collector.record_prompt_execution("p", "", "m", True)
    assert system.store.count() == before  # nothing half-written


def test_with_a_redis_url_recording_publishes_to_the_stream(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    with facade.create_analytics_system(tmp_path / "b.db", redis_url, stream=stream_key) as made:
        event_id = made.metrics_collector.record_prompt_execution(
            "p1", "t1", "m1", False, cost=0.5, error_type="timeout")
        entries: list[Any] = redis_client.xrange(stream_key)  # type: ignore[assignment]
        assert len(entries) == 1
        stream_id, fields = entries[0]
        event = decode_entry(stream_id, fields)  # what the consumer will store
        assert event.event_id == event_id and event.cost == 0.5 and event.success is False
        assert made.store.count() == 0  # the consumer writes the store, not the facade


def test_heatmap_of_requested_ids_shows_missing_ones_as_missing(
    system: facade.PromptAnalyticsSystem,
) -> None:
    seed(system)
    path = system.visualization_engine.create_heatmap(
        models=["m_alpha", "never_ran"], templates=["tpl_good", "tpl_missing_cell"], days=7)
    assert path is not None and png_is_valid(Path(path).read_bytes())
    frame = system.load(7, templates=["tpl_good", "tpl_missing_cell"], models=["m_alpha"])
    rates = success_rates(frame, ("template_id", "model_id"))
    drawn = success_heatmap(rates, templates=["tpl_good", "tpl_missing_cell"],
                            models=["m_alpha", "never_ran"]).data
    assert drawn["never_ran"].isna().all() and drawn["m_alpha"].notna().all()
    assert system.visualization_engine.create_network_graph(days=0.0001) is None  # no data


def test_real_time_metrics_and_callbacks(system: facade.PromptAnalyticsSystem) -> None:
    empty = system.get_real_time_metrics()
    assert empty["status"] == "no_data" and empty["total_executions"] == 0
    assert math.isnan(empty["success_rate"])  # undefined, not 0 %
    for i in range(10):
        system.metrics_collector.record_prompt_execution(f"p{i}", "t", "m", i < 7)
    seen: list[dict[str, Any]] = []
    fed = threading.Event()

    def broken(metrics: dict[str, Any]) -> None:
        raise RuntimeError("a user's callback failing")

    def good(metrics: dict[str, Any]) -> None:
        seen.append(metrics)
        fed.set()

    system.add_update_callback(broken)
    system.add_update_callback(good)
    system.start_real_time_monitoring(update_interval=0.05)
    assert fed.wait(5) and system.monitoring_active
    system.stop_real_time_monitoring()
    assert not system.monitoring_active
    assert seen[0]["total_executions"] == 10 and seen[0]["success_rate"] == pytest.approx(0.7)
    assert seen[0]["template_success_rates"] == {"t": pytest.approx(0.7)}


def test_empty_range_is_reported_as_no_data(system: facade.PromptAnalyticsSystem) -> None:
    with pytest.raises(NothingToReportError):
        system.reporting_system.generate_comprehensive_report(days=7)
    assert system.create_dashboard_data(days=7)["status"] == "no_data"
    with pytest.raises(NothingToReportError):
        system.statistical_analysis.correlation_analysis(days=7)


def test_history_export_formats(system: facade.PromptAnalyticsSystem) -> None:
    seed(system, 120)
    for fmt, reader in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        path = Path(system.export_historical_data(days=30, format=fmt))
        assert path.parent == system.output_dir.resolve() and len(reader(path)) == 120
    as_json = Path(system.export_historical_data(days=30, format="json"))
    assert as_json.suffix == ".json" and len(json.loads(as_json.read_text())) == 120
    jsonl = Path(system.export_historical_data(days=30, format="jsonl"))
    assert jsonl.suffix == ".jsonl" and len(jsonl.read_text().splitlines()) == 120


def test_in_memory_store_works_across_calls() -> None:
    with facade.PromptAnalyticsSystem(":memory:") as memory:
        memory.metrics_collector.record_prompt_execution("p", "t", "m", True, cost=0.1)
        memory.metrics_collector.record_prompt_execution("q", "t", "m", False)
        assert len(memory.load()) == 2
        with pytest.raises(ValueError, match="No data for experiment 'none'"):
            memory.rev_integration.sync_with_experiment_tracking("none")


def test_integrate_accepts_both_spellings(system: facade.PromptAnalyticsSystem) -> None:
    result = {"prompt_id": "p", "template_id": "t", "model_id": "m", "success": True,
              "response": "abc", "execution_time": 2.0}
    facade.integrate_with_rev_pipeline(system, result, {"verification_confidence": 0.5})
    facade.integrate_with_rev_pipeline(system, rev_result=result,
                                       behavioral_data={"overall_score": 0.3})
    frame = system.load()
    assert len(frame) == 2 and set(frame["response_length"]) == {3.0}
    assert frame["discrimination_score"].notna().sum() == 1
    with pytest.raises(InvalidEventError, match="model_id"):
        facade.integrate_with_rev_pipeline(system, {"prompt_id": "p", "template_id": "t",
                                                    "success": True})


def test_experiment_sync_returns_the_experiments_figures_from_the_store(
    system: facade.PromptAnalyticsSystem,
) -> None:
    start = datetime.now(UTC) - timedelta(hours=5)
    record = system.metrics_collector.record_prompt_execution
    for i in range(30):  # exp-1: t1 on m1 (20 runs, 15 successes), t2 on m2 (10 runs, 2)
        template, model, success = ("t1", "m1", i % 4 != 0) if i < 20 else ("t2", "m2", i < 22)
        record(f"p{i}", template, model, success, experiment_id="exp-1",
               timestamp=start + timedelta(minutes=i))
    record("other", "t1", "m1", False, experiment_id="exp-2")
    record("none", "t1", "m1", False)
    sync = system.rev_integration.sync_with_experiment_tracking("exp-1")
    assert sync["sync_status"] == "completed" and sync["metrics_synced"] is True
    assert (sync["executions"], sync["successes"]) == (30, 17)
    assert sync["success_rate"] == pytest.approx(17 / 30)
    low, high = sync["success_rate_ci"]
    assert low < 17 / 30 < high
    assert sync["first_event"] == start
    assert sync["last_event"] - sync["first_event"] == timedelta(minutes=29)
    cells = {(row["template_id"], row["model_id"]): row for row in sync["template_models"]}
    assert set(cells) == {("t1", "m1"), ("t2", "m2")}
    assert (cells["t1", "m1"]["n"], cells["t1", "m1"]["successes"]) == (20, 15)
    assert cells["t2", "m2"]["ci_low"] < 0.2 < cells["t2", "m2"]["ci_high"]
    assert {row["template_id"]: row["n"] for row in sync["templates"]} == {"t1": 20, "t2": 10}
    assert {row["model_id"]: row["n"] for row in sync["models"]} == {"m1": 20, "m2": 10}
    with pytest.raises(facade.UnknownExperimentError) as raised:
        system.rev_integration.sync_with_experiment_tracking("exp-404")
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, NothingToReportError)


def test_errors_are_value_errors_and_the_projects_own(
    system: facade.PromptAnalyticsSystem,
) -> None:
    with pytest.raises(NothingToReportError) as empty:
        system.reporting_system.generate_comprehensive_report(days=7)
    assert isinstance(empty.value, ValueError) and "no data" in str(empty.value).lower()
    with pytest.raises(InvalidEventError) as invalid:
        system.metrics_collector.record_prompt_execution("p", "t", "m", True, cost=-1.0)
    assert isinstance(invalid.value, ValueError) and invalid.value.field == "cost"
    with pytest.raises(ValueError, match="No data available for export"):
        system.export_historical_data(days=7, format="json")
    seed(system, 60)
    with pytest.raises(ValueError, match="Unsupported export format"):
        system.export_historical_data(days=7, format="xml")
    with pytest.raises(ValueError, match="Insufficient sample size"):
        system.statistical_analysis.run_ab_test("tpl_good", "tpl_bad", min_sample_size=10**6)


def test_ab_test_keeps_the_originals_sign_and_the_real_result(
    system: facade.PromptAnalyticsSystem,
) -> None:
    seed(system)
    view = system.statistical_analysis.run_ab_test("tpl_good", "tpl_bad", min_sample_size=5)
    real = view.details
    assert view.difference == pytest.approx(view.success_rate_a - view.success_rate_b)
    assert view.difference == -real.difference and view.effect_size == -real.cohens_h
    assert view.confidence_interval == (-real.ci_high, -real.ci_low)
    as_dict = view.to_dict()
    assert as_dict["effect_size"] == view.effect_size
    assert as_dict["details"]["difference"] == pytest.approx(real.difference)


def test_the_facade_only_delegates() -> None:
    """No SQL and no statistics library in the facade: the store's reader and the
    analytics modules do that work."""
    package = Path(facade.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert {m.stem for m in modules} >= {"system", "database", "collector", "statistics",
                                         "visualization", "reporting", "integration"}
    for module in modules:
        text = module.read_text(encoding="utf-8")
        assert ".execute(" not in text and "SELECT " not in text, module.name
        for library in ("numpy", "scipy", "statsmodels", "sklearn"):
            assert f"import {library}" not in text and f"from {library}" not in text, module.name
