"""Reading a PostgreSQL store for the batch jobs: rows through ADBC into Arrow.

The same questions as the SQLite reader, the same SQL (:mod:`storage.query`),
the same Arrow schema out (:func:`storage.reader.typed`), so every batch
command gives the same answer on the same rows in either store. Rows travel
through ADBC's PostgreSQL driver (the server's binary COPY format into Arrow
arrays in C); the small answers (counts per group, totals) through psycopg.
PostgreSQL reports every column's type, so no sentinel row is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from rev_analytics.core.errors import StorageError
from rev_analytics.core.urls import redact_url
from storage import query
from storage.columns import COLUMNS
from storage.postgres.schema import LATEST_VERSION, current_version
from storage.postgres.store import connect
from storage.reader import DEFAULT_CHUNK_ROWS, ArrowReader, typed
from storage.selection import Selection


class PostgresReader(ArrowReader):
    """Reads a PostgreSQL store (its URL is a ``--db`` value)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        try:
            self._conn = connect(url)
        except psycopg.OperationalError as exc:
            raise StorageError(f"cannot connect to {redact_url(url)}: {exc}") from exc
        version = current_version(self._conn)
        if version == 0:
            self._conn.close()
            raise StorageError(f"{redact_url(url)} is not a rev-analytics database")
        if version > LATEST_VERSION:
            self._conn.close()
            raise StorageError(
                f"{redact_url(url)} has schema version {version}, newer than this "
                f"rev-analytics understands ({LATEST_VERSION}); upgrade rev-analytics")

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def outcome_counts(self, by: Sequence[str],
                       selection: Selection | None = None) -> list[tuple[Any, ...]]:
        """Groups in SQLite's order (the query sorts them: :func:`storage.query.outcome_counts`)."""
        return self._fetch(*query.outcome_counts(by, selection, query.POSTGRES))

    def total(self, selection: Selection | None = None) -> int:
        return int(self._fetch(*query.total(selection, query.POSTGRES))[0][0])

    def batches(self, columns: Sequence[str] = COLUMNS, selection: Selection | None = None,
                *, ordered: bool = True, chunk_rows: int = DEFAULT_CHUNK_ROWS
                ) -> Iterator[pa.Table]:
        import adbc_driver_postgresql.dbapi as adbc

        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
        sql, params = query.rows(columns, selection, query.POSTGRES_NUMBERED, ordered=ordered)
        with adbc.connect(self.url) as conn, conn.cursor() as cursor:
            # Rows in heap (arrival) order, as SQLite gives them: a scan joining
            # another one midway through a large table would start in the middle.
            cursor.execute("SET synchronize_seqscans = off")
            cursor.execute(sql, params or None)
            for batch in cursor.fetch_record_batch():
                for start in range(0, batch.num_rows, chunk_rows):
                    yield typed(batch.slice(start, chunk_rows), columns)

    def close(self) -> None:
        self._conn.close()
