"""The simulated REV workload: reproducible, always valid, and true to its ground truth."""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rev_analytics.core.decode import DEAD_LETTER_REASONS, decode_entry
from rev_analytics.core.errors import ConfigError, InvalidEventError
from rev_analytics.core.event import PromptEvent
from storage import open_store
from streams.producer.quality import composite_quality
from streams.simulate.workload import (
    CHANGE_FRACTION,
    DEGRADING_TEMPLATE,
    INVALID_KINDS,
    MODELS,
    PEAK_HOUR_UTC,
    TEMPLATES,
    Workload,
    synthetic_events,
    synthetic_prompt_events,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = 14 * 86400.0
NOW = START.timestamp() + SPAN + 3600


@pytest.fixture(scope="module")
def many_events() -> list[PromptEvent]:
    """Enough events that every template x model cell has thousands of executions."""
    return list(synthetic_prompt_events(240_000, seed=7, start=START, span_seconds=SPAN))


def _key(event: PromptEvent) -> tuple[object, ...]:
    return (event.event_id, event.prompt_id, event.template_id, event.model_id,
            event.timestamp / 1e6, event.success, event.execution_time, event.quality_score)


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = list(synthetic_prompt_events(3000, seed=11, start=START, span_seconds=SPAN))
    again = list(synthetic_prompt_events(3000, seed=11, start=START, span_seconds=SPAN))
    other = list(synthetic_prompt_events(3000, seed=12, start=START, span_seconds=SPAN))
    assert first == again
    assert [_key(e) for e in first] != [_key(e) for e in other]
    wire = list(synthetic_events(3000, seed=11, start=START, span_seconds=SPAN))
    assert wire == list(synthetic_events(3000, seed=11, start=START, span_seconds=SPAN))


def test_every_wire_event_decodes_to_the_prompt_event() -> None:
    records = list(synthetic_prompt_events(20_000, seed=3, start=START, span_seconds=SPAN))
    wire = list(synthetic_events(20_000, seed=3, start=START, span_seconds=SPAN))
    for record, fields in zip(records, wire, strict=True):
        assert all(isinstance(v, str) for v in fields.values())
        assert decode_entry(record.stream_id, fields, now=NOW) == record


def test_events_are_time_ordered_within_the_span_with_uuid7_ids() -> None:
    events = list(synthetic_prompt_events(10_000, seed=5, start=START, span_seconds=SPAN))
    times = [e.timestamp / 1e6 for e in events]
    assert times == sorted(times)
    assert START.timestamp() <= times[0] < START.timestamp() + SPAN / 100
    assert START.timestamp() + SPAN * 0.99 < times[-1] < START.timestamp() + SPAN
    ids = [e.event_id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert {u.version for u in parsed} == {7}
    # The UUIDv7 time prefix is the event time (milliseconds).
    assert all(u.int >> 80 == e.timestamp // 1000 for u, e in zip(parsed, events, strict=True))
    stream_ids = [tuple(map(int, e.stream_id.split("-"))) for e in events]
    assert stream_ids == sorted(stream_ids) and len(set(stream_ids)) == len(stream_ids)


def test_default_start_ends_now() -> None:
    events = list(synthetic_prompt_events(100, span_seconds=3600))
    now = datetime.now(UTC).timestamp()
    assert now - 3600 - 5 <= events[0].timestamp / 1e6 and events[-1].timestamp / 1e6 <= now
    decode_entry("1-0", next(iter(synthetic_events(1, span_seconds=3600))))  # not "in future"


def test_catalogue_size_and_fields_are_realistic(many_events: list[PromptEvent]) -> None:
    assert len(TEMPLATES) == 8 and len(MODELS) == 5
    seen = {(e.template_id, e.model_id) for e in many_events}
    assert len(seen) == 40
    for event in many_events[:20_000]:
        assert 1 <= (event.difficulty_level or 0) <= 5
        for score in (event.discrimination_score, event.behavioral_score, event.quality_score):
            assert score is None or 0.0 <= score <= 1.0
        assert (event.execution_time or 0) > 0 and (event.cost or 0) > 0
        assert (event.response_length or 0) > 0
        assert event.error_type is None or not event.success
        if event.error_type == "timeout":
            assert (event.execution_time or 0) >= 30
        assert event.quality_score == pytest.approx(
            composite_quality(event.success, event.discrimination_score,
                              event.behavioral_score, event.execution_time), abs=1e-5)
        assert isinstance(json.loads(event.metadata or ""), dict)
    failures = [e for e in many_events if not e.success]
    with_error = sum(1 for e in failures if e.error_type) / len(failures)
    assert 0.25 < with_error < 0.45  # "occasional"
    # Prompts are reused across models, each with one fixed difficulty.
    difficulty: dict[str, set[int | None]] = defaultdict(set)
    models: dict[str, set[str]] = defaultdict(set)
    for event in many_events:
        difficulty[event.prompt_id].add(event.difficulty_level)
        models[event.prompt_id].add(event.model_id)
    assert all(len(levels) == 1 for levels in difficulty.values())
    assert sum(len(m) >= 3 for m in models.values()) > len(models) / 2


def _binomial_close(successes: int, n: int, truth: float) -> bool:
    return abs(successes / n - truth) <= 4.5 * math.sqrt(truth * (1 - truth) / n) + 0.002


def test_measured_success_matches_ground_truth(many_events: list[PromptEvent]) -> None:
    truth = Workload(7, start=START, span_seconds=SPAN).ground_truth(len(many_events))
    change = truth.change_time.timestamp()
    counts: dict[tuple[str, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for event in many_events:
        after = event.template_id == DEGRADING_TEMPLATE and event.timestamp / 1e6 >= change
        cell = counts[(event.template_id, event.model_id, after)]
        cell[0] += event.success
        cell[1] += 1
    assert len(counts) == 45  # 40 cells + the degrading template's 5 after the change
    for (template_id, model_id, after), (successes, n) in counts.items():
        table = truth.success_after_change if after else truth.success
        assert n > 1000
        assert _binomial_close(successes, n, table[(template_id, model_id)]), (
            template_id, model_id, after, successes / n, table[(template_id, model_id)])


def test_the_degrading_template_drops_at_its_change_point(
    many_events: list[PromptEvent],
) -> None:
    truth = Workload(7, start=START, span_seconds=SPAN).ground_truth()
    assert truth.degrading_template == DEGRADING_TEMPLATE
    assert truth.change_time.timestamp() == pytest.approx(
        START.timestamp() + CHANGE_FRACTION * SPAN)
    assert truth.template_rate(DEGRADING_TEMPLATE) > 0.8 > truth.template_rate(
        DEGRADING_TEMPLATE, after_change=True)  # crosses the contract's alert threshold
    change = truth.change_time.timestamp()
    rates: dict[tuple[str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for event in many_events:
        cell = rates[(event.template_id, event.timestamp / 1e6 >= change)]
        cell[0] += event.success
        cell[1] += 1
    for template in TEMPLATES:
        before = rates[(template.template_id, False)]
        after = rates[(template.template_id, True)]
        drop = before[0] / before[1] - after[0] / after[1]
        if template.template_id == DEGRADING_TEMPLATE:
            assert drop > 0.2
        else:
            assert abs(drop) < 0.03, template.template_id


def test_discrimination_and_difficulty_shape_the_rates(many_events: list[PromptEvent]) -> None:
    truth = Workload().ground_truth()

    def spread(template_id: str) -> float:
        rates = [truth.success[(template_id, m.model_id)] for m in MODELS]
        return max(rates) - min(rates)

    assert spread("code_generation") > 0.5 and spread("math_reasoning") > 0.4
    assert spread("factual_recall") < 0.05 and spread("summarization") < 0.1
    by_level: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for event in many_events:
        by_level[event.difficulty_level][0] += event.success
        by_level[event.difficulty_level][1] += 1
    rates = [by_level[level][0] / by_level[level][1] for level in range(1, 6)]
    assert rates == sorted(rates, reverse=True) and rates[0] - rates[4] > 0.15


def test_ground_truth_is_json_safe_and_independent_of_the_seed() -> None:
    one = Workload(1, start=START, span_seconds=SPAN).ground_truth()
    two = Workload(2, start=START, span_seconds=SPAN).ground_truth()
    assert one == two
    document = json.loads(json.dumps(one.to_dict()))
    assert document["degrading_template"] == DEGRADING_TEMPLATE
    assert set(document["success"]) == {t.template_id for t in TEMPLATES}
    assert math.isclose(sum(document["model_weights"].values()), 1.0)
    assert document["change_time"] == one.change_time.isoformat()


def test_invalid_injection_makes_dead_letters_of_every_kind() -> None:
    workload = Workload(9, start=START, span_seconds=SPAN)
    labelled = list(workload.labelled_wire_events(6000, invalid_fraction=0.2))
    clean = list(workload.wire_events(6000))
    kinds = [kind for _, kind in labelled if kind]
    assert 0.17 < len(kinds) / 6000 < 0.23
    assert set(kinds) == set(INVALID_KINDS)
    for (fields, kind), original in zip(labelled, clean, strict=True):
        if kind is None:
            assert fields == original  # injection leaves the valid entries untouched
            decode_entry("1772323200000-0", fields, now=NOW)
        else:
            with pytest.raises(InvalidEventError):
                decode_entry("1772323200000-0", fields, now=NOW)


def test_invalid_kinds_cover_the_dead_letter_reasons() -> None:
    labelled = Workload(4, start=START, span_seconds=SPAN).labelled_wire_events(
        3000, invalid_fraction=0.5)
    reasons = set()
    for fields, kind in labelled:
        if kind is not None:
            with pytest.raises(InvalidEventError) as info:
                decode_entry("1772323200000-0", fields, now=NOW)
            reasons.add(info.value.reason)
    # Everything a str-valued entry can break (bad_encoding needs raw bytes).
    assert reasons == set(DEAD_LETTER_REASONS) - {"bad_encoding"}


def test_traffic_follows_a_daily_cycle(many_events: list[PromptEvent]) -> None:
    per_hour = [0] * 24
    for event in many_events:
        per_hour[datetime.fromtimestamp(event.timestamp / 1e6, UTC).hour] += 1
    busiest = max(range(24), key=per_hour.__getitem__)
    quietest = min(range(24), key=per_hour.__getitem__)
    assert abs(busiest - PEAK_HOUR_UTC) <= 1
    assert abs(quietest - (PEAK_HOUR_UTC + 12) % 24) <= 1
    assert 2.0 < per_hour[busiest] / per_hour[quietest] < 4.0


def test_live_mode_stamps_the_wall_clock() -> None:
    before = datetime.now(UTC).timestamp()
    events = list(Workload(0).wire_events(50, live=True))
    after = datetime.now(UTC).timestamp()
    assert all(before <= float(e["timestamp"]) <= after for e in events)


def test_events_fit_the_store(db_path: Path) -> None:
    events = list(synthetic_prompt_events(5000, seed=2, start=START, span_seconds=SPAN))
    with open_store(db_path) as store:
        assert store.insert_events(events) == 5000
        assert store.insert_events(events[:100]) == 0  # same event ids: stored once
        assert store.count() == 5000


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Workload(span_seconds=0), "span"),
        (lambda: Workload(span_seconds=math.inf), "span"),
        (lambda: Workload(-1), "seed"),
        (lambda: Workload(start=datetime(2026, 1, 1)), "timezone"),
        (lambda: synthetic_prompt_events(-1), "count"),
        (lambda: synthetic_events(10, invalid_fraction=1.5), "fraction"),
    ],
)
def test_bad_arguments_are_config_errors(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


# -- REV's shape: fixed prompt sets, rounds on every model, experiments, late events ----------

def _per_prompt(events: list[PromptEvent]) -> dict[str, dict[str, int]]:
    runs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for event in events:
        runs[event.prompt_id][event.model_id] += 1
    return runs


def test_every_prompt_runs_repetitions_times_on_every_model() -> None:
    workload = Workload(3, start=START, span_seconds=SPAN, repetitions=4)
    sets = workload.prompt_sets(20_000)
    round_size = sum(s.size for s in sets) * len(MODELS)
    events = list(workload.prompt_events(4 * round_size))  # exactly four rounds
    runs = _per_prompt(events)
    assert len(runs) == sum(s.size for s in sets)
    assert all(set(m) == {x.model_id for x in MODELS} for m in runs.values())
    assert {n for m in runs.values() for n in m.values()} == {4}
    # Each template's prompts are its own: <template_id>:<k>.
    assert all(p.rsplit(":", 1)[0] == e.template_id for e in events for p in [e.prompt_id])
    # Rounds follow each other: the first quarter of the stream is the first round.
    first = _per_prompt(events[:round_size])
    assert {n for m in first.values() for n in m.values()} == {1}


def test_prompt_sets_are_fixed_across_seeds_and_sizes() -> None:
    small = Workload(1, start=START).prompt_sets(5_000)
    large = Workload(2, start=START).prompt_sets(50_000)
    for a, b in zip(small, large, strict=True):
        assert a.template_id == b.template_id and a.size < b.size
        assert (a.latent == b.latent[: a.size]).all() and (a.level == b.level[: a.size]).all()
        assert (a.interaction == b.interaction[: a.size]).all()
    levels: dict[str, set[int | None]] = defaultdict(set)
    for seed in (1, 2):
        for event in synthetic_prompt_events(3000, seed=seed, start=START):
            levels[event.prompt_id].add(event.difficulty_level)
    assert all(len(v) == 1 for v in levels.values())


def test_intra_prompt_correlation_is_realistic(many_events: list[PromptEvent]) -> None:
    from analytics.clustered import intraclass_correlation

    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for event in many_events:
        if event.template_id == DEGRADING_TEMPLATE:
            continue  # its change point mixes two success levels within a prompt
        cell = counts[(event.template_id, event.model_id, event.prompt_id)]
        cell[0] += 1
        cell[1] += event.success
    keys = list(counts)
    icc = intraclass_correlation([counts[k][0] for k in keys], [counts[k][1] for k in keys],
                                 [f"{t}/{m}" for t, m, _ in keys])
    assert icc is not None and 0.1 <= icc <= 0.25, icc


def test_independent_mode_runs_a_fresh_prompt_each_time() -> None:
    events = list(synthetic_prompt_events(5000, seed=2, start=START, independent=True))
    assert len({e.prompt_id for e in events}) == 5000
    models = defaultdict(int)
    for event in events:
        models[event.model_id] += 1
    assert max(models.values()) / min(models.values()) > 1.3  # the models' traffic weights
    truth = Workload(2, start=START, independent=True).ground_truth(5000)
    assert truth.prompts_per_template is None and truth.repetitions is None


def test_experiments_split_the_span_and_one_ships_the_change(
    many_events: list[PromptEvent],
) -> None:
    truth = Workload(7, start=START, span_seconds=SPAN).ground_truth(len(many_events))
    ids = [e.experiment_id for e in truth.experiments]
    assert ids == ["exp-2026-03-01-a", "exp-2026-03-05-b", "exp-2026-03-09-c",
                   "exp-2026-03-12-d"]
    assert truth.changed_experiment == "exp-2026-03-09-c"
    assert truth.experiments[2].start == truth.change_time
    bounds = {e.experiment_id: e for e in truth.experiments}
    seen = set()
    for event in many_events:
        experiment = bounds[event.experiment_id or ""]
        assert experiment.start.timestamp() <= event.timestamp / 1e6 < experiment.end.timestamp()
        seen.add(event.experiment_id)
    assert seen == set(ids)
    assert json.loads(json.dumps(truth.to_dict()))["changed_experiment"] == ids[2]
    quiet = list(synthetic_prompt_events(100, seed=1, start=START, experiments=False))
    assert {e.experiment_id for e in quiet} == {None}
    assert Workload(1, experiments=False).ground_truth().experiments == ()


def test_late_executions_put_event_times_out_of_order_across_days() -> None:
    events = list(synthetic_prompt_events(20_000, seed=5, start=START, span_seconds=SPAN,
                                          late_fraction=0.05))
    times = [e.timestamp / 1e6 for e in events]
    running_max, late, worst = 0.0, 0, 0.0
    for t in times:
        if t < running_max:
            late += 1
            worst = max(worst, running_max - t)
        running_max = max(running_max, t)
    assert 0.03 < late / len(events) < 0.07
    assert worst > 86400  # some arrive more than a day late
    assert min(times) >= START.timestamp()
    ids = [e.event_id for e in events]
    assert ids == sorted(ids)  # ids are stamped at publication: still time-ordered
    wire = synthetic_events(20_000, seed=5, start=START, span_seconds=SPAN, late_fraction=0.05)
    for record, fields in zip(events, wire, strict=True):
        assert decode_entry(record.stream_id, fields, now=NOW) == record


def test_repetitions_and_late_fraction_are_checked() -> None:
    with pytest.raises(ConfigError, match="repetitions"):
        Workload(repetitions=0)
    with pytest.raises(ConfigError, match="late"):
        Workload(late_fraction=2.0)
