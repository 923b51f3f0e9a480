"""The cardinality guard: a flood of distinct ids cannot grow the exporter."""

from __future__ import annotations

import time
import tracemalloc

from prometheus_client.parser import text_string_to_metric_families

from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_seconds
from streams.metrics.cardinality import OTHER, LabelGuard
from streams.metrics.exporter import ConsumerMetrics

FLOOD = 100_000
BATCH = 1000


def flood_window(start: int, now: float, distinct_models: bool = False) -> list[PromptEvent]:
    return [
        PromptEvent(
            event_id=f"e{i}", stream_id=f"1-{i}", prompt_id="p", template_id=f"flood-{i}",
            model_id=f"model-{i}" if distinct_models else f"model-{i % 3}",
            timestamp=micros_from_seconds(now),
            success=i % 2 == 0, execution_time=0.5, cost=0.001, quality_score=0.5,
        )
        for i in range(start, start + BATCH)
    ]


def label_values(text: str, label: str) -> set[str]:
    return {
        s.labels[label]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if label in s.labels
    }


def test_guard_admits_up_to_the_limit_then_folds_and_counts() -> None:
    guard = LabelGuard(2)
    assert [guard.resolve(v, 0.0) for v in ("a", "b", "c", "a", "d")] == ["a", "b", OTHER, "a",
                                                                           OTHER]
    assert guard.folded_events == 2
    assert len(guard) == 2


def test_a_flood_of_distinct_template_ids_stays_bounded() -> None:
    cap = 50
    now = time.time()
    metrics = ConsumerMetrics(max_template_labels=cap, max_model_labels=10)

    windows = [flood_window(start, now) for start in range(0, FLOOD, BATCH)]
    tenth = len(windows) // 10
    for events in windows[:tenth]:  # the first tenth of the flood
        metrics.record_committed(events, BATCH, 0.001)
    early_text = metrics.exposition()
    for events in windows[tenth:-20]:
        metrics.record_committed(events, BATCH, 0.001)
    # Trace only the last 20 000 new ids (tracing is slow): memory kept per
    # folded id would show as megabytes here.
    tracemalloc.start()
    try:
        for events in windows[-20:]:
            metrics.record_committed(events, BATCH, 0.001)
        late_text = metrics.exposition()
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    templates = label_values(late_text.decode(), "template_id")
    assert len(templates) == cap + 1 and OTHER in templates
    # Nine times more distinct ids changed nothing in the exposition's size...
    assert abs(len(late_text) - len(early_text)) < 0.02 * len(early_text), (
        len(early_text), len(late_text))
    assert len(late_text) < 200_000
    # ...nor in memory (the ids folded into __other__ are never stored).
    assert retained < 200_000, retained

    folded = metrics.registry.get_sample_value(
        "rev_metrics_label_folded_events_total", {"label": "template_id"})
    assert folded == FLOOD - cap
    assert metrics.registry.get_sample_value(
        "rev_metrics_label_values", {"label": "template_id"}) == cap
    other_total = sum(
        metrics.registry.get_sample_value(
            "rev_prompt_executions_total",
            {"template_id": OTHER, "model_id": f"model-{m}", "outcome": outcome},
        ) or 0
        for m in range(3)
        for outcome in ("success", "failure")
    )
    assert other_total == FLOOD - cap, "folded events are still counted, under __other__"


def test_model_ids_are_capped_too() -> None:
    metrics = ConsumerMetrics(max_template_labels=5, max_model_labels=4)
    now = time.time()
    for start in range(0, 5 * BATCH, BATCH):
        metrics.record_committed(flood_window(start, now, distinct_models=True), BATCH, 0.0)
    text = metrics.exposition().decode()
    assert len(label_values(text, "model_id")) == 4 + 1
    assert len(label_values(text, "template_id")) == 5 + 1
    assert metrics.registry.get_sample_value(
        "rev_metrics_label_folded_events_total", {"label": "model_id"}) == 5 * BATCH - 4
