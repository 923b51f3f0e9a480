"""When and in what order the simulated executions happen.

* :class:`TrafficClock`: event times over ``[start, start + span)`` with a daily
  traffic cycle, execution ``i`` of ``count`` at the ``(i + u) / count``
  quantile of the cumulative traffic (so the planned times are sorted).
* :class:`Rounds`: REV's loop. One round runs every prompt of every template on
  every model once, in a random order of its own; rounds follow each other, so
  a prompt comes back once per round, on every model.
* :func:`late_delays`: a few executions reach the stream late (a worker that
  buffered, a retried batch): their event time lies hours or days before their
  neighbours', so event times are out of order across days.
* :class:`Experiments`: REV's experiments split the span; each execution
  belongs to the experiment running at its event time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from streams.simulate.catalogue import CHANGE_FRACTION, DIURNAL_AMPLITUDE, PEAK_HOUR_UTC

LATE_MEAN_SECONDS = 8 * 3600.0
"""Mean delay of a late execution (exponential)."""
LATE_MAX_SECONDS = 3 * 86400.0
EXPERIMENT_FRACTIONS = (0.0, 0.3, CHANGE_FRACTION, 0.85)
"""Where each experiment starts, as a fraction of the span. The one starting at
``CHANGE_FRACTION`` ships the degraded revision of the degrading template."""


class TrafficClock:
    """Planned event times with a daily cycle (busiest around ``PEAK_HOUR_UTC``)."""

    def __init__(self, start: float, span_seconds: float) -> None:
        self.start = start
        self.span_seconds = span_seconds
        grid = np.linspace(0.0, span_seconds, 20_001)
        hours = ((start + grid) % 86400.0) / 3600.0
        intensity = 1.0 + DIURNAL_AMPLITUDE * np.cos(2 * np.pi * (hours - PEAK_HOUR_UTC) / 24)
        steps = (intensity[1:] + intensity[:-1]) / 2 * np.diff(grid)
        cumulative = np.concatenate(([0.0], np.cumsum(steps)))
        self._grid, self._cumulative = grid, cumulative / cumulative[-1]

    def times(self, quantiles: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Unix seconds at the traffic ``quantiles`` (inverse of the cumulative intensity)."""
        offsets = np.interp(quantiles, self._cumulative, self._grid)
        return self.start + np.minimum(offsets, np.nextafter(self.span_seconds, 0.0))


class Rounds:
    """Execution ``i`` -> (template, prompt, model): rounds over every (prompt, model).

    ``sizes[t]`` prompts for template ``t``, ``models`` models. Slot order is
    template-major; each round permutes the slots with its own seeded stream,
    so any execution's assignment is found without generating the ones before.
    """

    def __init__(self, sizes: npt.NDArray[np.int64], models: int, seed: int) -> None:
        self.models = models
        self.seed = seed
        per_template = sizes * models
        self.round_size = int(per_template.sum())
        self._template = np.repeat(np.arange(sizes.size), per_template)
        starts = np.concatenate(([0], np.cumsum(per_template)[:-1]))
        within = np.arange(self.round_size) - np.repeat(starts, per_template)
        self._prompt = within // models
        self._model = within % models
        self._cache: dict[int, npt.NDArray[np.int64]] = {}

    def _order(self, round_: int) -> npt.NDArray[np.int64]:
        order = self._cache.get(round_)
        if order is None:
            if len(self._cache) > 4:
                self._cache.clear()
            order = np.random.default_rng([self.seed, 2, round_]).permutation(self.round_size)
            self._cache[round_] = order
        return order

    def assign(
        self, index: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Template, prompt (within its template) and model of executions ``index``."""
        rounds = index // self.round_size
        slots = np.empty_like(index)
        for round_ in np.unique(rounds).tolist():
            mask = rounds == round_
            slots[mask] = self._order(round_)[index[mask] % self.round_size]
        return self._template[slots], self._prompt[slots], self._model[slots]


def late_delays(
    rng: np.random.Generator, size: int, fraction: float
) -> npt.NDArray[np.float64]:
    """Seconds each execution's event time lies before its place in the stream (0 mostly)."""
    late = rng.random(size) < fraction
    delay = np.minimum(rng.exponential(LATE_MEAN_SECONDS, size), LATE_MAX_SECONDS)
    return np.where(late, delay, 0.0)


@dataclass(frozen=True, slots=True)
class Experiment:
    """One simulated REV experiment: its id and event-time range ``[start, end)``."""

    experiment_id: str
    start: datetime
    end: datetime


class Experiments:
    """The experiments over a span, ``exp-<start date>-<letter>`` (a, b, c, ...)."""

    def __init__(self, start: float, span_seconds: float,
                 fractions: tuple[float, ...] = EXPERIMENT_FRACTIONS) -> None:
        bounds = [start + f * span_seconds for f in fractions] + [start + span_seconds]
        self._starts = np.array(bounds[:-1])
        self.experiments = tuple(
            Experiment(
                f"exp-{datetime.fromtimestamp(low, UTC):%Y-%m-%d}-{chr(ord('a') + i)}",
                datetime.fromtimestamp(low, UTC), datetime.fromtimestamp(high, UTC),
            )
            for i, (low, high) in enumerate(pairwise(bounds))
        )
        self._ids = [e.experiment_id for e in self.experiments]

    def ids_at(self, seconds: npt.NDArray[np.float64]) -> list[str]:
        """The experiment running at each event time (before the first: the first)."""
        index = np.maximum(np.searchsorted(self._starts, seconds, side="right") - 1, 0)
        return [self._ids[i] for i in index.tolist()]
