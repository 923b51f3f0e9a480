"""The one reader of the store: what every batch command loads, as Arrow.

:func:`open_reader` takes a ``--db`` value (or an open SQLite connection, for
an in-memory store) and returns a :class:`StoreReader`. It answers three
kinds of question, each as one SQL statement from :mod:`storage.query`:

* rows of a selection, as Arrow tables typed by :func:`storage.columns.arrow_schema`
  (whole, or streamed in chunks in event-time order for exports);
* executions and successes per group (A/B tests, model comparisons, planning);
* how many executions a selection holds.

Speed (1M rows): rows travel from SQLite into Arrow arrays in C through the
ADBC SQLite driver, never as one Python object per value. That driver infers
each column's type from the first batch, so a column that starts with NULLs
would be mistyped; a sentinel row holding one value of every column's type
goes first and is dropped.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import pyarrow as pa
import pyarrow.compute as pc

from rev_analytics.core.errors import StorageError
from rev_analytics.core.fields import Kind
from storage import query
from storage.arrow import arrow_schema
from storage.base import Closing
from storage.columns import COLUMNS, STORED, TABLE
from storage.location import StoreLocation, parse_location
from storage.selection import Selection
from storage.sqlite.schema import OUTCOMES_CURRENT

DEFAULT_CHUNK_ROWS = 50_000
log = logging.getLogger(__name__)


class StoreReader(Protocol):
    """Read access to one store (either backend)."""

    def table(self, columns: Sequence[str] = COLUMNS,
              selection: Selection | None = None) -> pa.Table:
        """The ``columns`` of every execution in ``selection`` (in store order)."""

    def batches(self, columns: Sequence[str] = COLUMNS, selection: Selection | None = None,
                *, ordered: bool = True, chunk_rows: int = DEFAULT_CHUNK_ROWS
                ) -> Iterator[pa.Table]:
        """The same rows in chunks of at most ``chunk_rows``; ``ordered`` by event time."""

    def outcome_counts(self, by: Sequence[str],
                       selection: Selection | None = None) -> list[tuple[Any, ...]]:
        """``(*by values, executions, successes)`` per group of ``by``."""

    def total(self, selection: Selection | None = None) -> int:
        """How many executions ``selection`` holds."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


def typed(table: pa.Table | pa.RecordBatch, columns: Sequence[str]) -> pa.Table:
    """``table`` with every column cast to its stored Arrow type (integers -> times, bools)."""
    schema = arrow_schema(tuple(columns))
    arrays = []
    for field in schema:
        values = table.column(field.name)
        if STORED[field.name].kind is Kind.TIME and not pa.types.is_timestamp(values.type):
            values = pc.cast(pc.cast(values, pa.int64()), pa.timestamp("us")).cast(field.type)
        arrays.append(pc.cast(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _sentinel(columns: Sequence[str]) -> str:
    """One row with a non-NULL value of each column's SQLite type."""
    values = []
    for name in columns:
        kind = STORED[name].kind
        literal = {Kind.FLOAT: "0.0", Kind.INT: "0", Kind.BOOL: "0", Kind.TIME: "0"}.get(kind, "''")
        values.append(f"{literal} AS {name}")
    return "SELECT " + ", ".join(values)


class ArrowReader(Closing):
    """What both backends' readers share: the whole table from their batches."""

    def batches(self, columns: Sequence[str] = COLUMNS, selection: Selection | None = None,
                *, ordered: bool = True, chunk_rows: int = DEFAULT_CHUNK_ROWS
                ) -> Iterator[pa.Table]:
        raise NotImplementedError

    def table(self, columns: Sequence[str] = COLUMNS,
              selection: Selection | None = None) -> pa.Table:
        chunks = list(self.batches(columns, selection, ordered=False, chunk_rows=2**30))
        if not chunks:
            return arrow_schema(tuple(columns)).empty_table()
        return pa.concat_tables(chunks)


class SqliteReader(ArrowReader):
    """Reads a SQLite store: a file through ADBC, or an open connection (``:memory:``)."""

    def __init__(self, path: Path | None = None, conn: sqlite3.Connection | None = None) -> None:
        self.path = path
        self._conn = conn
        self._own_conn = conn is None
        if conn is None:
            assert path is not None
            self._conn = _connect_readonly(path)

    # -- small results: sqlite3 --------------------------------------------------------
    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        return self._conn.execute(sql, params).fetchall()

    def outcome_counts(self, by: Sequence[str],
                       selection: Selection | None = None) -> list[tuple[Any, ...]]:
        current = bool(self._fetch(OUTCOMES_CURRENT, [])[0][0])
        return self._fetch(*query.outcome_counts(by, selection, query.SQLITE,
                                                 outcomes_current=current))

    def total(self, selection: Selection | None = None) -> int:
        return int(self._fetch(*query.total(selection, query.SQLITE))[0][0])

    # -- rows: Arrow ---------------------------------------------------------------------
    def batches(self, columns: Sequence[str] = COLUMNS, selection: Selection | None = None,
                *, ordered: bool = True, chunk_rows: int = DEFAULT_CHUNK_ROWS
                ) -> Iterator[pa.Table]:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
        sql, params = query.rows(columns, selection, query.SQLITE, ordered=ordered)
        if self.path is None:
            yield from self._batches_from_connection(sql, params, columns, chunk_rows)
        else:
            yield from self._batches_from_adbc(sql, params, columns, chunk_rows)

    def _batches_from_adbc(self, sql: str, params: list[Any], columns: Sequence[str],
                           chunk_rows: int) -> Iterator[pa.Table]:
        import adbc_driver_sqlite.dbapi as adbc

        assert self.path is not None
        # LIMIT -1 keeps SQLite from discarding the ORDER BY of the subquery.
        statement = f"{_sentinel(columns)} UNION ALL SELECT * FROM ({sql} LIMIT -1)"
        uri = self.path.resolve().as_uri() + "?mode=ro"
        with adbc.connect(uri) as conn, conn.cursor() as cursor:
            cursor.adbc_statement.set_options(
                **{"adbc.sqlite.query.batch_rows": str(chunk_rows)})
            cursor.execute(statement, params or None)
            first = True
            for batch in cursor.fetch_record_batch():
                if first:
                    batch, first = batch.slice(1), False
                if batch.num_rows:
                    yield typed(batch, columns)

    def _batches_from_connection(self, sql: str, params: list[Any], columns: Sequence[str],
                                 chunk_rows: int) -> Iterator[pa.Table]:
        assert self._conn is not None
        schema = arrow_schema(tuple(columns))
        cursor = self._conn.execute(sql, params)
        try:
            while rows := cursor.fetchmany(chunk_rows):
                arrays = []
                for field, values in zip(schema, zip(*rows, strict=True), strict=True):
                    kind = STORED[field.name].kind
                    if kind in (Kind.TIME, Kind.BOOL):
                        arrays.append(pa.array(values, pa.int64()))
                    else:
                        arrays.append(pa.array(values, field.type))
                yield typed(pa.Table.from_arrays(arrays, names=list(columns)), columns)
        finally:
            cursor.close()

    def close(self) -> None:
        if self._own_conn and self._conn is not None:
            self._conn.close()
            self._conn = None


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing store (never creates a file).

    A store written by an older release is upgraded first (a one-time write,
    logged), as every open does: the contract's columns stay, their types move on.
    """
    from storage.sqlite.schema import LATEST_VERSION

    if not path.exists():
        raise StorageError(f"no database at {path}")
    for attempt in range(2):
        try:
            conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True,
                                   check_same_thread=False)
            conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1")
            version = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{path} is not a rev-analytics database: {exc}") from exc
        if version > LATEST_VERSION:
            conn.close()
            raise StorageError(
                f"{path} has schema version {version}, newer than this rev-analytics "
                f"understands ({LATEST_VERSION}); upgrade rev-analytics")
        if version == LATEST_VERSION or attempt:
            return conn
        conn.close()
        log.warning("upgrading %s from schema version %d to %d (once)", path, version,
                    LATEST_VERSION)
        from storage.sqlite.store import SqliteStore

        SqliteStore(path).close()
    raise AssertionError("unreachable")


def open_reader(db: str | Path | StoreLocation | sqlite3.Connection) -> StoreReader:
    """A reader of the store ``db`` names (a ``--db`` value, or an open SQLite connection)."""
    if isinstance(db, sqlite3.Connection):
        return SqliteReader(conn=db)
    location = db if isinstance(db, StoreLocation) else parse_location(db)
    if location.is_sqlite:
        if location.target == ":memory:":
            raise StorageError("an in-memory store can only be read through its own connection")
        return SqliteReader(Path(location.target))
    from storage.postgres import require

    require("psycopg", "adbc_driver_postgresql")
    from storage.postgres.reader import PostgresReader

    return PostgresReader(location.target)
