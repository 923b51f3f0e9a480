"""ConsumerMetrics: the contract's families, rolling gauges, expiry and exposition."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rev_analytics.core.decode import DEAD_LETTER_REASONS
from rev_analytics.core.errors import ConfigError
from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_seconds
from streams.metrics.exporter import MAX_ERROR_LABELS, ConsumerMetrics

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(
    template: str = "tpl",
    model: str = "m",
    success: bool = True,
    at: float = T0,
    n: int = 0,
    **extra: object,
) -> PromptEvent:
    return PromptEvent(
        event_id=f"{template}-{model}-{at}-{n}", stream_id=f"{int(at * 1000)}-{n}",
        prompt_id="p", template_id=template, model_id=model,
        timestamp=micros_from_seconds(at), success=success,
        **extra,  # type: ignore[arg-type]
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: ConsumerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics(clock: FakeClock) -> ConsumerMetrics:
    return ConsumerMetrics(clock=clock)


def outcomes(template: str, model: str, ok: int, failed: int, at: float = T0) -> list[PromptEvent]:
    return [event(template, model, True, at, i) for i in range(ok)] + [
        event(template, model, False, at, ok + i) for i in range(failed)
    ]


def test_executions_are_counted_by_template_model_and_outcome(metrics: ConsumerMetrics) -> None:
    window = outcomes("a", "m1", 7, 3) + outcomes("a", "m2", 1, 0) + outcomes("b", "m1", 0, 2)
    metrics.record_committed(window, inserted=len(window), commit_seconds=0.01)
    metrics.record_committed(outcomes("a", "m1", 1, 1, T0 + 1), inserted=2, commit_seconds=0.01)

    def executions(t: str, m: str, outcome: str) -> float | None:
        return value(metrics, "rev_prompt_executions_total", template_id=t, model_id=m,
                     outcome=outcome)

    assert executions("a", "m1", "success") == 8
    assert executions("a", "m1", "failure") == 4
    assert executions("a", "m2", "success") == 1
    assert executions("a", "m2", "failure") == 0
    assert executions("b", "m1", "failure") == 2
    assert executions("b", "m2", "success") is None
    assert value(metrics, "rev_events_persisted_total") == 15


def test_duplicates_are_not_counted_as_persisted(metrics: ConsumerMetrics) -> None:
    window = outcomes("a", "m", 5, 0)
    metrics.record_committed(window, inserted=5, commit_seconds=0.01)
    metrics.record_committed(window, inserted=0, commit_seconds=0.01)  # a replayed window
    assert value(metrics, "rev_events_persisted_total") == 5
    assert value(metrics, "rev_batch_size_events_count") == 2
    assert value(metrics, "rev_batch_size_events_sum") == 10
    assert value(metrics, "rev_batch_commit_duration_seconds_count") == 2
    assert value(metrics, "rev_last_commit_timestamp_seconds") == T0


def test_rolling_success_ratio_follows_event_time_and_expires(
    metrics: ConsumerMetrics, clock: FakeClock
) -> None:
    metrics.record_committed(outcomes("a", "m", 3, 1, T0 - 30 * 60), 4, 0.0)  # 30 min ago
    metrics.record_committed(outcomes("a", "m", 1, 1, T0), 2, 0.0)

    def ratio(window: str) -> float | None:
        return value(metrics, "rev_prompt_success_ratio", template_id="a", model_id="m",
                     window=window)

    assert ratio("5m") == pytest.approx(0.5)
    assert ratio("1h") == pytest.approx(4 / 6)

    clock.now = T0 + 6 * 60
    assert ratio("5m") is None, "a template that stopped sending must leave the 5m gauge"
    assert ratio("1h") == pytest.approx(4 / 6)
    clock.now = T0 + 31 * 60
    assert ratio("1h") == pytest.approx(0.5), "the older events slid out of the hour"
    clock.now = T0 + 61 * 60
    assert ratio("1h") is None
    # The counters keep everything: they are what alerts use.
    assert value(metrics, "rev_prompt_executions_total", template_id="a", model_id="m",
                 outcome="success") == 4


def test_late_events_count_in_counters_but_not_in_windows(metrics: ConsumerMetrics) -> None:
    metrics.record_committed(outcomes("old", "m", 2, 0, T0 - 3 * 3600), 2, 0.0)
    assert value(metrics, "rev_prompt_executions_total", template_id="old", model_id="m",
                 outcome="success") == 2
    for window in ("5m", "1h"):
        assert value(metrics, "rev_prompt_success_ratio", template_id="old", model_id="m",
                     window=window) is None


def test_a_window_mixing_a_backlog_and_live_events(metrics: ConsumerMetrics) -> None:
    backlog = outcomes("a", "m", 5, 5, T0 - 2 * 3600) + outcomes("a", "m", 1, 0, T0 - 7200.5)
    live = outcomes("a", "m", 3, 1, T0 - 10)
    metrics.record_committed(backlog + live, 14, 0.0)
    assert value(metrics, "rev_prompt_executions_total", template_id="a", model_id="m",
                 outcome="success") == 9
    assert value(metrics, "rev_prompt_success_ratio", template_id="a", model_id="m",
                 window="1h") == pytest.approx(0.75), "only the live events are rolled"


def test_score_means_latency_and_cost(metrics: ConsumerMetrics) -> None:
    window = [
        event("a", "m", True, T0, 0, execution_time=0.2, cost=0.002, discrimination_score=0.2,
              quality_score=1.0),
        event("a", "m", True, T0, 1, execution_time=3.0, cost=0.02, discrimination_score=0.6),
        event("a", "m", False, T0, 2),  # no optional fields: observed nowhere
    ]
    metrics.record_committed(window, 3, 0.0)

    def mean(score: str) -> float | None:
        return value(metrics, "rev_prompt_score_mean", template_id="a", score=score,
                     window="5m")

    assert mean("discrimination") == pytest.approx(0.4)
    assert mean("quality") == pytest.approx(1.0)
    assert mean("behavioral") is None, "no event carried a behavioral score"
    duration = "rev_prompt_execution_duration_seconds"
    assert value(metrics, f"{duration}_count", template_id="a") == 2
    assert value(metrics, f"{duration}_sum", template_id="a") == pytest.approx(3.2)
    assert value(metrics, f"{duration}_bucket", template_id="a", le="0.25") == 1
    assert value(metrics, f"{duration}_bucket", template_id="a", le="2.5") == 1
    assert value(metrics, f"{duration}_bucket", template_id="a", le="5.0") == 2
    assert value(metrics, f"{duration}_bucket", template_id="a", le="+Inf") == 2
    assert value(metrics, "rev_prompt_cost_dollars_sum", template_id="a") == pytest.approx(0.022)
    assert value(metrics, "rev_prompt_cost_dollars_bucket", template_id="a", le="0.005") == 1


def test_fast_exposition_carries_exactly_the_registry_samples(metrics: ConsumerMetrics) -> None:
    awkward = ['quote"d', "back\\slash", "new\nline", "ünïcødé ✓", "__other__", "a,b=c}"]
    window = [
        event(t, m, i % 3 != 0, T0 - i * 7, i, execution_time=i / 10, cost=i / 1000,
              behavioral_score=(i % 10) / 10)
        for i, (t, m) in enumerate((t, m) for t in awkward for m in awkward)
    ]
    metrics.record_committed(window, len(window), 0.05)
    metrics.record_dead_letter(DEAD_LETTER_REASONS[0])
    metrics.set_lag(12)
    fast = metrics.exposition().decode()
    slow = generate_latest(metrics.registry).decode()
    assert samples(fast) == samples(slow)
    labels = {dict(key[1]).get("template_id") for key in samples(fast)}
    assert set(awkward) <= labels, "every label value must survive escaping"


def test_dead_letter_reasons_exist_at_zero_and_unknown_reasons_fold(
    metrics: ConsumerMetrics,
) -> None:
    for reason in DEAD_LETTER_REASONS:
        assert value(metrics, "rev_events_dead_lettered_total", reason=reason) == 0
    metrics.record_dead_letter(DEAD_LETTER_REASONS[1])
    metrics.record_dead_letter("something new")
    assert value(metrics, "rev_events_dead_lettered_total", reason=DEAD_LETTER_REASONS[1]) == 1
    assert value(metrics, "rev_events_dead_lettered_total", reason="other") == 1
    assert value(metrics, "rev_events_dead_lettered_total", reason="something new") is None
    metrics.record_dead_letters_trimmed(40)
    assert value(metrics, "rev_dead_letter_entries_trimmed_total") == 40


def test_lag_is_absent_while_unknown(metrics: ConsumerMetrics) -> None:
    assert value(metrics, "rev_consumer_lag_events") is None
    metrics.set_lag(250)
    assert value(metrics, "rev_consumer_lag_events") == 250
    metrics.set_lag(None)
    assert value(metrics, "rev_consumer_lag_events") is None


def test_connection_storage_and_pending_gauges(metrics: ConsumerMetrics) -> None:
    metrics.set_pending(17)
    metrics.record_reclaimed(5)
    metrics.record_reclaimed(0)
    metrics.record_redis_reconnect()
    metrics.set_redis_connected(True)
    metrics.set_storage_healthy(False)
    assert value(metrics, "rev_consumer_pending_entries") == 17
    assert value(metrics, "rev_consumer_reclaimed_entries_total") == 5
    assert value(metrics, "rev_redis_reconnects_total") == 1
    assert value(metrics, "rev_redis_connected") == 1
    assert value(metrics, "rev_storage_healthy") == 0
    metrics.set_storage_healthy(True)
    assert value(metrics, "rev_storage_healthy") == 1


def test_write_failure_error_labels_are_capped(metrics: ConsumerMetrics) -> None:
    for i in range(MAX_ERROR_LABELS + 15):
        metrics.record_write_failure(f"Error{i}")
    metrics.record_write_failure("Error0")
    text = metrics.exposition().decode()
    errors = {dict(k[1])["error"]: v for k, v in samples(text).items()
              if k[0] == "rev_storage_write_failures_total"}
    assert len(errors) == MAX_ERROR_LABELS + 1
    assert errors["__other__"] == 15
    assert errors["Error0"] == 2


def test_idle_label_values_are_forgotten_and_free_their_slot(clock: FakeClock) -> None:
    metrics = ConsumerMetrics(max_template_labels=2, clock=clock, forget_after=3600)
    metrics.record_committed(outcomes("old", "m", 1, 0) + outcomes("kept", "m", 1, 0), 2, 0.0)
    clock.now = T0 + 3000
    metrics.record_committed(outcomes("kept", "m", 1, 0, clock.now), 1, 0.0)
    clock.now = T0 + 3700  # "old" unseen for more than an hour, "kept" seen 700 s ago
    metrics.record_committed(outcomes("new", "m", 1, 0, clock.now), 1, 0.0)
    text = metrics.exposition().decode()
    templates = {dict(k[1])["template_id"] for k in samples(text)
                 if k[0] == "rev_prompt_executions_total"}
    assert templates == {"kept", "new"}, "the idle value's slot must go to the new one"
    assert value(metrics, "rev_metrics_label_folded_events_total", label="template_id") == 0


def test_no_created_series_and_build_info(metrics: ConsumerMetrics) -> None:
    metrics.record_committed(outcomes("a", "m", 1, 0), 1, 0.0)
    text = metrics.exposition().decode()
    assert "_created" not in text
    info = [k for k in samples(text) if k[0] == "rev_analytics_build_info"]
    assert len(info) == 1 and dict(info[0][1])["version"]


def test_label_caps_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        ConsumerMetrics(max_template_labels=0)
    with pytest.raises(ValueError):
        ConsumerMetrics(forget_after=60)  # shorter than the 1h window


def _names(text: str) -> Iterable[str]:
    return {key[0] for key in samples(text)}


def test_exposition_passes_promtool_lint(metrics: ConsumerMetrics) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian package 'prometheus'; .ci/run installs it)"
    window = [event("a", "m", True, T0, 0, execution_time=1.0, cost=0.1, quality_score=0.9)]
    metrics.record_committed(window, 1, 0.01)
    metrics.set_lag(0)
    text = metrics.exposition()
    assert {"rev_prompt_executions_total", "rev_prompt_success_ratio",
            "rev_events_persisted_total", "rev_events_dead_lettered_total",
            "rev_consumer_lag_events"} <= set(_names(text.decode()))
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
