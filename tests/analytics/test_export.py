"""Raw-history export: each format reads back equal to the store, in chunks, safely."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from analytics.export import COLUMNS, export_history
from analytics.load import Selection
from rev_analytics.cli.main import main
from rev_analytics.core.errors import ConfigError, StorageError
from rev_analytics.core.timefmt import micros_from_datetime
from tests.analytics.report_data import make_events, write_store

NASTY_IDS = ('<script>alert("x")</script>', "it's \"quoted\", with commas",
             "'; DROP TABLE prompt_metrics; --", "ünïcødé ✓", "../../etc/passwd")
FLOAT_COLUMNS = {"execution_time", "discrimination_score", "behavioral_score",
                 "quality_score", "cost"}
INT_COLUMNS = {"schema_version", "response_length", "difficulty_level"}


@pytest.fixture
def store(db_path: Path) -> Path:
    events = make_events(400)
    # Ids a careless exporter would break: quotes, commas, HTML, SQL, path fragments.
    nasty = [e._replace(event_id=f"nasty-{i}", template_id=name, prompt_id=name)
             for i, (e, name) in enumerate(zip(events[:5], NASTY_IDS, strict=True))]
    return write_store(db_path, events + nasty)


def store_rows(db: Path, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        cursor = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM prompt_metrics {where} ORDER BY timestamp, id",
            params)
        return [dict(zip(COLUMNS, row, strict=True)) for row in cursor]
    finally:
        conn.close()


def as_store_value(column: str, value: Any) -> Any:
    """A value read back from an export, in the store's representation."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return None
    if value == "":  # CSV: an empty cell is "not given" (no stored text is empty)
        return None
    if column in ("timestamp", "ingested_at"):
        moment = (pd.Timestamp(value) if not isinstance(value, pd.Timestamp) else value)
        assert moment.tzinfo is not None, f"{column} must carry its UTC offset"
        return micros_from_datetime(moment.to_pydatetime())
    if column == "success":
        return {"true": 1, "false": 0, True: 1, False: 0}[value]
    if column in FLOAT_COLUMNS:
        return float(value)
    if column in INT_COLUMNS:
        return int(value)
    if column == "metadata" and not isinstance(value, str):
        return value  # JSON lines nests it; compared as parsed JSON below
    return value


def assert_equal_to_store(read_back: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(read_back) == len(expected)
    for got, want in zip(read_back, expected, strict=True):
        converted = {column: as_store_value(column, got[column]) for column in COLUMNS}
        if not isinstance(converted["metadata"], str | None):
            want = {**want, "metadata": json.loads(want["metadata"])}
        assert converted == want


def test_csv_round_trips_every_value(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "history.csv"
    result = export_history(store, out, "csv")
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert result.rows == len(rows) == 405
    assert_equal_to_store(rows, store_rows(store))
    # pandas reads it too, with the nasty ids intact.
    frame = pd.read_csv(out)
    assert len(frame) == 405 and set(NASTY_IDS) <= set(frame["template_id"])


def test_jsonl_round_trips_every_value(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "history.jsonl"
    export_history(store, out, "jsonl")
    lines = out.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert_equal_to_store(rows, store_rows(store))
    assert any(isinstance(row["metadata"], dict) for row in rows)
    assert pd.read_json(out, lines=True).shape[0] == 405


def test_parquet_reads_back_equal_in_pandas_pyarrow_and_duckdb(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "history.parquet"
    export_history(store, out, "parquet", chunk_rows=64)  # several row groups
    expected = store_rows(store)
    table = pq.read_table(out)
    assert table.num_rows == 405 and str(table.schema.field("timestamp").type) == \
        "timestamp[us, tz=UTC]"
    assert pq.ParquetFile(out).metadata.num_row_groups == 7
    assert_equal_to_store(table.to_pylist(), expected)
    frame = pd.read_parquet(out)
    records = [{str(k): v for k, v in row.items()}
               for row in frame.astype(object).to_dict("records")]
    assert_equal_to_store(records, expected)
    row = duckdb.connect().execute(
        "SELECT COUNT(*), SUM(CASE WHEN success THEN 1 ELSE 0 END) FROM read_parquet(?)",
        [str(out)]).fetchone()
    assert row is not None
    count, successes = row
    assert count == 405 and successes == sum(row["success"] for row in expected)


def test_parquet_partitioned_by_date_is_one_dataset(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "by-date"
    result = export_history(store, out, "parquet", partition_by_date=True, chunk_rows=50)
    expected = store_rows(store)
    dates = [datetime.fromtimestamp(row["timestamp"] / 1e6, UTC).strftime("%Y-%m-%d")
             for row in expected]
    days = sorted(set(dates))
    assert result.partitions == len(days) >= 6
    assert sorted(p.name for p in out.iterdir()) == [f"date={day}" for day in days]

    dataset = ds.dataset(out, format="parquet", partitioning="hive")
    table = dataset.to_table().sort_by([("timestamp", "ascending"), ("event_id", "ascending")])
    assert table.num_rows == 405
    frame = pd.read_parquet(out)
    assert len(frame) == 405 and set(frame["date"].astype(str)) == set(days)
    per_day = duckdb.connect().execute(
        "SELECT date, COUNT(*) FROM read_parquet(?, hive_partitioning = true) "
        "GROUP BY date ORDER BY date", [f"{out}/*/*.parquet"]).fetchall()
    want = pd.Series(dates).value_counts().sort_index()
    assert [(str(day), n) for day, n in per_day] == list(want.items())
    # Every row sits in the folder of its own event date.
    for fragment in dataset.get_fragments():
        day = Path(fragment.path).parent.name.removeprefix("date=")
        stamps = fragment.to_table(columns=["timestamp"])["timestamp"].to_pylist()
        assert {s.strftime("%Y-%m-%d") for s in stamps} == {day}


def test_range_and_filters_select_exactly_the_stores_rows(store: Path, tmp_path: Path) -> None:
    since, until = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 18, 6, tzinfo=UTC)
    selection = Selection(since=since, until=until, templates=["tpl_good", NASTY_IDS[0]])
    out = tmp_path / "slice.jsonl"
    export_history(store, out, "jsonl", selection)
    expected = store_rows(
        store, "WHERE timestamp >= ? AND timestamp < ? AND template_id IN (?, ?)",
        (micros_from_datetime(since), micros_from_datetime(until),
         "tpl_good", NASTY_IDS[0]))
    assert 0 < len(expected) < 405
    assert_equal_to_store([json.loads(x) for x in out.read_text().splitlines()], expected)


def test_chunk_size_does_not_change_the_output(store: Path, tmp_path: Path) -> None:
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    export_history(store, whole, "csv", chunk_rows=10_000)
    seen: list[int] = []
    export_history(store, chunked, "csv", chunk_rows=7, progress=seen.append)
    assert whole.read_bytes() == chunked.read_bytes()
    assert seen == sorted(seen) and seen[-1] == 405 and len(seen) == 58


def test_empty_range_writes_a_valid_empty_export(store: Path, tmp_path: Path) -> None:
    nothing = Selection(since=datetime(2030, 1, 1, tzinfo=UTC))
    out = tmp_path / "empty.parquet"
    assert export_history(store, out, "parquet", nothing).rows == 0
    assert pq.read_table(out).num_rows == 0 and pq.read_table(out).column_names == list(COLUMNS)


def test_refuses_to_overwrite_and_leaves_nothing_behind_on_failure(
    store: Path, tmp_path: Path
) -> None:
    existing = tmp_path / "keep.csv"
    existing.write_text("precious")
    with pytest.raises(ConfigError, match="already exists"):
        export_history(store, existing, "csv")
    assert existing.read_text() == "precious"
    with pytest.raises(ConfigError, match="only available for the parquet"):
        export_history(store, tmp_path / "x.csv", "csv", partition_by_date=True)
    with pytest.raises(StorageError):
        export_history(tmp_path / "missing.db", tmp_path / "y.csv", "csv")
    left = {p.name for p in tmp_path.iterdir()}
    assert "y.csv" not in left and not any("partial" in name for name in left)


def test_cli_export(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.parquet"
    assert main(["export", "--db", str(store), "--format", "parquet", "--out", str(out),
                 "--templates", "tpl_bad,tpl_good", "--templates", "tpl_mid"]) == 0
    assert "exported" in capsys.readouterr().out
    expected = store_rows(store, "WHERE template_id IN ('tpl_bad', 'tpl_good', 'tpl_mid')")
    assert pq.read_table(out).num_rows == len(expected) > 0

    assert main(["export", "--db", str(store), "--format", "parquet", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "--db", str(store), "--format", "xml", "--out", "x"]) == 2
    assert main(["export", "--db", str(store), "--format", "csv", "--out",
                 str(tmp_path / "z.csv"), "--since", "yesterday"]) == 2
    err = capsys.readouterr().err
    assert "--since" in err and "Traceback" not in err


def test_options_read_the_environment_and_flags_win(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REV_ANALYTICS_DB", str(store))
    monkeypatch.setenv("REV_ANALYTICS_FORMAT", "parquet")
    monkeypatch.setenv("REV_ANALYTICS_TEMPLATES", "tpl_good,tpl_bad")
    assert main(["export", "--out", str(tmp_path / "env.parquet")]) == 0
    assert set(pq.read_table(tmp_path / "env.parquet")["template_id"].to_pylist()) == \
        {"tpl_good", "tpl_bad"}
    assert main(["export", "--out", str(tmp_path / "flag.parquet"), "--templates", "tpl_mid"]) == 0
    assert set(pq.read_table(tmp_path / "flag.parquet")["template_id"].to_pylist()) == {"tpl_mid"}
