"""The per-template and per-model series of the consumer's exporter.

These are the exporter's big families: with the default caps (500 templates
x 100 models) they are tens of thousands of series, more than
prometheus_client's generic text exposition renders within a scrape budget
(about 9 us a sample here). :class:`PromptSeries` therefore keeps its own
compact state and offers two equivalent views of it:

* :meth:`PromptSeries.collect` yields ordinary metric families, so it is a
  normal prometheus_client ``Collector`` (``generate_latest``,
  ``get_sample_value`` and tests work as usual);
* :meth:`PromptSeries.render` writes the same samples as exposition text
  directly, with every label set escaped once when its series is created.
  The metrics endpoint uses it (see :mod:`streams.metrics.exporter`); a test checks
  that both views carry identical samples.

Families (labels after the cardinality caps of :mod:`streams.metrics.cardinality`):

``rev_prompt_executions_total{template_id, model_id, outcome}``
    counter; the source of truth for alerts and cross-instance ratios.
``rev_prompt_success_ratio{template_id, model_id, window}``
    gauge over event time, ``window`` in ``5m``/``1h`` (:mod:`streams.metrics.rolling`).
``rev_prompt_score_mean{template_id, score, window}``
    rolling mean of ``discrimination``, ``behavioral`` and ``quality`` scores.
``rev_prompt_execution_duration_seconds{template_id}``
    histogram of the events' ``execution_time``.
``rev_prompt_cost_dollars{template_id}``
    histogram of the events' ``cost``; its ``_sum`` is the spend counter.

A rolling series exists only while its window holds events: a template that
stops sending disappears from the gauges (Prometheus then marks it stale)
instead of freezing at its last value. Counters and histograms of a series
unseen for ``forget_after`` seconds (arrival time) are dropped and their
label slots freed; if the value comes back its counters restart from zero,
which ``rate()`` and ``increase()`` treat as a counter reset.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from rev_analytics.core.event import PromptEvent
from streams.metrics.cardinality import LabelGuard
from streams.metrics.rolling import SECONDS_PER_MINUTE, RollingSums

EXECUTIONS = "rev_prompt_executions_total"
SUCCESS_RATIO = "rev_prompt_success_ratio"
SCORE_MEAN = "rev_prompt_score_mean"
DURATION = "rev_prompt_execution_duration_seconds"
COST = "rev_prompt_cost_dollars"

WINDOWS = {"5m": 5, "1h": 60}
"""Rolling windows: label value -> length in minutes."""
SCORES = ("discrimination", "behavioral", "quality")
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
COST_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)

_HELP = {
    EXECUTIONS: "Prompt executions committed to storage, by outcome.",
    SUCCESS_RATIO: "Success ratio over the trailing window of event time "
    "(for display; alert on rev_prompt_executions_total).",
    SCORE_MEAN: "Mean score (0..1) over the trailing window of event time.",
    DURATION: "Prompt execution time reported by REV workers.",
    COST: "Prompt execution cost reported by REV workers, in US dollars.",
}
_SWEEP_SECONDS = 60.0

# PromptEvent is a tuple: item getters read its fields at C speed.
_TIMESTAMP = itemgetter(PromptEvent._fields.index("timestamp"))  # microseconds
MICROS_PER_MINUTE = SECONDS_PER_MINUTE * 1_000_000
_TEMPLATE_ID = itemgetter(PromptEvent._fields.index("template_id"))
_EXECUTION_TIME = itemgetter(PromptEvent._fields.index("execution_time"))
_COST = itemgetter(PromptEvent._fields.index("cost"))
_SCORE_FIELDS = itemgetter(
    *(PromptEvent._fields.index(f"{name}_score") for name in ("discrimination", "behavioral",
                                                              "quality"))
)
_TOO_OLD = -1
"""Minute placeholder for events older than every window (counted, never rolled)."""
_OUTCOME_KEY = itemgetter(
    *(PromptEvent._fields.index(name) for name in ("template_id", "model_id", "success"))
)


def escape_label_value(value: str) -> str:
    """Escape a label value for the text exposition format."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _label_text(**labels: str) -> str:
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels.items())


@dataclass(slots=True)
class _Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; +Inf last
    total: float = 0.0
    observed: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def cumulative(self) -> list[tuple[str, int]]:
        running = 0
        out = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append((_le(bound), running))
        return out


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


@dataclass(slots=True)
class _Pair:
    labels: str
    successes: int = 0
    failures: int = 0
    last_seen: float = 0.0


@dataclass(slots=True)
class _Template:
    labels: str
    duration: _Histogram = field(default_factory=lambda: _Histogram(DURATION_BUCKETS))
    cost: _Histogram = field(default_factory=lambda: _Histogram(COST_BUCKETS))
    last_seen: float = 0.0


class PromptSeries:
    """State and exposition of the per-template/model families (a Collector).

    Thread-safe: :meth:`record` runs on the consumer's thread, scrapes on the
    HTTP server's threads.
    """

    def __init__(
        self,
        *,
        max_template_labels: int,
        max_model_labels: int,
        forget_after: float,
        clock: Callable[[], float],
    ) -> None:
        span_seconds = max(WINDOWS.values()) * SECONDS_PER_MINUTE
        if forget_after < span_seconds:
            raise ValueError(
                f"forget_after must be at least the widest window ({span_seconds} s), "
                f"got {forget_after}"
            )
        self.templates = LabelGuard(max_template_labels)
        self.models = LabelGuard(max_model_labels)
        self.forget_after = forget_after
        self._clock = clock
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._templates: dict[str, _Template] = {}
        # [events, successes] per (template, model)
        self._ratio: RollingSums[tuple[str, str]] = RollingSums(WINDOWS, 2)
        # [events, n_discrimination, sum, n_behavioral, sum, n_quality, sum] per template
        self._scores: RollingSums[str] = RollingSums(WINDOWS, 1 + 2 * len(SCORES))
        self._next_sweep = 0.0
        self._silenced = threading.local()

    # -- recording ---------------------------------------------------------

    def record(self, events: Sequence[PromptEvent]) -> None:
        """Count a committed window of events.

        The window is grouped first (by template, model, outcome and minute,
        mostly at C speed) and shared state is touched once per group, not
        once per event: this runs on the consumer's hot path.
        """
        if not events:
            return
        now = self._clock()
        minutes = [micros // MICROS_PER_MINUTE for micros in map(_TIMESTAMP, events)]
        oldest = int(now // SECONDS_PER_MINUTE) - self._ratio.span
        if min(minutes) <= oldest:
            # A backlog: events older than every window only count in the
            # counters, so they need no minute of their own (one group, not many).
            minutes = [minute if minute > oldest else _TOO_OLD for minute in minutes]
        outcomes = Counter(zip(map(_OUTCOME_KEY, events), minutes, strict=True))
        templates = list(map(_TEMPLATE_ID, events))
        durations = _by_template(templates, list(map(_EXECUTION_TIME, events)))
        costs = _by_template(templates, list(map(_COST, events)))
        scores = _score_sums(templates, minutes, events)

        with self._lock:
            self._advance(now)
            labels = self._resolve_all(outcomes, now)
            ratio: dict[tuple[tuple[str, str], int], list[int]] = {}
            pairs = self._pairs
            for (raw_key, minute), n in outcomes.items():
                key = labels[raw_key[:2]]
                pair = pairs.get(key)
                if pair is None:
                    pair = pairs[key] = _Pair(_label_text(template_id=key[0], model_id=key[1]))
                pair.last_seen = now
                ok = n if raw_key[2] else 0
                pair.successes += ok
                pair.failures += n - ok
                if minute == _TOO_OLD:
                    continue
                vector_n = ratio.get((key, minute))
                if vector_n is None:
                    ratio[(key, minute)] = [n, ok]
                else:
                    vector_n[0] += n
                    vector_n[1] += ok
            self._ratio.add_minutes(ratio)
            template_of = {raw[0]: label[0] for raw, label in labels.items()}
            for t in set(template_of.values()):
                self._template(t).last_seen = now
            for raw_template, values in durations.items():
                self._observe(self._template(template_of[raw_template]).duration, values)
            for raw_template, values in costs.items():
                self._observe(self._template(template_of[raw_template]).cost, values)
            merged: dict[tuple[str, int], list[float]] = {}
            for (raw_template, minute), vector in scores.items():
                key2 = (template_of[raw_template], minute)
                if key2 in merged:  # several raw ids folded into __other__
                    merged[key2] = [a + b for a, b in zip(merged[key2], vector, strict=True)]
                else:
                    merged[key2] = vector
            self._scores.add_minutes(merged)

    def _resolve_all(
        self, outcomes: Counter[tuple[tuple[str, str, bool], int]], now: float
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """Map each raw (template, model) of the window to its capped labels."""
        per_template: Counter[str] = Counter()
        per_model: Counter[str] = Counter()
        for ((t, m, _), _minute), n in outcomes.items():
            per_template[t] += n
            per_model[m] += n
        templates = {t: self.templates.resolve(t, now, n) for t, n in per_template.items()}
        models = {m: self.models.resolve(m, now, n) for m, n in per_model.items()}
        return {(t, m): (templates[t], models[m]) for ((t, m, _), _minute) in outcomes}

    @staticmethod
    def _observe(histogram: _Histogram, values: list[float]) -> None:
        counts = histogram.counts
        for index, n in Counter(map(partial(bisect_left, histogram.bounds), values)).items():
            counts[index] += n
        histogram.total += sum(values)
        histogram.observed += len(values)

    def _pair(self, t: str, m: str) -> _Pair:
        pair = self._pairs.get((t, m))
        if pair is None:
            pair = self._pairs[(t, m)] = _Pair(_label_text(template_id=t, model_id=m))
        return pair

    def _template(self, t: str) -> _Template:
        state = self._templates.get(t)
        if state is None:
            state = self._templates[t] = _Template(_label_text(template_id=t))
        return state

    def _advance(self, now: float) -> None:
        self._ratio.advance(now)
        self._scores.advance(now)
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_SECONDS
            self._forget_idle(now - self.forget_after)

    def _forget_idle(self, cutoff: float) -> None:
        self.templates.forget_idle(cutoff)
        self.models.forget_idle(cutoff)
        idle_pairs = {key for key, pair in self._pairs.items() if pair.last_seen < cutoff}
        idle_templates = {t for t, state in self._templates.items() if state.last_seen < cutoff}
        for key in idle_pairs:
            del self._pairs[key]
        for t in idle_templates:
            del self._templates[t]
        if idle_pairs:
            self._ratio.forget(idle_pairs.__contains__)
        if idle_templates:
            self._scores.forget(idle_templates.__contains__)

    # -- exposition --------------------------------------------------------

    def describe(self) -> list[Metric]:
        """The family names, so registering never runs a full collect()."""
        return [
            CounterMetricFamily(EXECUTIONS, _HELP[EXECUTIONS]),
            GaugeMetricFamily(SUCCESS_RATIO, _HELP[SUCCESS_RATIO]),
            GaugeMetricFamily(SCORE_MEAN, _HELP[SCORE_MEAN]),
            HistogramMetricFamily(DURATION, _HELP[DURATION], unit="seconds"),
            HistogramMetricFamily(COST, _HELP[COST]),
        ]

    @contextmanager
    def silenced(self) -> Iterator[None]:
        """While active, :meth:`collect` on this thread yields nothing.

        The endpoint renders the registry's other collectors with
        prometheus_client and appends :meth:`render`; this keeps the big
        families from being rendered twice, without touching other threads.
        """
        self._silenced.on = True
        try:
            yield
        finally:
            self._silenced.on = False

    def collect(self) -> Iterator[Metric]:
        if getattr(self._silenced, "on", False):
            return
        with self._lock:
            self._advance(self._clock())
            executions = CounterMetricFamily(
                EXECUTIONS, _HELP[EXECUTIONS], labels=("template_id", "model_id", "outcome")
            )
            for (t, m), pair in self._pairs.items():
                executions.add_metric((t, m, "success"), pair.successes)
                executions.add_metric((t, m, "failure"), pair.failures)
            ratio = GaugeMetricFamily(
                SUCCESS_RATIO, _HELP[SUCCESS_RATIO], labels=("template_id", "model_id", "window")
            )
            for window in WINDOWS:
                for (t, m), (n, ok) in self._ratio.totals(window).items():
                    ratio.add_metric((t, m, window), ok / n)
            scores = GaugeMetricFamily(
                SCORE_MEAN, _HELP[SCORE_MEAN], labels=("template_id", "score", "window")
            )
            for window in WINDOWS:
                for t, vector in self._scores.totals(window).items():
                    for score, mean in _means(vector):
                        scores.add_metric((t, score, window), mean)
            duration = HistogramMetricFamily(
                DURATION, _HELP[DURATION], labels=("template_id",), unit="seconds"
            )
            cost = HistogramMetricFamily(COST, _HELP[COST], labels=("template_id",))
            for t, state in self._templates.items():
                for family, histogram in ((duration, state.duration), (cost, state.cost)):
                    if histogram.observed:
                        family.add_metric((t,), histogram.cumulative(), histogram.total)
        yield from (executions, ratio, scores, duration, cost)

    def render(self) -> str:
        """The same samples as :meth:`collect`, as text exposition format 0.0.4."""
        out: list[str] = []
        add = out.append
        with self._lock:
            self._advance(self._clock())
            add(_header(EXECUTIONS, "counter"))
            for pair in self._pairs.values():
                add(f'{EXECUTIONS}{{{pair.labels},outcome="success"}} {pair.successes}\n'
                    f'{EXECUTIONS}{{{pair.labels},outcome="failure"}} {pair.failures}\n')
            add(_header(SUCCESS_RATIO, "gauge"))
            pairs = self._pairs
            for window in WINDOWS:
                for key, (n, ok) in self._ratio.totals(window).items():
                    known = pairs.get(key)
                    labels = (known.labels if known
                              else _label_text(template_id=key[0], model_id=key[1]))
                    add(f'{SUCCESS_RATIO}{{{labels},window="{window}"}} {ok / n!r}\n')
            add(_header(SCORE_MEAN, "gauge"))
            templates = self._templates
            for window in WINDOWS:
                for t, vector in self._scores.totals(window).items():
                    state = templates.get(t)
                    labels = state.labels if state else _label_text(template_id=t)
                    for score, mean in _means(vector):
                        add(f'{SCORE_MEAN}{{{labels},score="{score}",window="{window}"}} '
                            f"{mean!r}\n")
            for name, attribute in ((DURATION, "duration"), (COST, "cost")):
                add(_header(name, "histogram"))
                for state in templates.values():
                    histogram: _Histogram = getattr(state, attribute)
                    if not histogram.observed:
                        continue
                    labels = state.labels
                    for le, count in histogram.cumulative():
                        add(f'{name}_bucket{{{labels},le="{le}"}} {count}\n')
                    add(f"{name}_count{{{labels}}} {histogram.observed}\n"
                        f"{name}_sum{{{labels}}} {histogram.total!r}\n")
        return "".join(out)


def _by_template(templates: list[str], values: list[float | None]) -> dict[str, list[float]]:
    """The non-missing ``values`` grouped by their event's template."""
    grouped: dict[str, list[float]] = {}
    for template_id, value in zip(templates, values, strict=True):
        if value is None:
            continue
        found = grouped.get(template_id)
        if found is None:
            grouped[template_id] = [value]
        else:
            found.append(value)
    return grouped


def _score_sums(
    templates: list[str], minutes: list[int], events: Sequence[PromptEvent]
) -> dict[tuple[str, int], list[float]]:
    """[events, n, sum] x 3 scores per (template, minute), for the rolling means."""
    sums: dict[tuple[str, int], list[float]] = {}
    for template_id, minute, (d, b, q) in zip(templates, minutes, map(_SCORE_FIELDS, events),
                                              strict=True):
        if minute == _TOO_OLD or (d is None and b is None and q is None):
            continue
        vector = sums.get((template_id, minute))
        if vector is None:
            vector = sums[(template_id, minute)] = [0.0] * 7
        vector[0] += 1
        if d is not None:
            vector[1] += 1
            vector[2] += d
        if b is not None:
            vector[3] += 1
            vector[4] += b
        if q is not None:
            vector[5] += 1
            vector[6] += q
    return sums


def _header(name: str, kind: str) -> str:
    return f"# HELP {name} {_HELP[name]}\n# TYPE {name} {kind}\n"


def _means(vector: Sequence[float]) -> Iterator[tuple[str, float]]:
    for i, score in enumerate(SCORES):
        count = vector[1 + 2 * i]
        if count > 0.5:
            # Clamp: running sums minus expired buckets may drift by an ulp.
            yield score, min(1.0, max(0.0, vector[2 + 2 * i] / count))
