"""Rolling sums over event time, in minute buckets, expiring against a clock.

The consumer's rolling gauges (success ratio over 5 m and 1 h, mean scores)
need "the sum of what happened in the last N minutes" for thousands of keys,
at every scrape. Summing 60 buckets per key per scrape would cost more than
the scrape budget, so :class:`RollingSums` keeps, for every window, running
totals that are updated when an event arrives and decremented when a minute
bucket slides out of the window.

Time rules, chosen so that a gauge never freezes:

* buckets are placed by **event time** (the event's own timestamp), so a
  backlog replayed late lands in the minutes it happened;
* the windows end at **now** (``clock()``): when a key stops receiving
  events its totals fall to zero within the window and the key disappears
  from :meth:`RollingSums.totals`;
* an event older than the widest window counts nowhere here (the
  Prometheus counters still count it); an event stamped in the future (the
  wire format allows 24 h of clock skew) is counted in the current minute.

A window of ``k`` minutes covers the current, partial minute and the
``k - 1`` before it. Not thread-safe: the caller holds the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from operator import add
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

SECONDS_PER_MINUTE = 60


class RollingSums(Generic[K]):
    """Per-key vectors of ``width`` sums over several trailing windows.

    ``windows`` maps a window name (a label value such as ``"5m"``) to its
    length in minutes. :meth:`add` adds a vector for one key and one minute;
    :meth:`totals` gives the sums of one window. Element 0 of every vector
    must be a count of events (the others are free): a key whose count falls
    to zero leaves the window.
    """

    def __init__(self, windows: Mapping[str, int], width: int) -> None:
        if not windows:
            raise ValueError("at least one window is needed")
        if any(minutes < 1 for minutes in windows.values()):
            raise ValueError(f"window lengths must be >= 1 minute, got {dict(windows)}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.windows = dict(windows)
        self.width = width
        self.span = max(self.windows.values())
        self._buckets: dict[int, dict[K, list[float]]] = {}
        self._totals: dict[str, dict[K, list[float]]] = {name: {} for name in self.windows}
        self._now: int | None = None

    @staticmethod
    def minute_of(seconds: float) -> int:
        return int(seconds // SECONDS_PER_MINUTE)

    def advance(self, now_seconds: float) -> None:
        """Move the windows' end to ``now_seconds``; expire what slid out.

        A clock that goes backwards is ignored (the windows never move back).
        """
        now = self.minute_of(now_seconds)
        previous = self._now
        if previous is not None and now <= previous:
            return
        self._now = now
        if previous is None:
            return
        for name, length in self.windows.items():
            totals = self._totals[name]
            if now - previous >= length:
                totals.clear()  # everything in the window slid out at once
                continue
            for minute in range(previous - length + 1, now - length + 1):
                bucket = self._buckets.get(minute)
                if bucket:
                    self._subtract(totals, bucket)
        oldest = now - self.span
        for minute in [m for m in self._buckets if m <= oldest]:
            del self._buckets[minute]

    def add(self, key: K, event_seconds: float, vector: Sequence[float]) -> bool:
        """Add ``vector`` for ``key`` at event time ``event_seconds``.

        Returns False when the event is older than every window (not counted).
        Call :meth:`advance` first so "now" is current.
        """
        return self.add_minutes({(key, self.minute_of(event_seconds)): vector}) == 1

    def add_minutes(self, vectors: Mapping[tuple[K, int], Sequence[float]]) -> int:
        """Add many vectors at once, keyed by ``(key, minute)``; returns how many counted.

        ``minute`` is ``int(seconds // 60)`` of the event time. This is the
        consumer's path: one call per committed window.
        """
        now = self._now
        if now is None:
            raise RuntimeError("call advance() before adding")
        oldest = now - self.span
        windows = [(now - length, self._totals[name]) for name, length in self.windows.items()]
        buckets = self._buckets
        counted = 0
        for (key, minute), vector in vectors.items():
            minute = min(minute, now)
            if minute <= oldest:
                continue
            counted += 1
            bucket = buckets.get(minute)
            if bucket is None:
                bucket = buckets[minute] = {}
            # Inlined accumulate (hot path): map(add) sums the vectors at C speed.
            for start, store in ((minute - 1, bucket), *windows):
                if minute > start:
                    current = store.get(key)
                    if current is None:
                        store[key] = list(vector)
                    else:
                        current[:] = map(add, current, vector)
        return counted

    def totals(self, window: str) -> Mapping[K, list[float]]:
        """The current sums of ``window``, by key (read-only view; do not mutate)."""
        return self._totals[window]

    def forget(self, predicate: Callable[[K], bool]) -> None:
        """Drop every key for which ``predicate(key)`` is true, in all buckets."""
        for store in (*self._buckets.values(), *self._totals.values()):
            for key in [k for k in store if predicate(k)]:
                del store[key]

    def _subtract(self, totals: dict[K, list[float]], bucket: Mapping[K, list[float]]) -> None:
        width = self.width
        for key, vector in bucket.items():
            current = totals.get(key)
            if current is None:
                continue
            for i in range(width):
                current[i] -= vector[i]
            # Element 0 is always a count: at zero the key left the window.
            # Dropping it also discards float rounding left in the sums.
            if current[0] <= 0.5:
                del totals[key]
