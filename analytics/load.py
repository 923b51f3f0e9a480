"""Executions from the store as typed pandas frames, by event time.

The batch side's way into the store: :mod:`storage.reader` (the one reader,
for either backend) delivers Arrow; this module turns it into what the
statistics expect: ``timestamp`` as UTC datetimes (event time, never arrival
time), ``success`` as bool, measurements as floats with NaN for "not given",
rows sorted by event time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from storage.columns import NUMERIC_COLUMNS
from storage.location import StoreLocation
from storage.query import COUNT_KEYS
from storage.reader import open_reader
from storage.selection import Selection

__all__ = ["ANALYSIS_COLUMNS", "COUNT_KEYS", "STATISTICS_COLUMNS", "Selection", "frame_from_arrow",
           "load_executions", "load_outcome_counts"]

Store = str | Path | StoreLocation | sqlite3.Connection
"""A ``--db`` value, or an open SQLite connection (an in-memory store)."""

ANALYSIS_COLUMNS: tuple[str, ...] = (
    "event_id", "prompt_id", "template_id", "model_id", "experiment_id", "timestamp",
    "success", "response_length", "execution_time", "discrimination_score",
    "behavioral_score", "quality_score", "difficulty_level", "domain", "cost", "error_type",
)
# What the statistics read (no per-event ids): the fast default of ``analyze``.
STATISTICS_COLUMNS: tuple[str, ...] = tuple(
    column for column in ANALYSIS_COLUMNS if column != "event_id"
)


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    """A reader's Arrow table as the typed frame the statistics use, in event-time order."""
    frame = table.to_pandas()
    if "success" in frame:
        frame["success"] = frame["success"].astype(bool)
    for column in NUMERIC_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype("float64")
    if "timestamp" in frame and len(frame):
        frame = frame.sort_values("timestamp", kind="stable", ignore_index=True)
    return frame


def load_executions(
    db: Store,
    selection: Selection | None = None,
    columns: Sequence[str] = ANALYSIS_COLUMNS,
) -> pd.DataFrame:
    """Executions matching ``selection`` as a typed DataFrame sorted by event time.

    Read in store order and sorted here: an ``ORDER BY`` in SQL would sort a
    million rows in SQLite's temporary B-tree, slower than pandas.
    """
    with open_reader(db) as reader:
        return frame_from_arrow(reader.table(tuple(columns), selection))


def load_outcome_counts(
    db: Store,
    selection: Selection | None = None,
    by: Sequence[str] = ("template_id", "model_id"),
) -> pd.DataFrame:
    """Executions ``n`` and ``successes`` per combination of ``by``, aggregated by the store.

    ``by`` names columns of :data:`COUNT_KEYS`; ``("template_id", "model_id",
    "prompt_id")`` gives the per-prompt counts that clustered and paired tests need.
    """
    keys = list(by)
    with open_reader(db) as reader:
        rows: list[Any] = reader.outcome_counts(keys, selection)
    counts = pd.DataFrame(rows, columns=[*keys, "n", "successes"])
    return counts.astype({"n": "int64", "successes": "int64"})
