"""Raw-history export: CSV, JSON, JSON lines and Parquet, streamed in chunks.

Rows come from the one store reader (:mod:`storage.reader`, either backend)
in event-time order, ``chunk_rows`` at a time, and each chunk is written
before the next is read, so memory stays flat whatever the size of the
history (10M rows never sit in memory). Output goes to a temporary sibling
first and is renamed into place only when complete: a failed or interrupted
export never leaves a truncated file that looks finished.

Formats, chosen so the values read back equal the store's:

* ``csv``: one header row, RFC 3339 UTC timestamps, ``true``/``false``, floats
  at full precision, empty cell for "not given";
* ``json``: one JSON array of objects (the design document's format), written
  element by element; ``jsonl``: one JSON object per line. Both use ``null``
  for "not given" and nest ``metadata`` as an object (it is one on the wire);
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from analytics.defaults import DEFAULT_EXPORT_CHUNK_ROWS, EXPORT_FORMATS
from rev_analytics.core.errors import ConfigError
from storage.arrow import arrow_schema
from storage.columns import COLUMNS
from storage.location import StoreLocation
from storage.reader import open_reader
from storage.selection import Selection

FORMATS = EXPORT_FORMATS
DEFAULT_CHUNK_ROWS = DEFAULT_EXPORT_CHUNK_ROWS
PARTITION_COLUMN = "date"
SCHEMA = arrow_schema(COLUMNS)

Progress = Callable[[int], None]
"""Called after each chunk with the number of rows written so far."""
Store = str | Path | StoreLocation | sqlite3.Connection


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


def count_rows(db: Store, selection: Selection | None = None) -> int:
    """How many executions ``selection`` holds (for progress bars and empty checks)."""
    with open_reader(db) as reader:
        return reader.total(selection)


def _rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_metadata(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:  # written by something other than rev-analytics: keep it verbatim
        return text


def json_objects(chunk: pa.Table) -> Iterator[dict[str, Any]]:
    """One chunk's rows as JSON-ready objects (exact floats, RFC 3339 times, nested metadata)."""
    for row in chunk.to_pylist():
        row["timestamp"] = _rfc3339(row["timestamp"])
        row["ingested_at"] = _rfc3339(row["ingested_at"])
        row["metadata"] = _json_metadata(row["metadata"])
        yield row


class _Sink:
    """Writes Arrow chunks in one format to an open output; ``close()`` finishes it."""

    partitions = 0

    def write(self, chunk: pa.Table) -> None:
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


class _JsonSink(_Sink):
    """JSON lines, or (``array``) one JSON array written element by element."""

    def __init__(self, path: Path, *, array: bool) -> None:
        self._file: IO[str] | None = path.open("w", encoding="utf-8", newline="\n")
        self._array = array
        self._first = True
        if array:
            self._file.write("[")

    def write(self, chunk: pa.Table) -> None:
        assert self._file is not None
        # allow_nan=False: the store never holds NaN; if it ever did, fail loudly rather
        # than write a line other JSON readers reject.
        texts = [json.dumps(row, ensure_ascii=False, allow_nan=False)
                 for row in json_objects(chunk)]
        if not texts:
            return
        if self._array:
            lead = "\n" if self._first else ",\n"
            self._file.write(lead + ",\n".join(texts))
        else:
            self._file.write("\n".join(texts) + "\n")
        self._first = False

    def close(self) -> None:
        if self._file is not None:
            if self._array:
                self._file.write("\n]\n" if not self._first else "]\n")
            self._file.close()
            self._file = None


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
    if fmt in ("json", "jsonl"):
        return _JsonSink(partial, array=fmt == "json")
    if partition_by_date:
        return _PartitionedParquetSink(partial)
    return _ArrowSink(pq.ParquetWriter(str(partial), SCHEMA, compression="zstd"))


def resolve_output(out: str | Path) -> Path:
    """The absolute path an export writes, refusing to overwrite anything."""
    path = Path(out).expanduser().resolve()
    if path.exists() or path.is_symlink():
        raise ConfigError(f"{path} already exists; choose a new path (exports never overwrite)")
    if not path.parent.is_dir():
        raise ConfigError(f"directory {path.parent} does not exist")
    return path


def export_history(
    db: Store,
    out: str | Path,
    fmt: str,
    selection: Selection | None = None,
    *,
    partition_by_date: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the executions in ``selection`` from the store ``db`` to ``out``.

    ``db`` is a ``--db`` value or an open SQLite connection (an in-memory
    store; the caller must not use it from another thread meanwhile). Raises
    :class:`ConfigError` for an unknown format, partitioning a format other
    than Parquet, or an ``out`` that exists; ``StorageError`` when the store
    cannot be read. An empty selection writes a valid, empty export. Rows come
    in event-time order from one read (a consumer writing meanwhile cannot
    tear the export).
    """
    _check_options(fmt, partition_by_date, chunk_rows)
    target = resolve_output(out)
    with open_reader(db) as reader:
        chunks = reader.batches(COLUMNS, selection, ordered=True, chunk_rows=chunk_rows)
        return _write_all(target, fmt, partition_by_date, chunks, progress)


def _check_options(fmt: str, partition_by_date: bool, chunk_rows: int) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if partition_by_date and fmt != "parquet":
        raise ConfigError("partitioning by date is only available for the parquet format")
    if chunk_rows < 1:
        raise ConfigError(f"chunk size must be positive, got {chunk_rows}")


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
