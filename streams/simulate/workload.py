"""A seeded, realistic REV workload: what the analytics should find, known in advance.

The pieces, one module each:

* :mod:`~streams.simulate.catalogue`: 8 templates x 5 models and the effects
  planted in them (templates with a large ``discrimination`` separate strong
  from weak models; :data:`DEGRADING_TEMPLATE` loses :data:`DEGRADATION_LOGIT`
  from :data:`CHANGE_FRACTION` of the span on);
* :mod:`~streams.simulate.prompts`: each template's fixed prompt set, stable
  prompt ids with a latent, logit-normal difficulty and a prompt x model
  interaction;
* :mod:`~streams.simulate.schedule`: REV's rounds (every prompt of every
  template on every model once per round, ``repetitions`` rounds), event times
  with a daily cycle, late executions, the experiments;
* :mod:`~streams.simulate.truth`: the ground truth;
* :mod:`~streams.simulate.corruption`: malformed entries for the dead-letter path.

So by default the data is what REV produces: clustered by prompt within a
template (an A/B test of two templates is ``clustered``) and paired across
models (two models ran the same prompts: ``paired``). ``independent=True``
gives the textbook case instead: a fresh prompt per execution, templates and
models drawn by their traffic weights.

Per execution: success ~ Bernoulli(sigmoid(base + discrimination * skill -
difficulty + interaction)); latency is lognormal per model and grows with
response length; cost is tokens times the model's price; verification and
behavioural scores are Beta-distributed around sensible means (behaviour
correlates with success) and ``quality_score`` is the design document's
composite (:mod:`streams.producer.quality`); some failures carry an
``error_type`` (``timeout`` failures are slow). ``experiment_id`` is the
experiment running at the event time (``experiments=False``: none).

Events come out in stream order with time-ordered UUIDv7 event ids and entry
ids derived from the seed. Their event times follow that order unless
``late_fraction`` > 0: then that share of executions arrives late, its event
time hours or days before its neighbours' (what real workers produce).

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
from streams.simulate.catalogue import (
    CATALOGUE_SEED,
    CHANGE_FRACTION,
    DEGRADATION_LOGIT,
    DEGRADING_TEMPLATE,
    DIURNAL_AMPLITUDE,
    ERROR_TYPE_PROBABILITY,
    ERROR_TYPE_WEIGHTS,
    ERROR_TYPES,
    INTERACTION_SD,
    MISSING_BEHAVIORAL,
    MISSING_VERIFICATION,
    MODELS,
    PEAK_HOUR_UTC,
    TEMPLATES,
    ModelSpec,
    TemplateSpec,
)
from streams.simulate.corruption import INVALID_KINDS, corrupt
from streams.simulate.prompts import PromptSet, difficulty_levels, prompt_set, prompt_set_sizes
from streams.simulate.quality import composite_quality_array
from streams.simulate.schedule import (
    EXPERIMENT_FRACTIONS,
    Experiments,
    Rounds,
    TrafficClock,
    late_delays,
)
from streams.simulate.truth import GroundTruth, sigmoid, success_tables

__all__ = [
    "CHANGE_FRACTION", "DEFAULT_REPETITIONS", "DEFAULT_SPAN_SECONDS", "DEGRADATION_LOGIT",
    "DEGRADING_TEMPLATE", "DIURNAL_AMPLITUDE", "INVALID_KINDS", "MODELS", "PEAK_HOUR_UTC",
    "TEMPLATES", "GroundTruth", "ModelSpec", "TemplateSpec", "Workload", "synthetic_events",
    "synthetic_prompt_events",
]

DEFAULT_SPAN_SECONDS = 7 * 86400.0
DEFAULT_REPETITIONS = 5
"""Rounds: how many times each prompt runs on each model."""
CHUNK = 8192
"""Events generated per vectorised step (fixed, so output never depends on it)."""


def _weights(values: list[float]) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    return array / array.sum()


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


@dataclass(frozen=True, slots=True)
class _Plan:
    """A run of ``count`` executions over fixed prompt sets."""

    count: int
    prompt_sets: list[PromptSet]
    rounds: Rounds
    offsets: npt.NDArray[np.int64]
    latent: npt.NDArray[np.float64]
    level: npt.NDArray[np.int64]
    interaction: npt.NDArray[np.float64]
    prompt_ids: list[str]


class Workload:
    """The simulated REV workload for one seed and one event-time span.

    ``start`` (tz-aware datetime or Unix seconds) defaults to ``now - span``
    so the events end now. Nothing is sampled at construction; each call to
    :meth:`prompt_events` / :meth:`wire_events` replays the same sequence.

    ``repetitions``: rounds, i.e. runs of each prompt on each model (the prompt
    sets are sized from the event count so that the rounds fill it);
    ``independent``: a fresh prompt per execution instead (no clusters, no
    pairs); ``experiments``: tag executions with the experiment running at
    their event time; ``late_fraction``: share of executions whose event time
    lies hours or days before their place in the stream. ``templates``,
    ``models`` and ``catalogue_seed`` replace the catalogue (tests: e.g. two
    templates alike, with a new draw of their prompt sets per replicate).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        start: datetime | float | None = None,
        span_seconds: float = DEFAULT_SPAN_SECONDS,
        repetitions: int = DEFAULT_REPETITIONS,
        independent: bool = False,
        experiments: bool = True,
        late_fraction: float = 0.0,
        templates: tuple[TemplateSpec, ...] = TEMPLATES,
        models: tuple[ModelSpec, ...] = MODELS,
        catalogue_seed: int = CATALOGUE_SEED,
    ) -> None:
        if not (math.isfinite(span_seconds) and span_seconds > 0):
            raise ConfigError(f"span must be a positive number of seconds, got {span_seconds}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        if repetitions < 1:
            raise ConfigError(f"repetitions must be >= 1, got {repetitions}")
        if not 0.0 <= late_fraction <= 1.0:
            raise ConfigError(f"late fraction must be in [0, 1], got {late_fraction}")
        if not templates or not models:
            raise ConfigError("the catalogue needs at least one template and one model")
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
        self.repetitions = repetitions
        self.independent = independent
        self.late_fraction = late_fraction
        self.templates = templates
        self.models = models
        self.catalogue_seed = catalogue_seed
        self.change_seconds = self.start + CHANGE_FRACTION * self.span_seconds
        self.experiments = Experiments(self.start, self.span_seconds) if experiments else None
        self._template_ids = [t.template_id for t in templates]
        self._model_ids = [m.model_id for m in models]
        self._degrading = (self._template_ids.index(DEGRADING_TEMPLATE)
                           if DEGRADING_TEMPLATE in self._template_ids else -1)
        self._template_weights = _weights([t.weight for t in templates])
        self._model_weights = _weights([m.weight for m in models])
        self._clock: TrafficClock | None = None

    # -- the truth ------------------------------------------------------------------------

    def prompt_sets(self, count: int) -> list[PromptSet]:
        """The templates' prompt sets a run of ``count`` executions uses (catalogue order)."""
        _check_count(count)
        sizes = prompt_set_sizes(count, self._template_weights, len(self.models),
                                 self.repetitions)
        return [prompt_set(t, int(size), len(self.models), catalogue_seed=self.catalogue_seed)
                for t, size in zip(self.templates, sizes.tolist(), strict=True)]

    def ground_truth(self, count: int | None = None) -> GroundTruth:
        """The true success probabilities, the degrading template and its change time.

        With ``count`` (and prompt sets), the rates are those of the prompt sets
        a run of that size uses; without, those of the whole prompt population.
        """
        sets = None if self.independent or count is None else self.prompt_sets(count)
        shift = np.zeros(len(self.templates))
        before = success_tables(self.templates, self.models, sets, shift)
        if self._degrading >= 0:
            shift[self._degrading] = DEGRADATION_LOGIT
        after = success_tables(self.templates, self.models, sets, shift)

        def moment(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, UTC)

        model_weights = (self._model_weights if self.independent
                         else np.full(len(self.models), 1.0 / len(self.models)))
        experiments = self.experiments.experiments if self.experiments else ()
        changed = next((e.experiment_id for e, f in zip(experiments, EXPERIMENT_FRACTIONS,
                                                        strict=False)
                        if f == CHANGE_FRACTION), None)
        return GroundTruth(
            success=before,
            success_after_change=after,
            degrading_template=DEGRADING_TEMPLATE,
            change_time=moment(self.change_seconds),
            start=moment(self.start),
            end=moment(self.start) + timedelta(seconds=self.span_seconds),
            template_weights=dict(zip(self._template_ids, self._template_weights.tolist(),
                                      strict=True)),
            model_weights=dict(zip(self._model_ids, model_weights.tolist(), strict=True)),
            prompts_per_template=None if sets is None else {
                s.template_id: s.size for s in sets},
            repetitions=None if self.independent else self.repetitions,
            experiments=experiments,
            changed_experiment=changed if self._degrading >= 0 else None,
        )

    # -- the events -----------------------------------------------------------------------

    def prompt_events(self, count: int) -> Iterator[PromptEvent]:
        """``count`` decoded events in stream order (the fast path for stores)."""
        _check_count(count)
        return self._events(count)

    def _plan(self, count: int) -> _Plan | None:
        if self.independent:
            return None
        sets = self.prompt_sets(count)
        sizes = np.array([s.size for s in sets], dtype=np.int64)
        return _Plan(
            count=count, prompt_sets=sets,
            rounds=Rounds(sizes, len(self.models), self.seed),
            offsets=np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64),
            latent=np.concatenate([s.latent for s in sets]),
            level=np.concatenate([s.level for s in sets]),
            interaction=np.concatenate([s.interaction for s in sets]),
            prompt_ids=[s.prompt_id(k) for s in sets for k in range(s.size)],
        )

    def _events(self, count: int) -> Iterator[PromptEvent]:
        rng = np.random.default_rng(self.seed)
        plan = self._plan(count)
        for first in range(0, count, CHUNK):
            yield from self._chunk(rng, first, min(CHUNK, count - first), count, plan)

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
                corrupt(fields, kind)
            yield fields, kind

    def _who(
        self, rng: np.random.Generator, index: npt.NDArray[np.int64], plan: _Plan | None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str],
               npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Template, model, prompt ids, logit of the prompt terms, difficulty level."""
        size = index.size
        if plan is None:  # a fresh prompt per execution
            template = rng.choice(len(self.templates), size=size, p=self._template_weights)
            model = rng.choice(len(self.models), size=size, p=self._model_weights)
            standardized = rng.standard_normal(size)
            sd = np.array([t.prompt_sd for t in self.templates])[template]
            prompt_terms = -sd * standardized + INTERACTION_SD * rng.standard_normal(size)
            ids = [f"{self._template_ids[t]}:x{i:09d}"
                   for t, i in zip(template.tolist(), index.tolist(), strict=True)]
            return template, model, ids, prompt_terms, difficulty_levels(standardized)
        template, local, model = plan.rounds.assign(index)
        flat = plan.offsets[template] + local
        prompt_terms = -plan.latent[flat] + plan.interaction[flat, model]
        ids = [plan.prompt_ids[i] for i in flat.tolist()]
        return template, model, ids, prompt_terms, plan.level[flat]

    def _chunk(
        self, rng: np.random.Generator, first: int, size: int, count: int, plan: _Plan | None
    ) -> Iterator[PromptEvent]:
        if self._clock is None:
            self._clock = TrafficClock(self.start, self.span_seconds)
        index = np.arange(first, first + size, dtype=np.int64)
        quantiles = (index + rng.random(size)) / count  # stratified: sorted, no gaps
        planned = np.round(self._clock.times(quantiles) * 1e6) / 1e6
        seconds = planned
        if self.late_fraction:
            delays = late_delays(rng, size, self.late_fraction)
            seconds = np.maximum(np.round((planned - delays) * 1e6) / 1e6, self.start)
        template, model, prompt_ids, prompt_terms, difficulty = self._who(rng, index, plan)

        base = np.array([t.base_logit for t in self.templates])
        discrimination = np.array([t.discrimination for t in self.templates])
        skill = np.array([m.skill for m in self.models])
        logit = base[template] + discrimination[template] * skill[model] + prompt_terms
        degraded = (template == self._degrading) & (seconds >= self.change_seconds)
        logit = logit + np.where(degraded, DEGRADATION_LOGIT, 0.0)
        success = rng.random(size) < sigmoid(logit)

        median_tokens = np.array([t.median_tokens for t in self.templates])[template]
        verbosity = np.array([m.verbosity for m in self.models])[model]
        tokens = np.maximum(1.0, rng.lognormal(np.log(median_tokens * verbosity), 0.45))
        tokens = np.where(success, tokens, tokens * rng.uniform(0.2, 1.0, size))
        response_length = np.rint(tokens * 4.0).astype(np.int64)

        latency_median = np.array([m.median_latency for m in self.models])[model]
        sigma = np.array([m.latency_sigma for m in self.models])[model]
        execution_time = rng.lognormal(
            np.log(latency_median) + 0.6 * np.log(tokens / median_tokens), sigma
        )

        has_error = ~success & (rng.random(size) < ERROR_TYPE_PROBABILITY)
        error_kind = rng.choice(len(ERROR_TYPES), size=size, p=ERROR_TYPE_WEIGHTS)
        timed_out = has_error & (error_kind == 0)
        execution_time = np.where(timed_out, rng.uniform(30.0, 90.0, size), execution_time)
        execution_time = np.round(execution_time, 4)

        prompt_tokens = np.array([t.prompt_tokens for t in self.templates])[template]
        price = np.array([m.price_per_1k_tokens for m in self.models])[model]
        cost = np.round((prompt_tokens + tokens) / 1000.0 * price, 7)

        # Verification confidence tracks how well the template separates models.
        disc_mean = 0.3 + 0.4 * discrimination[template] / max(discrimination.max(), 1e-9)
        verification = rng.beta(disc_mean * 24.0, (1.0 - disc_mean) * 24.0)
        behavioral_mean = np.clip(
            0.48 + 0.12 * success - 0.03 * (difficulty - 3) + 0.04 * skill[model], 0.05, 0.95
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
        # Ids are stamped when the event is published: its place in the stream.
        millis = np.floor(planned * 1000.0).astype(np.int64)

        template_ids = [self._template_ids[i] for i in template.tolist()]
        domains = [self.templates[i].domain for i in template.tolist()]
        error_types = [
            ERROR_TYPES[kind] if err else None
            for err, kind in zip(has_error.tolist(), error_kind.tolist(), strict=True)
        ]
        experiment_ids: list[str | None] = (
            list(self.experiments.ids_at(seconds)) if self.experiments else [None] * size)
        columns: tuple[list[Any], ...] = (
            _uuid7_texts(millis, index, tails),
            [f"{ms}-{i}" for ms, i in zip(millis.tolist(), index.tolist(), strict=True)],
            prompt_ids,
            template_ids,
            [self._model_ids[i] for i in model.tolist()],
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
            experiment_ids,
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
    repetitions: int = DEFAULT_REPETITIONS,
    independent: bool = False,
    experiments: bool = True,
    late_fraction: float = 0.0,
) -> Iterator[PromptEvent]:
    """``count`` simulated, already-decoded events over ``[start, start + span)``.

    The fast path for benchmarks and analytics tests: write them straight
    into a store with ``SqliteStore.insert_events``. ``stream_id`` is a
    plausible entry id at the event's time. Same arguments, same events
    (pass ``start`` explicitly for that: its default is ``now - span``).
    The other arguments are :class:`Workload`'s.
    """
    return Workload(seed, start=start, span_seconds=span_seconds, repetitions=repetitions,
                    independent=independent, experiments=experiments,
                    late_fraction=late_fraction).prompt_events(count)


def synthetic_events(
    count: int,
    *,
    seed: int = 0,
    start: datetime | float | None = None,
    span_seconds: float = DEFAULT_SPAN_SECONDS,
    invalid_fraction: float = 0.0,
    repetitions: int = DEFAULT_REPETITIONS,
    independent: bool = False,
    experiments: bool = True,
    late_fraction: float = 0.0,
) -> Iterator[dict[str, str]]:
    """``count`` simulated events as wire field dicts, ready for ``XADD``.

    See :meth:`Workload.wire_events` for ``invalid_fraction``.
    """
    workload = Workload(seed, start=start, span_seconds=span_seconds, repetitions=repetitions,
                        independent=independent, experiments=experiments,
                        late_fraction=late_fraction)
    return workload.wire_events(count, invalid_fraction=invalid_fraction)
