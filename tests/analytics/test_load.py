"""Loading the store: event time, filters, types, the Arrow path and the sqlite3 path agree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.load import (
    ANALYSIS_COLUMNS,
    STATISTICS_COLUMNS,
    Selection,
    load_executions,
    load_outcome_counts,
)
from rev_analytics.core.errors import StorageError
from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_seconds
from storage import open_store
from storage.sqlite.store import SqliteStore

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def events(count: int, *, late_fields_from: int = 0) -> list[PromptEvent]:
    """Events whose optional fields are NULL before ``late_fields_from`` (a type trap)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        full = i >= late_fields_from
        out.append(PromptEvent(
            event_id=f"e{i:06d}", stream_id=f"{i}-0", prompt_id=f"p{i % 7}",
            template_id=f"t{i % 3}", model_id=f"m{i % 2}",
            # inserted out of event-time order: reversed blocks of 10
            timestamp=micros_from_seconds(T0 + (i // 10) * 600 + (9 - i % 10) * 30 + 0.123456),
            success=bool(rng.random() < 0.7),
            response_length=int(rng.integers(0, 900)) if full else None,
            execution_time=float(rng.random()) if full else None,
            quality_score=float(rng.random()) if full else None,
            difficulty_level=int(rng.integers(1, 6)) if full else None,
            domain="math" if full else None,
            error_type="timeout" if full and i % 5 == 0 else None,
        ))
    return out


@pytest.fixture
def store(db_path: Path) -> Path:
    with open_store(db_path) as db:
        # ingested long after the events: arrival time must never stand in for event time
        db.insert_events(events(3000, late_fields_from=2500), ingested_at=T0 + 400 * 86400)
    return db_path


def test_types_order_and_null_first_columns(store: Path) -> None:
    frame = load_executions(store)
    assert list(frame.columns) == list(ANALYSIS_COLUMNS) and len(frame) == 3000
    assert str(frame["timestamp"].dtype).startswith("datetime64") and frame["timestamp"].dt.tz
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["success"].dtype == bool
    for column in ("response_length", "execution_time", "quality_score", "difficulty_level"):
        assert frame[column].dtype == np.float64
    late = frame[frame["event_id"] >= "e002500"]
    assert late["response_length"].notna().all() and late["domain"].eq("math").all()
    assert frame[frame["event_id"] < "e002500"]["domain"].isna().all()
    first = frame[frame["event_id"] == "e000000"]["timestamp"].iloc[0]
    assert first == pd.Timestamp("2026-03-01 00:04:30.123456", tz="UTC")  # to the microsecond


def test_selection_is_by_event_time_and_ids(store: Path) -> None:
    since = datetime.fromtimestamp(T0 + 600 * 100, UTC)
    until = datetime.fromtimestamp(T0 + 600 * 200, UTC)
    frame = load_executions(store, Selection(since=since, until=until, templates=["t1"],
                                             models=["m1"]))
    assert len(frame) > 0
    assert frame["timestamp"].min() >= pd.Timestamp(since)
    assert frame["timestamp"].max() < pd.Timestamp(until)
    assert set(frame["template_id"]) == {"t1"} and set(frame["model_id"]) == {"m1"}
    everything = load_executions(store)
    expected = everything[(everything["timestamp"] >= pd.Timestamp(since))
                          & (everything["timestamp"] < pd.Timestamp(until))
                          & (everything["template_id"] == "t1") & (everything["model_id"] == "m1")]
    assert len(frame) == len(expected)


def test_arrow_path_equals_sqlite3_path_and_in_memory_store(store: Path) -> None:
    fast = load_executions(store, columns=STATISTICS_COLUMNS)
    with SqliteStore(store, read_only=True) as db:
        slow = load_executions(db.conn, columns=STATISTICS_COLUMNS)
    pd.testing.assert_frame_equal(fast, slow)
    # The original opened a new connection per call, so ":memory:" stores were empty.
    memory = SqliteStore(":memory:")
    memory.insert_events(events(50))
    assert len(load_executions(memory.conn)) == 50
    memory.close()


@pytest.mark.parametrize("by", [("template_id", "model_id"),
                                ("template_id", "model_id", "prompt_id"), ("domain",)])
@pytest.mark.parametrize("ranged", [False, True])
def test_outcome_counts_equal_frame_counts(store: Path, by: tuple[str, ...], ranged: bool) -> None:
    # Without a time range the counts come from prompt_outcomes (kept by triggers),
    # with one from the rows themselves: both must equal counting the rows.
    since = datetime.fromtimestamp(T0 + 600 * 50, UTC) if ranged else None
    selection = Selection(since=since, templates=["t0", "t2"])
    counts = load_outcome_counts(store, selection, by=by)
    frame = load_executions(store, selection)
    expected = frame.groupby(list(by), dropna=False)["success"].agg(["size", "sum"])
    got = counts.set_index(list(by)).sort_index(na_position="last")
    assert got["n"].tolist() == expected["size"].tolist()
    assert got["successes"].tolist() == expected["sum"].tolist()


def test_missing_or_foreign_files_are_storage_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no database"):
        load_executions(tmp_path / "absent.db")
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StorageError):
        load_executions(foreign)


def test_empty_range_gives_empty_typed_frame(store: Path) -> None:
    frame = load_executions(store, Selection(since=datetime(2030, 1, 1, tzinfo=UTC)))
    assert frame.empty and list(frame.columns) == list(ANALYSIS_COLUMNS)
