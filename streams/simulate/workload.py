"""A seeded, realistic REV workload: what the analytics should find, known in advance.

The catalogue is fixed (8 templates x 5 models); the seed only drives the
sampling, so the truth behind any run is :meth:`Workload.ground_truth`:

* each template's success probability is ``sigmoid(base + discrimination *
  model_skill + DIFFICULTY_LOGIT * (difficulty - 3))``: templates with a
  large ``discrimination`` separate strong from weak models, the others give
  every model about the same rate;
* prompts are instances of a template (a fixed pool per template), each with
  a fixed difficulty 1..5, so the same prompt runs on several models;
* latency is lognormal per model and grows with response length; cost is
  tokens times the model's price; verification and behavioural scores are
  Beta-distributed around sensible means (behaviour correlates with success)
  and ``quality_score`` is the design document's composite
  (:mod:`streams.producer.quality`);
* some failures carry an ``error_type`` (``timeout`` failures are slow);
* ONE template (:data:`DEGRADING_TEMPLATE`) loses :data:`DEGRADATION_LOGIT`
  from its success logit from the change point on, which lies at
  :data:`CHANGE_FRACTION` of the event-time span.

Event times cover ``[start, start + span)`` with a daily traffic cycle (busiest
around :data:`PEAK_HOUR_UTC`, :data:`DIURNAL_AMPLITUDE` around the mean) and
come out in time order, with time-ordered UUIDv7 event ids derived from
the seed, so runs are reproducible and friendly to the store's unique index.

:func:`synthetic_prompt_events` yields decoded :class:`PromptEvent` records
(the fast path for filling a store directly); :func:`synthetic_events` yields
the same events as wire field dicts ready for ``XADD``, optionally with a
fraction of malformed entries (:data:`INVALID_KINDS`) for the dead-letter path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import starmap
from typing import Any

import numpy as np
import numpy.typing as npt

from rev_analytics.core.encode import encode_event
from rev_analytics.core.errors import ConfigError
from rev_analytics.core.event import SCHEMA_VERSION, PromptEvent
from streams.simulate.quality import composite_quality_array

DEFAULT_SPAN_SECONDS = 7 * 86400.0
CHUNK = 8192
"""Events generated per vectorised step (fixed, so output never depends on it)."""


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A prompt template of the simulated catalogue."""

    template_id: str
    domain: str
    base_logit: float
    """Success logit of an average model on a difficulty-3 prompt."""
    discrimination: float
    """How strongly model skill moves the success logit (high = separates models)."""
    median_tokens: float
    prompt_tokens: int
    weight: float
    """Relative traffic share."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model of the simulated catalogue."""

    model_id: str
    skill: float
    median_latency: float
    """Seconds for a response of the template's median length."""
    latency_sigma: float
    price_per_1k_tokens: float
    verbosity: float
    weight: float


TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec("math_reasoning", "mathematical_reasoning", 0.3, 1.3, 320, 180, 1.4),
    TemplateSpec("code_generation", "code", 0.1, 1.5, 520, 260, 1.2),
    TemplateSpec("behavioral_probe", "behavioral", 0.9, 0.9, 240, 140, 1.6),
    TemplateSpec("factual_recall", "factual", 2.2, 0.15, 90, 60, 1.0),
    TemplateSpec("summarization", "summarization", 1.9, 0.25, 260, 900, 0.9),
    TemplateSpec("adversarial_jailbreak", "safety", -0.6, 0.8, 150, 220, 0.7),
    TemplateSpec("instruction_following", "instruction_following", 1.9, 0.35, 180, 120, 1.2),
    TemplateSpec("translation", "multilingual", 1.4, 0.45, 200, 200, 0.8),
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gpt-4o", 1.1, 2.2, 0.35, 0.010, 1.1, 1.3),
    ModelSpec("claude-3-5-sonnet", 1.0, 1.9, 0.30, 0.009, 1.2, 1.2),
    ModelSpec("llama-3-70b", 0.3, 3.1, 0.45, 0.0009, 1.0, 1.0),
    ModelSpec("mistral-large", 0.0, 1.6, 0.40, 0.004, 0.9, 0.8),
    ModelSpec("llama-3-8b", -1.0, 0.7, 0.50, 0.0002, 0.8, 0.9),
)

DEGRADING_TEMPLATE = "instruction_following"
DEGRADATION_LOGIT = -1.6
CHANGE_FRACTION = 0.6
DIFFICULTY_LOGIT = -0.45
DIURNAL_AMPLITUDE = 0.5
"""Traffic swings between 0.5x and 1.5x of its mean over a day."""
PEAK_HOUR_UTC = 15.0
PROMPTS_PER_TEMPLATE = 400
DIFFICULTY_PROBABILITIES = (0.15, 0.25, 0.30, 0.20, 0.10)
ERROR_TYPE_PROBABILITY = 0.35
"""Share of failures that carry an ``error_type``."""
ERROR_TYPES = ("timeout", "refusal", "format_error", "rate_limited", "context_overflow")
ERROR_TYPE_WEIGHTS = (0.35, 0.25, 0.2, 0.1, 0.1)
MISSING_BEHAVIORAL = 0.08
"""Share of executions without a behavioural analysis (field absent)."""
MISSING_VERIFICATION = 0.04
"""Share of executions without a Merkle verification (field absent)."""

# The catalogue's prompt pools are fixed, independent of the sampling seed,
# so the ground truth is the same for every run.
_CATALOGUE_SEED = 20240917


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


def _prompt_difficulties() -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(_CATALOGUE_SEED)
    levels = np.arange(1, 6)
    return rng.choice(levels, size=(len(TEMPLATES), PROMPTS_PER_TEMPLATE),
                      p=DIFFICULTY_PROBABILITIES)


def _weights(values: list[float]) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    return array / array.sum()


_TEMPLATE_IDS = [t.template_id for t in TEMPLATES]
_MODEL_IDS = [m.model_id for m in MODELS]
_DEGRADING_INDEX = _TEMPLATE_IDS.index(DEGRADING_TEMPLATE)
_DIFFICULTY = _prompt_difficulties()
_TEMPLATE_WEIGHTS = _weights([t.weight for t in TEMPLATES])
_MODEL_WEIGHTS = _weights([m.weight for m in MODELS])
_BASE = np.array([t.base_logit for t in TEMPLATES])
_DISCRIMINATION = np.array([t.discrimination for t in TEMPLATES])
_SKILL = np.array([m.skill for m in MODELS])


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The true parameters behind a simulated run.

    ``success[(template, model)]`` is the true success probability before the
    change point (averaged over the template's prompt pool, which is sampled
    uniformly); ``success_after_change`` is the same after it (different only
    for ``degrading_template``).
    """

    success: dict[tuple[str, str], float]
    success_after_change: dict[tuple[str, str], float]
    degrading_template: str
    change_time: datetime
    start: datetime
    end: datetime
    template_weights: dict[str, float]
    model_weights: dict[str, float]

    def template_rate(self, template_id: str, *, after_change: bool = False) -> float:
        """True success rate of a template over the simulated model mix."""
        table = self.success_after_change if after_change else self.success
        return sum(
            weight * table[(template_id, model_id)]
            for model_id, weight in self.model_weights.items()
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: rates nested as ``{template: {model: rate}}``."""

        def nest(table: dict[tuple[str, str], float]) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for (template_id, model_id), rate in table.items():
                out.setdefault(template_id, {})[model_id] = rate
            return out

        return {
            "success": nest(self.success),
            "success_after_change": nest(self.success_after_change),
            "degrading_template": self.degrading_template,
            "change_time": self.change_time.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "template_weights": dict(self.template_weights),
            "model_weights": dict(self.model_weights),
        }


INVALID_KINDS: tuple[str, ...] = (
    "missing_template_id",
    "empty_model_id",
    "bad_success",
    "score_out_of_range",
    "negative_execution_time",
    "future_timestamp",
    "metadata_not_json",
    "difficulty_out_of_range",
    "newer_schema_version",
    "control_character_in_prompt_id",
    "prompt_id_too_long",
)
"""The kinds of malformed entries :func:`synthetic_events` can inject."""


def _corrupt(fields: dict[str, str], kind: str) -> None:
    if kind == "missing_template_id":
        del fields["template_id"]
    elif kind == "empty_model_id":
        fields["model_id"] = ""
    elif kind == "bad_success":
        fields["success"] = "maybe"
    elif kind == "score_out_of_range":
        fields["quality_score"] = "1.7"
    elif kind == "negative_execution_time":
        fields["execution_time"] = "-3.2"
    elif kind == "future_timestamp":
        fields["timestamp"] = repr(time.time() + 3 * 86400.0)
    elif kind == "metadata_not_json":
        fields["metadata"] = "{not json"
    elif kind == "difficulty_out_of_range":
        fields["difficulty_level"] = "9"
    elif kind == "newer_schema_version":
        fields["schema_version"] = str(SCHEMA_VERSION + 98)
    elif kind == "control_character_in_prompt_id":
        fields["prompt_id"] = fields["prompt_id"] + "\x07"
    elif kind == "prompt_id_too_long":
        fields["prompt_id"] = fields["prompt_id"] + "/" + "x" * 300
    else:  # pragma: no cover - INVALID_KINDS is the closed list
        raise ValueError(kind)


def _uuid7_texts(
    millis: npt.NDArray[np.int64], index: npt.NDArray[np.int64], rand_b: npt.NDArray[np.uint64]
) -> list[str]:
    # RFC 9562 layout: 48-bit ms time, version 7, 12 bits counter, variant, 62 random bits.
    # The counter (running index) keeps ids strictly ordered within one millisecond.
    # Formatting the two 64-bit halves directly is ~5x faster than uuid.UUID(int=...).
    high = (millis.astype(np.uint64) << np.uint64(16)) | np.uint64(0x7000) | (
        index.astype(np.uint64) & np.uint64(0xFFF))
    low = rand_b | np.uint64(0x8000000000000000)
    out = []
    for hi, lo in zip(high.tolist(), low.tolist(), strict=True):
        a = f"{hi:016x}"
        b = f"{lo:016x}"
        out.append(f"{a[:8]}-{a[8:12]}-{a[12:]}-{b[:4]}-{b[4:]}")
    return out


def _none_for_nan(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]


class Workload:
    """The simulated REV workload for one seed and one event-time span.

    ``start`` (tz-aware datetime or Unix seconds) defaults to ``now - span``
    so the events end now. Nothing is sampled at construction; each call to
    :meth:`prompt_events` / :meth:`wire_events` replays the same sequence.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        start: datetime | float | None = None,
        span_seconds: float = DEFAULT_SPAN_SECONDS,
    ) -> None:
        if not (math.isfinite(span_seconds) and span_seconds > 0):
            raise ConfigError(f"span must be a positive number of seconds, got {span_seconds}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.seed = seed
        self.span_seconds = float(span_seconds)
        if start is None:
            self.start = time.time() - self.span_seconds
        elif isinstance(start, datetime):
            if start.tzinfo is None:
                raise ConfigError("start needs a timezone (use UTC)")
            self.start = start.timestamp()
        else:
            self.start = float(start)
        self.change_seconds = self.start + CHANGE_FRACTION * self.span_seconds
        self._time_grid: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def ground_truth(self) -> GroundTruth:
        """The true success probabilities, the degrading template and its change time."""
        logits = (
            _BASE[:, None, None]
            + _DISCRIMINATION[:, None, None] * _SKILL[None, :, None]
            + DIFFICULTY_LOGIT * (_DIFFICULTY[:, None, :] - 3)
        )
        before = _sigmoid(logits).mean(axis=2)
        degraded = logits.copy()
        degraded[_DEGRADING_INDEX] += DEGRADATION_LOGIT
        after = _sigmoid(degraded).mean(axis=2)

        def table(rates: npt.NDArray[np.float64]) -> dict[tuple[str, str], float]:
            return {
                (t, m): float(rates[i, j])
                for i, t in enumerate(_TEMPLATE_IDS)
                for j, m in enumerate(_MODEL_IDS)
            }

        def moment(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, UTC)

        return GroundTruth(
            success=table(before),
            success_after_change=table(after),
            degrading_template=DEGRADING_TEMPLATE,
            change_time=moment(self.change_seconds),
            start=moment(self.start),
            end=moment(self.start) + timedelta(seconds=self.span_seconds),
            template_weights=dict(zip(_TEMPLATE_IDS, _TEMPLATE_WEIGHTS.tolist(), strict=True)),
            model_weights=dict(zip(_MODEL_IDS, _MODEL_WEIGHTS.tolist(), strict=True)),
        )

    def prompt_events(self, count: int) -> Iterator[PromptEvent]:
        """``count`` decoded events in event-time order (the fast path for stores)."""
        _check_count(count)
        return self._events(count)

    def _events(self, count: int) -> Iterator[PromptEvent]:
        rng = np.random.default_rng(self.seed)
        for first in range(0, count, CHUNK):
            yield from self._chunk(rng, first, min(CHUNK, count - first), count)

    def wire_events(
        self, count: int, *, invalid_fraction: float = 0.0, live: bool = False
    ) -> Iterator[dict[str, str]]:
        """``count`` events as flat wire fields for ``XADD``.

        With ``invalid_fraction`` > 0, about that share of the entries is
        corrupted with one of :data:`INVALID_KINDS` (chosen by a separate
        random stream, so the valid entries are the same as without it).
        With ``live``, each event's ``timestamp`` is the wall clock at the
        moment it is generated (for publishing as it happens); the degrading
        template then changes after :data:`CHANGE_FRACTION` of the events.
        """
        labelled = self.labelled_wire_events(count, invalid_fraction=invalid_fraction, live=live)
        return (fields for fields, _ in labelled)

    def labelled_wire_events(
        self, count: int, *, invalid_fraction: float = 0.0, live: bool = False
    ) -> Iterator[tuple[dict[str, str], str | None]]:
        """:meth:`wire_events`, each paired with its corruption kind (``None`` = valid)."""
        if not 0.0 <= invalid_fraction <= 1.0:
            raise ConfigError(f"invalid fraction must be in [0, 1], got {invalid_fraction}")
        return self._wire(self.prompt_events(count), invalid_fraction, live)

    def _wire(
        self, events: Iterator[PromptEvent], invalid_fraction: float, live: bool
    ) -> Iterator[tuple[dict[str, str], str | None]]:
        corruption = np.random.default_rng([self.seed, 1])
        for event in events:
            fields = encode_event(event)
            if live:
                fields["timestamp"] = repr(time.time())
            kind = None
            if invalid_fraction and corruption.random() < invalid_fraction:
                kind = INVALID_KINDS[int(corruption.integers(len(INVALID_KINDS)))]
                _corrupt(fields, kind)
            yield fields, kind

    def _event_times(self, quantiles: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # Inverse of the cumulative traffic intensity, tabulated on a fine grid.
        if self._time_grid is None:
            grid = np.linspace(0.0, self.span_seconds, 20_001)
            hours = ((self.start + grid) % 86400.0) / 3600.0
            intensity = 1.0 + DIURNAL_AMPLITUDE * np.cos(2 * np.pi * (hours - PEAK_HOUR_UTC) / 24)
            steps = (intensity[1:] + intensity[:-1]) / 2 * np.diff(grid)
            cumulative = np.concatenate(([0.0], np.cumsum(steps)))
            self._time_grid = (grid, cumulative / cumulative[-1])
        grid, cumulative = self._time_grid
        offsets = np.interp(quantiles, cumulative, grid)
        return self.start + np.minimum(offsets, np.nextafter(self.span_seconds, 0.0))

    def _chunk(
        self, rng: np.random.Generator, first: int, size: int, count: int
    ) -> Iterator[PromptEvent]:
        index = np.arange(first, first + size, dtype=np.int64)
        quantiles = (index + rng.random(size)) / count  # stratified: sorted, no gaps
        seconds = np.round(self._event_times(quantiles) * 1e6) / 1e6
        template = rng.choice(len(TEMPLATES), size=size, p=_TEMPLATE_WEIGHTS)
        model = rng.choice(len(MODELS), size=size, p=_MODEL_WEIGHTS)
        prompt = rng.integers(0, PROMPTS_PER_TEMPLATE, size=size)
        difficulty = _DIFFICULTY[template, prompt]

        logit = (
            _BASE[template]
            + _DISCRIMINATION[template] * _SKILL[model]
            + DIFFICULTY_LOGIT * (difficulty - 3)
        )
        degraded = (template == _DEGRADING_INDEX) & (seconds >= self.change_seconds)
        logit = logit + np.where(degraded, DEGRADATION_LOGIT, 0.0)
        success = rng.random(size) < _sigmoid(logit)

        median_tokens = np.array([t.median_tokens for t in TEMPLATES])[template]
        verbosity = np.array([m.verbosity for m in MODELS])[model]
        tokens = np.maximum(1.0, rng.lognormal(np.log(median_tokens * verbosity), 0.45))
        tokens = np.where(success, tokens, tokens * rng.uniform(0.2, 1.0, size))
        response_length = np.rint(tokens * 4.0).astype(np.int64)

        latency_median = np.array([m.median_latency for m in MODELS])[model]
        sigma = np.array([m.latency_sigma for m in MODELS])[model]
        execution_time = rng.lognormal(
            np.log(latency_median) + 0.6 * np.log(tokens / median_tokens), sigma
        )

        has_error = ~success & (rng.random(size) < ERROR_TYPE_PROBABILITY)
        error_kind = rng.choice(len(ERROR_TYPES), size=size, p=ERROR_TYPE_WEIGHTS)
        timed_out = has_error & (error_kind == 0)
        execution_time = np.where(timed_out, rng.uniform(30.0, 90.0, size), execution_time)
        execution_time = np.round(execution_time, 4)

        prompt_tokens = np.array([t.prompt_tokens for t in TEMPLATES])[template]
        price = np.array([m.price_per_1k_tokens for m in MODELS])[model]
        cost = np.round((prompt_tokens + tokens) / 1000.0 * price, 7)

        # Verification confidence tracks how well the template separates models.
        disc_mean = 0.3 + 0.4 * _DISCRIMINATION[template] / _DISCRIMINATION.max()
        verification = rng.beta(disc_mean * 24.0, (1.0 - disc_mean) * 24.0)
        behavioral_mean = np.clip(
            0.48 + 0.12 * success - 0.03 * (difficulty - 3) + 0.04 * _SKILL[model], 0.05, 0.95
        )
        behavioral = rng.beta(behavioral_mean * 16.0, (1.0 - behavioral_mean) * 16.0)
        verification = np.where(rng.random(size) < MISSING_VERIFICATION, np.nan,
                                np.round(verification, 5))
        behavioral = np.where(rng.random(size) < MISSING_BEHAVIORAL, np.nan,
                              np.round(behavioral, 5))
        quality = np.round(
            composite_quality_array(success, verification, behavioral, execution_time), 5
        )

        hashes = rng.integers(0, 2**63, size=size, dtype=np.int64)
        segments = rng.integers(1, 9, size=size)
        depth = rng.integers(3, 12, size=size)
        tails = rng.integers(0, 2**62, size=size, dtype=np.uint64)
        millis = np.floor(seconds * 1000.0).astype(np.int64)

        template_ids = [_TEMPLATE_IDS[i] for i in template.tolist()]
        domains = [TEMPLATES[i].domain for i in template.tolist()]
        error_types = [
            ERROR_TYPES[kind] if err else None
            for err, kind in zip(has_error.tolist(), error_kind.tolist(), strict=True)
        ]
        columns: tuple[list[Any], ...] = (
            _uuid7_texts(millis, index, tails),
            [f"{ms}-{i}" for ms, i in zip(millis.tolist(), index.tolist(), strict=True)],
            [f"{t}:{p:04d}" for t, p in zip(template_ids, prompt.tolist(), strict=True)],
            template_ids,
            [_MODEL_IDS[i] for i in model.tolist()],
            np.round(seconds * 1e6).astype(np.int64).tolist(),
            success.tolist(),
            response_length.tolist(),
            execution_time.tolist(),
            _none_for_nan(verification),
            _none_for_nan(behavioral),
            quality.tolist(),
            difficulty.tolist(),
            domains,
            cost.tolist(),
            error_types,
            [f"{h:016x}" for h in hashes.tolist()],
            [
                f'{{"segment_count":{s},"merkle_depth":{d}}}'
                for s, d in zip(segments.tolist(), depth.tolist(), strict=True)
            ],
            [None] * size,
            [SCHEMA_VERSION] * size,
        )
        yield from starmap(PromptEvent, zip(*columns, strict=True))


def _check_count(count: int) -> None:
    if count < 0:
        raise ConfigError(f"event count must be >= 0, got {count}")


def synthetic_prompt_events(
    count: int,
    *,
    seed: int = 0,
    start: datetime | float | None = None,
    span_seconds: float = DEFAULT_SPAN_SECONDS,
) -> Iterator[PromptEvent]:
    """``count`` simulated, already-decoded events over ``[start, start + span)``.

    The fast path for benchmarks and analytics tests: write them straight
    into a store with ``SqliteStore.insert_events``. ``stream_id`` is a
    plausible entry id at the event's time. Same arguments, same events
    (pass ``start`` explicitly for that: its default is ``now - span``).
    """
    return Workload(seed, start=start, span_seconds=span_seconds).prompt_events(count)


def synthetic_events(
    count: int,
    *,
    seed: int = 0,
    start: datetime | float | None = None,
    span_seconds: float = DEFAULT_SPAN_SECONDS,
    invalid_fraction: float = 0.0,
) -> Iterator[dict[str, str]]:
    """``count`` simulated events as wire field dicts, ready for ``XADD``.

    See :meth:`Workload.wire_events` for ``invalid_fraction``.
    """
    workload = Workload(seed, start=start, span_seconds=span_seconds)
    return workload.wire_events(count, invalid_fraction=invalid_fraction)

