"""Read executions from the store into pandas, by event time.

The one place that turns ``prompt_metrics`` rows into a typed DataFrame:
``timestamp`` as UTC datetimes (event time, never arrival time), ``success``
as bool, numeric columns as floats with NaN for "not given".

Speed (1M rows): going through Python objects row by row (``pandas.read_sql``)
costs seconds per million rows, and ``ORDER BY timestamp`` over the timestamp
index turns a sequential table scan into a million random page reads. So the
rows are read in table order straight into Arrow columns with the ADBC SQLite
driver (C, no Python object per value), timestamps are parsed by Arrow, and the
frame is sorted by event time in pandas. Without ADBC installed the same query
runs through :mod:`sqlite3`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rev_analytics.core.errors import StorageError
from storage.selection import Selection
from storage.sqlite_store import TABLE

ANALYSIS_COLUMNS: tuple[str, ...] = (
    "event_id", "prompt_id", "template_id", "model_id", "timestamp", "success",
    "response_length", "execution_time", "discrimination_score", "behavioral_score",
    "quality_score", "difficulty_level", "domain", "cost", "error_type",
)
# What the statistics read (no per-event ids): the fast default of ``analyze``.
STATISTICS_COLUMNS: tuple[str, ...] = tuple(
    column for column in ANALYSIS_COLUMNS if column not in ("event_id", "prompt_id")
)
NUMERIC_COLUMNS: tuple[str, ...] = (
    "response_length", "execution_time", "discrimination_score", "behavioral_score",
    "quality_score", "difficulty_level", "cost",
)
_STORE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# ADBC infers each column's Arrow type from the batch; one batch for the whole
# result means a column that starts with NULLs still gets its real type.
_ONE_BATCH = str(2**30)


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


def _select(columns: Sequence[str], where: str) -> str:
    unknown = [c for c in columns if c not in ANALYSIS_COLUMNS and c not in (
        "stream_id", "response_hash", "metadata", "ingested_at", "schema_version")]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}")
    # CAST so an INTEGER-affinity column and NULLs arrive as one float type.
    expressions = [
        f"CAST({c} AS REAL) AS {c}" if c in NUMERIC_COLUMNS else c for c in columns
    ]
    return f"SELECT {', '.join(expressions)} FROM {TABLE}{where}"


def _arrow_via_adbc(db_path: Path, query: str, params: list[str]) -> Any:
    try:
        import adbc_driver_sqlite.dbapi as adbc
    except ImportError:  # optional accelerator
        return None
    conn = adbc.connect(db_path.resolve().as_uri() + "?mode=ro")
    try:
        cursor = conn.cursor()
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": _ONE_BATCH})
        cursor.execute(query, params if params else None)
        table = cursor.fetch_arrow_table()
        cursor.close()
        return table
    finally:
        conn.close()


def read_executions(
    conn: sqlite3.Connection,
    selection: Selection | None = None,
    columns: Sequence[str] = ANALYSIS_COLUMNS,
) -> pd.DataFrame:
    """Like :func:`load_executions` on an open connection (e.g. a ``:memory:`` store's)."""
    where, params = (selection or Selection()).where()
    cursor = conn.execute(_select(columns, where), params)
    rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    return _finish(typed(frame))


def load_executions(
    db_path: str | Path,
    selection: Selection | None = None,
    columns: Sequence[str] = ANALYSIS_COLUMNS,
) -> pd.DataFrame:
    """Executions matching ``selection`` as a typed DataFrame sorted by event time."""
    path = Path(db_path)
    connect_readonly(path).close()  # same errors for a missing or foreign file
    where, params = (selection or Selection()).where()
    try:
        table = _arrow_via_adbc(path, _select(columns, where), params)
    except Exception as exc:  # the driver's own error types; fall back, never fail here
        if "no such table" in str(exc):
            raise StorageError(f"{path} is not a rev-analytics database: {exc}") from exc
        table = None
    if table is None:
        conn = connect_readonly(path)
        try:
            return read_executions(conn, selection, columns)
        finally:
            conn.close()
    return _finish(_from_arrow(table, columns))


def _from_arrow(table: Any, columns: Sequence[str]) -> pd.DataFrame:
    import pyarrow as pa  # imported here: CLI start-up should not pay for it
    import pyarrow.compute as pc

    arrays: dict[str, Any] = {}
    for column in columns:
        values = table.column(column)
        if column == "timestamp":
            values = pc.assume_timezone(
                pc.cast(pc.cast(values, pa.string()), pa.timestamp("us")), "UTC"
            )
        elif column in NUMERIC_COLUMNS:
            values = pc.cast(values, pa.float64())
        arrays[column] = values
    frame = pa.table(arrays).to_pandas()
    if "success" in frame:
        frame["success"] = frame["success"].astype(bool)
    for column in NUMERIC_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype("float64")
    return frame


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    if "timestamp" in frame and len(frame):
        frame = frame.sort_values("timestamp", kind="stable", ignore_index=True)
    return frame


COUNT_KEYS: tuple[str, ...] = ("template_id", "model_id", "prompt_id", "domain",
                               "difficulty_level")
"""Columns :func:`load_outcome_counts` can group by."""


def load_outcome_counts(
    db_path: str | Path,
    selection: Selection | None = None,
    by: Sequence[str] = ("template_id", "model_id"),
) -> pd.DataFrame:
    """Executions ``n`` and ``successes`` per combination of ``by``, aggregated by the store.

    ``by`` names columns of :data:`COUNT_KEYS`; ``("template_id", "model_id",
    "prompt_id")`` gives the per-prompt counts that clustered and paired tests need.
    """
    keys = list(by)
    unknown = [key for key in keys if key not in COUNT_KEYS]
    if unknown or not keys:
        raise ValueError(f"cannot group counts by {unknown or keys}; choose from {COUNT_KEYS}")
    where, params = (selection or Selection()).where()
    conn = connect_readonly(db_path)
    try:
        rows = conn.execute(
            f"SELECT {', '.join(keys)}, COUNT(*), SUM(success) FROM {TABLE}{where} "
            f"GROUP BY {', '.join(keys)}", params,
        ).fetchall()
    finally:
        conn.close()
    counts = pd.DataFrame(rows, columns=[*keys, "n", "successes"])
    return counts.astype({"n": "int64", "successes": "int64"})


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Give store columns their analysis dtypes (in place where possible)."""
    if "timestamp" in frame:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], format=_STORE_TIME_FORMAT, utc=True)
    if "success" in frame:
        frame["success"] = frame["success"].astype(bool)
    for column in NUMERIC_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame
