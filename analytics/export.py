"""Raw-history export: CSV, JSON lines and Parquet, streamed in chunks.

Rows leave SQLite in event-time order through one cursor, ``chunk_rows`` at a
time, and each chunk is written before the next is read, so memory stays flat
whatever the size of the history (10M rows never sit in memory). Output goes to
a temporary sibling first and is renamed into place only when complete: a
failed or interrupted export never leaves a truncated file that looks finished.

Formats, chosen so the values read back equal the store's:

* ``csv``: one header row, RFC 3339 UTC timestamps, ``true``/``false``, floats
  at full precision, empty cell for "not given";
* ``jsonl``: one JSON object per line, ``null`` for "not given", ``metadata`` as
  a nested object (it is a JSON object on the wire);
* ``parquet``: typed columns (UTC microsecond timestamps, booleans, nullable
  integers); with ``partition_by_date`` a Hive-style directory
  ``date=YYYY-MM-DD/part-0.parquet`` that pandas, pyarrow and DuckDB read as
  one dataset with a ``date`` column.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from analytics.defaults import DEFAULT_EXPORT_CHUNK_ROWS, EXPORT_FORMATS
from analytics.load import Selection, connect_readonly
from rev_analytics.core.errors import ConfigError
from storage.sqlite_store import TABLE

FORMATS = EXPORT_FORMATS
DEFAULT_CHUNK_ROWS = DEFAULT_EXPORT_CHUNK_ROWS
PARTITION_COLUMN = "date"

_UTC_MICROS = pa.timestamp("us", tz="UTC")

# Every stored column except the internal row id, in the store's order.
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("stream_id", pa.string()),
        ("schema_version", pa.int64()),
        ("prompt_id", pa.string()),
        ("template_id", pa.string()),
        ("model_id", pa.string()),
        ("timestamp", _UTC_MICROS),
        ("success", pa.bool_()),
        ("response_length", pa.int64()),
        ("execution_time", pa.float64()),
        ("discrimination_score", pa.float64()),
        ("behavioral_score", pa.float64()),
        ("quality_score", pa.float64()),
        ("difficulty_level", pa.int64()),
        ("domain", pa.string()),
        ("cost", pa.float64()),
        ("error_type", pa.string()),
        ("response_hash", pa.string()),
        ("metadata", pa.string()),
        ("ingested_at", _UTC_MICROS),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
_TIME_COLUMNS = frozenset({"timestamp", "ingested_at"})

Progress = Callable[[int], None]
"""Called after each chunk with the number of rows written so far."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: where, in which format, how many rows."""

    path: Path
    format: str
    rows: int
    partitions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "rows": self.rows,
                "partitions": self.partitions}


def count_rows(db_path: str | Path, selection: Selection | None = None) -> int:
    """How many executions ``selection`` holds (for progress bars and empty checks)."""
    where, params = (selection or Selection()).where()
    conn = connect_readonly(db_path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {TABLE}{where}", params).fetchone()[0])
    finally:
        conn.close()


def iter_row_chunks(
    conn: sqlite3.Connection, selection: Selection | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[list[tuple[Any, ...]]]:
    """Stored rows (columns :data:`COLUMNS`, store types) in event-time order, in chunks."""
    where, params = (selection or Selection()).where()
    cursor = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM {TABLE}{where} ORDER BY timestamp, id", params
    )
    try:
        while rows := cursor.fetchmany(chunk_rows):
            yield rows
    finally:
        cursor.close()


def rows_to_table(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """One chunk of store rows as an Arrow table with :data:`SCHEMA`."""
    arrays: list[pa.Array] = []
    for field, values in zip(SCHEMA, zip(*rows, strict=True), strict=True):
        if field.name in _TIME_COLUMNS:
            # Store text is 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: parse naive, then label UTC.
            text = pa.array(values, pa.string())
            arrays.append(pc.cast(text, pa.timestamp("us")).cast(_UTC_MICROS))
        elif field.type == pa.bool_():
            arrays.append(pc.cast(pa.array(values, pa.int64()), pa.bool_()))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _rfc3339(stored: str | None) -> str | None:
    # 'YYYY-MM-DD HH:MM:SS.ffffff' -> 'YYYY-MM-DDTHH:MM:SS.ffffffZ' without a datetime round trip.
    return None if stored is None else f"{stored[:10]}T{stored[11:]}Z"


def _json_metadata(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:  # written by something other than rev-analytics: keep it verbatim
        return text


_SUCCESS_INDEX = COLUMNS.index("success")
_METADATA_INDEX = COLUMNS.index("metadata")
_TIME_INDEXES = tuple(COLUMNS.index(name) for name in sorted(_TIME_COLUMNS))


def row_to_json_object(row: tuple[Any, ...]) -> dict[str, Any]:
    """One store row as the JSON-lines object (exact floats, RFC 3339 times)."""
    values = list(row)
    values[_SUCCESS_INDEX] = bool(values[_SUCCESS_INDEX])
    values[_METADATA_INDEX] = _json_metadata(values[_METADATA_INDEX])
    for index in _TIME_INDEXES:
        values[index] = _rfc3339(values[index])
    return dict(zip(COLUMNS, values, strict=True))


class _Sink:
    """Writes chunks in one format to an open output; ``close()`` finishes it.

    Arrow-based sinks take ``pa.Table`` chunks, the JSON-lines sink takes
    store rows (it formats values itself, to keep floats exact).
    """

    partitions = 0

    def write(self, chunk: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _ArrowSink(_Sink):
    """CSV or Parquet: an Arrow writer fed one table per chunk."""

    def __init__(self, writer: pa_csv.CSVWriter | pq.ParquetWriter) -> None:
        self._writer: pa_csv.CSVWriter | pq.ParquetWriter | None = writer

    def write(self, chunk: pa.Table) -> None:
        assert self._writer is not None
        self._writer.write_table(chunk)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _JsonLinesSink(_Sink):
    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, chunk: Sequence[tuple[Any, ...]]) -> None:
        dumps = json.dumps
        # allow_nan=False: the store never holds NaN; if it ever did, fail loudly rather
        # than write a line other JSON readers reject.
        self._file.write("".join(
            dumps(row_to_json_object(row), ensure_ascii=False, allow_nan=False) + "\n"
            for row in chunk
        ))

    def close(self) -> None:
        self._file.close()


class _PartitionedParquetSink(_Sink):
    """One file per event date; rows arrive in time order, so one writer is open at a time."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self._directory = directory
        self._date: str | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, chunk: pa.Table) -> None:
        dates = pc.strftime(chunk["timestamp"], format="%Y-%m-%d")
        for day in pc.unique(dates).to_pylist():
            part = chunk.filter(pc.equal(dates, day))
            if day != self._date:
                self._open(day)
            assert self._writer is not None
            self._writer.write_table(part)

    def _open(self, day: str) -> None:
        self.close()
        folder = self._directory / f"{PARTITION_COLUMN}={day}"
        folder.mkdir()  # a date seen twice would mean unordered input: fail, don't overwrite
        self._writer = pq.ParquetWriter(str(folder / "part-0.parquet"), SCHEMA,
                                        compression="zstd")
        self._date = day
        self.partitions += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _sink(fmt: str, partition_by_date: bool, partial: Path) -> _Sink:
    if fmt == "csv":
        return _ArrowSink(pa_csv.CSVWriter(str(partial), SCHEMA))
    if fmt == "jsonl":
        return _JsonLinesSink(partial)
    if partition_by_date:
        return _PartitionedParquetSink(partial)
    return _ArrowSink(pq.ParquetWriter(str(partial), SCHEMA, compression="zstd"))


def _sentinel_select() -> str:
    """One row with a non-NULL value of each column's type (see :func:`iter_arrow_chunks`)."""
    values = []
    for field in SCHEMA:
        if field.name in _TIME_COLUMNS:
            literal = "'1970-01-01 00:00:00.000000'"
        elif pa.types.is_string(field.type):
            literal = "''"
        elif pa.types.is_floating(field.type):
            literal = "0.0"
        else:
            literal = "0"
        values.append(f"{literal} AS {field.name}")
    return "SELECT " + ", ".join(values)


def _typed_chunk(batch: pa.RecordBatch) -> pa.Table:
    arrays = []
    for field in SCHEMA:
        column = batch.column(field.name)
        if field.name in _TIME_COLUMNS:
            column = pc.cast(column, pa.timestamp("us")).cast(_UTC_MICROS)
        arrays.append(pc.cast(column, field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def iter_arrow_chunks(
    db_path: str | Path, selection: Selection | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pa.Table]:
    """Stored rows as Arrow tables with :data:`SCHEMA`, in event-time order, in chunks.

    Reads with the ADBC SQLite driver, which fills Arrow arrays in C: about
    five times faster than building Python tuples (1M rows in ~2 s here).
    The driver infers each column's type from its first batch, so a column
    that starts with NULLs would be mistyped; a sentinel row with one value of
    every column's type goes first and is dropped. ``LIMIT -1`` keeps SQLite
    from discarding the ORDER BY of the subquery.
    """
    where, params = (selection or Selection()).where()
    connect_readonly(db_path).close()  # a clear StorageError for a missing or foreign file
    query = (f"{_sentinel_select()} UNION ALL SELECT * FROM ("
             f"SELECT {', '.join(COLUMNS)} FROM {TABLE}{where} ORDER BY timestamp, id LIMIT -1)")
    uri = Path(db_path).resolve().as_uri() + "?mode=ro"
    with adbc_sqlite.connect(uri) as conn, conn.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(chunk_rows)})
        cursor.execute(query, params)
        first = True
        for batch in cursor.fetch_record_batch():
            if first:
                batch, first = batch.slice(1), False
            if batch.num_rows:
                yield _typed_chunk(batch)


def resolve_output(out: str | Path) -> Path:
    """The absolute path an export writes, refusing to overwrite anything."""
    path = Path(out).expanduser().resolve()
    if path.exists() or path.is_symlink():
        raise ConfigError(f"{path} already exists; choose a new path (exports never overwrite)")
    if not path.parent.is_dir():
        raise ConfigError(f"directory {path.parent} does not exist")
    return path


def export_history(
    db_path: str | Path,
    out: str | Path,
    fmt: str,
    selection: Selection | None = None,
    *,
    partition_by_date: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the executions in ``selection`` from the store at ``db_path`` to ``out``.

    Raises :class:`ConfigError` for an unknown format, partitioning a format
    other than Parquet, or an ``out`` that exists; ``StorageError`` when the
    store cannot be read. An empty selection writes a valid, empty export.
    Rows come in event-time order from one read transaction (a consumer
    writing meanwhile cannot tear the export).
    """
    _check_options(fmt, partition_by_date, chunk_rows)
    target = resolve_output(out)
    if fmt != "jsonl":
        chunks = iter_arrow_chunks(db_path, selection, chunk_rows)
        return _write_all(target, fmt, partition_by_date, chunks, progress)
    conn = connect_readonly(db_path)
    try:
        return _write_all(target, fmt, False, iter_row_chunks(conn, selection, chunk_rows),
                          progress)
    finally:
        conn.close()


def _check_options(fmt: str, partition_by_date: bool, chunk_rows: int) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if partition_by_date and fmt != "parquet":
        raise ConfigError("partitioning by date is only available for the parquet format")
    if chunk_rows < 1:
        raise ConfigError(f"chunk size must be positive, got {chunk_rows}")


def export_from_connection(
    conn: sqlite3.Connection,
    out: str | Path,
    fmt: str,
    selection: Selection | None = None,
    *,
    partition_by_date: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
) -> ExportResult:
    """Like :func:`export_history`, reading through an open connection to a store.

    For callers that own a connection (e.g. an in-memory store); slower than
    the file path's Arrow reader, fine for the sizes such stores hold. The
    caller keeps the connection and must not use it from another thread meanwhile.
    """
    _check_options(fmt, partition_by_date, chunk_rows)
    target = resolve_output(out)
    own_transaction = not conn.in_transaction
    if own_transaction:
        conn.execute("BEGIN")  # one snapshot for the whole export
    try:
        rows = iter_row_chunks(conn, selection, chunk_rows)
        chunks = rows if fmt == "jsonl" else (rows_to_table(chunk) for chunk in rows)
        return _write_all(target, fmt, partition_by_date, chunks, progress)
    finally:
        if own_transaction and conn.in_transaction:
            conn.rollback()  # read-only: just ends the snapshot


def _write_all(target: Path, fmt: str, partition_by_date: bool, chunks: Iterator[Any],
               progress: Progress | None) -> ExportResult:
    """Write ``chunks`` to a temporary sibling of ``target``, then rename it into place."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    sink = _sink(fmt, partition_by_date, partial)
    written = 0
    try:
        for chunk in chunks:
            sink.write(chunk)
            written += len(chunk)
            if progress is not None:
                progress(written)
        sink.close()
        os.replace(partial, target)
    except BaseException:
        sink.close()
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        raise
    return ExportResult(path=target, format=fmt, rows=written, partitions=sink.partitions)
