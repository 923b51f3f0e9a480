"""Which executions a batch job reads: an event-time range and id filters.

Kept free of pandas and Arrow so the command line can build its options
without loading the analytics stack (see ``tests/cli/test_cli.py``). The SQL
for a selection is written by :mod:`storage.query`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Selection:
    """Which executions to read: an event-time range and optional id filters.

    ``since`` is inclusive, ``until`` exclusive; ``None`` means unbounded. An
    id filter of ``None`` means "any"; ``experiments`` selects executions
    carrying one of those ``experiment_id`` values.
    """

    since: datetime | None = None
    until: datetime | None = None
    templates: Sequence[str] | None = None
    models: Sequence[str] | None = None
    domains: Sequence[str] | None = None
    experiments: Sequence[str] | None = None

    @classmethod
    def last_days(cls, days: float, now: datetime | None = None, **filters: object) -> Selection:
        end = now or datetime.now(UTC)
        return cls(since=end - timedelta(days=days), **filters)  # type: ignore[arg-type]

    def id_filters(self) -> tuple[tuple[str, Sequence[str]], ...]:
        """``(column, allowed values)`` for every id filter that is set."""
        return tuple(
            (column, values) for column, values in (
                ("template_id", self.templates), ("model_id", self.models),
                ("domain", self.domains), ("experiment_id", self.experiments),
            ) if values
        )

    @property
    def has_time_range(self) -> bool:
        return self.since is not None or self.until is not None


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
