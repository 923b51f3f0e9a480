"""A cap on the distinct values one Prometheus label may take.

Every distinct ``template_id`` or ``model_id`` becomes new time series in
the exporter and in Prometheus. A misbehaving producer (a random id per
event) would otherwise exhaust both. :class:`LabelGuard` admits the first
``limit`` distinct values and folds every later one into ``__other__``,
counting the events it folded so an operator sees that it happens.

Values idle for longer than the caller's cut-off can be forgotten
(:meth:`LabelGuard.forget_idle`), which frees their slots for new values:
a deployment that retires templates over months keeps real labels for the
templates in use. Memory is bounded by ``limit``: folded values are never
stored.
"""

from __future__ import annotations

OTHER = "__other__"
"""The label value that stands for every value beyond the cap."""


class LabelGuard:
    """Admits at most ``limit`` distinct label values; folds the rest into ``__other__``."""

    def __init__(self, limit: int, other: str = OTHER) -> None:
        if limit < 1:
            raise ValueError(f"label limit must be >= 1, got {limit}")
        self.limit = limit
        self.other = other
        self._last_seen: dict[str, float] = {}
        self.folded_events = 0
        """Events whose value was folded into ``other`` (a counter: never decreases)."""

    def resolve(self, value: str, now: float, events: int = 1) -> str:
        """The label to use for ``value`` seen ``events`` times at ``now``."""
        last_seen = self._last_seen
        if value in last_seen or len(last_seen) < self.limit:
            last_seen[value] = now
            return value
        self.folded_events += events
        # __other__ is a real label too: keep it alive while values fold into it.
        return self.other

    def __len__(self) -> int:
        """Distinct values currently holding a slot."""
        return len(self._last_seen)

    def __contains__(self, value: object) -> bool:
        return value in self._last_seen

    def forget_idle(self, cutoff: float) -> set[str]:
        """Forget values last seen before ``cutoff``; returns the values forgotten."""
        idle = {value for value, seen in self._last_seen.items() if seen < cutoff}
        for value in idle:
            del self._last_seen[value]
        return idle
