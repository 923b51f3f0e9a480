"""Read executions from the store into pandas, by event time.

The one place that turns ``prompt_metrics`` rows into a typed DataFrame:
``timestamp`` as UTC datetimes (event time, never arrival time), ``success``
as bool, numeric columns as floats with NaN for "not given".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from rev_analytics.errors import StorageError
from storage.sqlite_store import TABLE, format_timestamp

ANALYSIS_COLUMNS: tuple[str, ...] = (
    "event_id", "prompt_id", "template_id", "model_id", "timestamp", "success",
    "response_length", "execution_time", "discrimination_score", "behavioral_score",
    "quality_score", "difficulty_level", "domain", "cost", "error_type",
)
_STORE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


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


def connect_readonly(db_path: str | Path) -> sqlite3.Connection:
    """A read-only connection to an existing store (never creates a file)."""
    path = Path(db_path)
    if not path.exists():
        raise StorageError(f"no database at {path}")
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a rev-analytics database: {exc}") from exc
    return conn


def load_executions(
    db_path: str | Path,
    selection: Selection | None = None,
    columns: Sequence[str] = ANALYSIS_COLUMNS,
) -> pd.DataFrame:
    """Executions matching ``selection`` as a typed DataFrame sorted by event time."""
    where, params = (selection or Selection()).where()
    conn = connect_readonly(db_path)
    try:
        frame = pd.read_sql_query(
            f"SELECT {', '.join(columns)} FROM {TABLE}{where} ORDER BY timestamp", conn,
            params=params,
        )
    finally:
        conn.close()
    return typed(frame)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Give store columns their analysis dtypes (in place where possible)."""
    if "timestamp" in frame:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], format=_STORE_TIME_FORMAT, utc=True)
    if "success" in frame:
        frame["success"] = frame["success"].astype(bool)
    for column in ("response_length", "execution_time", "discrimination_score",
                   "behavioral_score", "quality_score", "difficulty_level", "cost"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame
