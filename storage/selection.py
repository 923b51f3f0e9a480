"""Which executions a batch job reads: an event-time range and id filters.

Kept free of pandas and Arrow so the command line can build its options
without loading the analytics stack (see ``tests/cli/test_cli.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.sqlite_store import format_timestamp


@dataclass(frozen=True, slots=True)
class Selection:
    """Which executions to read: an event-time range and optional id filters.

    ``since`` is inclusive, ``until`` exclusive; ``None`` means unbounded.
    """

    since: datetime | None = None
    until: datetime | None = None
    templates: Sequence[str] | None = None
    models: Sequence[str] | None = None
    domains: Sequence[str] | None = None

    @classmethod
    def last_days(cls, days: float, now: datetime | None = None, **filters: object) -> Selection:
        end = now or datetime.now(UTC)
        return cls(since=end - timedelta(days=days), **filters)  # type: ignore[arg-type]

    def where(self) -> tuple[str, list[str]]:
        """SQL ``WHERE`` clause and its parameters (always parameterised)."""
        clauses: list[str] = []
        params: list[str] = []
        if self.since is not None:
            clauses.append("timestamp >= ?")
            params.append(format_timestamp(_as_utc(self.since).timestamp()))
        if self.until is not None:
            clauses.append("timestamp < ?")
            params.append(format_timestamp(_as_utc(self.until).timestamp()))
        for column, values in (
            ("template_id", self.templates),
            ("model_id", self.models),
            ("domain", self.domains),
        ):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
